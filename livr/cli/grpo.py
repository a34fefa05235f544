"""`livr grpo`: GRPO after a finished supervised run (GRPO_latent for an LVR run).

    livr grpo --init-from runs/counting-lvr --out runs/counting-lvr-grpo
    livr grpo configs/grpo/qwen2_5_vl_3b_lvr_steps_8.yaml --init-from RUN --out OUT
    livr grpo --init-from RUN --out OUT      # again after an interruption: resumes from its last save

Every field of `GrpoConfig` is a flag (`--grpo_beta 0.04` or `--grpo-beta 0.04`); flags override
the YAML file.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing


def register(subparsers) -> None:
    from livr.training.grpo_run import GrpoConfig

    parser = subparsers.add_parser("grpo", help="GRPO after a supervised run (LVR: GRPO_latent)",
                                   description=__doc__.split("\n\n", 1)[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=None, help="YAML file of GrpoConfig fields (optional)")
    parser.add_argument("--out", dest="output_dir", default=argparse.SUPPRESS, help="the GRPO run folder")
    hints = typing.get_type_hints(GrpoConfig)
    for f in dataclasses.fields(GrpoConfig):
        if f.name == "output_dir":
            continue
        kind = hints[f.name]
        convert = next((t for t in (int, float, str) if t is kind or t in typing.get_args(kind)), str)
        flags = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        parser.add_argument(*flags, dest=f.name, type=convert, default=argparse.SUPPRESS, help=f.metadata["help"])
    parser.set_defaults(func=run)


def run(args) -> int:
    from livr.training.grpo_run import GrpoConfig, load_grpo_config, run_grpo

    known = {f.name for f in dataclasses.fields(GrpoConfig)}
    config = load_grpo_config(args.config, {k: v for k, v in vars(args).items() if k in known})
    metrics = run_grpo(config)
    last = next((h for h in reversed(metrics["history"]) if "reward_mean" in h), {})
    print(f"finished {metrics['method']} from {metrics['init_from']}: {metrics['steps_done']} step(s), "
          f"last reward mean {last.get('reward_mean', float('nan')):.3f}")
    return 0
