"""`livr train`: train a backbone with LIVR, Direct SFT or one of the paper's ablations.

    livr train configs/qwen2_5_vl_3b/livr.yaml --tasks jigsaw --data data/jigsaw --out runs/jigsaw-livr
    livr train --model tiny:qwen2_5_vl --method livr --data DIR --out RUN --seed 42
    livr train --resume --out RUN                 # continue an interrupted run with its own config
    livr train --method grpo --init_from RUN --out OUT --grpo_steps 200   # GRPO after a finished run
    livr export RUN --merge --out DIR             # standalone model folder, loadable by plain transformers
    accelerate launch -m livr.cli.main train CONFIG.yaml ...     # several processes (DDP, FSDP ...)

Every field of `LivrTrainingConfig` is a flag (`--num_latents 4` or `--num-latents 4`); flags
override the YAML file. The config, the output folder and the data folder are all checked before
any training starts. `--method grpo` (docs/grpo.md) takes `GrpoConfig`'s fields instead: it
continues the finished run `--init_from` and gives the result of `livr grpo` with the same fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import typing
from pathlib import Path

from livr.errors import ConfigError


def register(subparsers) -> None:
    from livr.runs.config import _HINTS, FIELDS, _base_type

    parser = subparsers.add_parser(
        "train",
        help="train with LIVR, Direct SFT or an ablation (YAML config and/or flags)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", default=None, help="YAML config file (optional)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint (a missing folder "
                             "starts a new run); without a config file the run's own config is used")
    parser.add_argument("--overwrite", action="store_true", help="delete an existing --out folder first")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config (method defaults filled in) and exit")
    fields = parser.add_argument_group("config fields (override the YAML file)")
    for name, f in FIELDS.items():
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        if name == "output_dir":
            flags.insert(0, "--out")
        hint, _ = _base_type(_HINTS[name])
        kwargs = dict(dest=name, default=argparse.SUPPRESS, help=f.metadata["help"])
        if hint is bool:
            kwargs.update(nargs="?", const="true", metavar="BOOL")
        elif typing.get_origin(hint) is list:
            kwargs.update(metavar="A,B")
        elif typing.get_origin(hint) is dict:
            kwargs.update(metavar="YAML")
        else:
            kwargs.update(metavar={str: "TEXT", int: "INT", float: "FLOAT"}.get(hint, "VALUE"))
        fields.add_argument(*flags, **kwargs)
    _grpo_arguments(parser)
    parser.set_defaults(func=run)

    export = subparsers.add_parser(
        "export",
        help="a finished run as a standalone Hugging Face model folder (LoRA merged)",
        description="Merge a finished run's LoRA weights and latent rows into the backbone and write a "
                    "model folder that plain transformers loads: the tokenizer keeps the latent tokens "
                    "and the chat template appends them to the prompt as in training.\n\n"
                    "    livr export runs/jigsaw-livr --merge --out exported/jigsaw-livr",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("run", help="finished run folder (has metrics.json)")
    export.add_argument("--merge", action="store_true", help="merge LoRA into the weights (required)")
    export.add_argument("--out", required=True, help="model folder to write")
    export.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from livr.training.export import export_run

    out = export_run(args.run, args.out, merge=args.merge, overwrite=args.overwrite)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _grpo_arguments(parser: argparse.ArgumentParser) -> None:
    """The GrpoConfig fields that LivrTrainingConfig lacks, as flags (method grpo only); the shared
    ones (data, output_dir, learning_rate, seed, max_validation_examples) are the flags above, with
    GrpoConfig's defaults under method grpo."""
    from livr.runs.config import FIELDS
    from livr.training.grpo_run import GrpoConfig

    group = parser.add_argument_group(
        "method grpo (GrpoConfig fields; also --data, --out, --learning_rate, --seed and "
        "--max_validation_examples, with GRPO's defaults; docs/grpo.md)")
    for f in dataclasses.fields(GrpoConfig):
        if f.name in FIELDS:
            continue
        flags = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        group.add_argument(*flags, dest=f.name, default=argparse.SUPPRESS, metavar="VALUE", help=f.metadata["help"])


