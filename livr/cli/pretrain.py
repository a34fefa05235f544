"""`livr pretrain-base`: pretrain the shipped base model livr-tiny from random init, on CPU.

    livr pretrain-base --out pretrain/livr-tiny                 # about 40 minutes on one core
    livr pretrain-base --out pretrain/livr-tiny --resume        # continue after an interruption
    livr pretrain-base --out pretrain/livr-tiny --install       # ... then copy it into the package

The recipe (sizes, curriculum, schedule) is `livr.pretrain.train.PretrainConfig`; every field is
a flag. Progress (loss and held-out accuracy per level) goes to OUT/progress.jsonl, the cost and
final figures to OUT/report.json, the model to OUT/model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys


def register(subparsers) -> None:
    from livr.pretrain.config import PretrainConfig

    parser = subparsers.add_parser("pretrain-base", help="pretrain the shipped tiny base model (livr-tiny)",
                                   description=__doc__.split("\n\n", 1)[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (checkpoints, progress, model)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--install", action="store_true",
                        help="copy the finished model into the package: livr/assets/livr-tiny (what load_backbone('livr-tiny') "
                             "loads), or livr/assets/livr-tiny-qwen3 for --family qwen3_vl")
    for f in dataclasses.fields(PretrainConfig):
        if f.name == "out":
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kind = type(default)
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=argparse.SUPPRESS,
                            type=json.loads if kind is list else kind, metavar=kind.__name__.upper(),
                            help=f"default {json.dumps(default)}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from livr.pretrain.train import PretrainConfig, install, pretrain

    fields = {f.name for f in dataclasses.fields(PretrainConfig)}
    config = PretrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    report = pretrain(config, resume=args.resume, log=lambda text: print(text, file=sys.stderr, flush=True))
    levels = ", ".join(f"level {k} {100 * v:.1f}%" for k, v in report["final"]["levels"].items())
    print(f"pretrained {report['parameters'] / 1e6:.1f}M parameters for {report['steps']} steps; held-out "
          f"exact match: {levels}; model in {args.out}/model", file=sys.stderr)
    if args.install:
        target = install(args.out)
        print(f"installed as {target.name} in {target}", file=sys.stderr)
    return 0
