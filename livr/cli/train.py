"""`livr train`: train a backbone with LIVR, Direct SFT or one of the paper's ablations.

    livr train configs/qwen2_5_vl_3b/livr.yaml --tasks jigsaw --data data/jigsaw --out runs/jigsaw-livr
    livr train --model tiny:qwen2_5_vl --method livr --data DIR --out RUN --seed 42
    livr train --resume --out RUN                 # continue an interrupted run with its own config
    livr export RUN --merge --out DIR             # standalone model folder, loadable by plain transformers
    accelerate launch -m livr.cli.main train CONFIG.yaml ...     # several processes (DDP, FSDP ...)

Every field of `LivrTrainingConfig` is a flag (`--num_latents 4` or `--num-latents 4`); flags
override the YAML file. The config, the output folder and the data folder are all checked before
any training starts.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import typing
from pathlib import Path


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


def run(args: argparse.Namespace) -> int:
    from livr.runs.config import FIELDS, load_config
    from livr.training.run import CONFIG_FILE, train

    overrides = {name: getattr(args, name) for name in FIELDS if hasattr(args, name)}
    config_path = args.config
    if config_path is None and args.resume and overrides.get("output_dir"):
        saved = Path(overrides["output_dir"]) / CONFIG_FILE
        if saved.is_file():
            config_path = saved  # `livr train --resume --out RUN`: the run's own config
    config = load_config(config_path, overrides)
    if args.print_config:
        print(config.resolved().to_yaml(), end="")
        return 0
    command = shlex.join(["livr", *sys.argv[1:]]) if sys.argv and sys.argv[0] else None
    train(config, resume=args.resume, overwrite=args.overwrite, command=command)
    return 0