def _values(args: argparse.Namespace, names) -> dict:
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def _method(config_path, overrides: dict) -> str:
    """The method asked for: the flag, else the YAML file's, else the config's default."""
    from livr.runs.config import FIELDS, read_yaml

    if "method" in overrides:
        return str(overrides["method"])
    if config_path is not None:
        return str(read_yaml(config_path).get("method", FIELDS["method"].default))
    return FIELDS["method"].default


def run(args: argparse.Namespace) -> int:
    from livr.methods import METHODS

    method = METHODS.get(_method(args.config, vars(args)))
    return RUNNERS[method.training if method else "supervised"](args)  # an unknown method: the config names it


def run_grpo_method(args: argparse.Namespace) -> int:
    """`--method grpo`: the GrpoConfig of the YAML file and the flags, run by
    `livr.training.grpo_run.train_grpo` (the runner of `livr grpo`, with --resume / --overwrite)."""
    import yaml

    from livr.runs.config import FIELDS
    from livr.training.grpo_run import METHOD, GrpoConfig, load_grpo_config, train_grpo

    grpo_fields = {f.name for f in dataclasses.fields(GrpoConfig)}
    given = _values(args, set(FIELDS) | grpo_fields)
    others = sorted(set(given) - grpo_fields - {"method"})
    if others:
        raise ConfigError(f"method {METHOD} takes GrpoConfig's fields; {', '.join('--' + n for n in others)} "
                          f"{'is' if len(others) == 1 else 'are'} not among them (the model, its latents and "
                          "its method come from --init_from; docs/grpo.md lists the fields)")
    config = load_grpo_config(args.config, given)
    if args.print_config:
        print(yaml.safe_dump({"method": METHOD, **dataclasses.asdict(config)}, sort_keys=False), end="")
        return 0
    metrics = train_grpo(config, resume=args.resume, overwrite=args.overwrite)
    last = next((h for h in reversed(metrics["history"]) if "reward_mean" in h), {})
    print(f"finished {metrics['method']} from {metrics['init_from']}: {metrics['steps_done']} step(s), "
          f"last reward mean {last.get('reward_mean', float('nan')):.3f}; run folder {config.output_dir}",
          file=sys.stderr)
    return 0


def run_supervised(args: argparse.Namespace) -> int:
    from livr.runs.config import FIELDS, load_config
    from livr.training.grpo_run import CONFIG_MARKER, GrpoConfig
    from livr.training.run import CONFIG_FILE, train

    grpo_only = [f"--{f.name}" for f in dataclasses.fields(GrpoConfig)
                 if f.name not in FIELDS and hasattr(args, f.name)]
    if grpo_only:
        raise ConfigError(f"{', '.join(grpo_only)}: field(s) of method grpo only; add --method grpo (GRPO after "
                          "a finished run, docs/grpo.md) or remove them")
    overrides = {name: getattr(args, name) for name in FIELDS if hasattr(args, name)}
    config_path = args.config
    if config_path is None and args.resume and overrides.get("output_dir"):
        saved = Path(overrides["output_dir"]) / CONFIG_FILE
        if saved.is_file():
            config_path = saved  # `livr train --resume --out RUN`: the run's own config
        elif (Path(overrides["output_dir"]) / CONFIG_MARKER).is_file():
            raise ConfigError(f"{overrides['output_dir']} is a GRPO run: resume it with its own command and "
                              "--resume (livr train --method grpo --init_from RUN ... --resume --out OUT)")
    config = load_config(config_path, overrides)
    if args.print_config:
        print(config.resolved().to_yaml(), end="")
        return 0
    command = shlex.join(["livr", *sys.argv[1:]]) if sys.argv and sys.argv[0] else None
    train(config, resume=args.resume, overwrite=args.overwrite, command=command)
    return 0


# How each kind of method trains (livr.methods.base.TRAININGS): supervised stages, or GRPO.
RUNNERS = {"supervised": run_supervised, "grpo": run_grpo_method}
