"""The `livr` console script.

Each sub-command lives in its own module under `livr.cli` and exposes
`register(subparsers)`, which adds its parser and sets `func` to a callable taking the parsed
arguments. This file only collects them and turns `LivrError` into a clean one-paragraph
message with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from livr.errors import LivrError

# Modules that provide sub-commands. A module listed here that is missing is a packaging bug.
COMMAND_MODULES = (
    "livr.cli.smoke",
    "livr.cli.demo",
    "livr.cli.data",
    "livr.cli.train",
    "livr.cli.grpo",
    "livr.cli.pretrain",
    "livr.cli.evaluate",
    "livr.cli.report",
    "livr.cli.viz",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livr",
        description="Latent Implicit Visual Reasoning: train, evaluate and analyse latent-token VLMs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except LivrError as err:
        print(f"livr {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"livr {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
