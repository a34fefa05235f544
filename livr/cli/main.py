"""The `livr` console script.

Each sub-command lives in its own module under `livr.cli` and exposes
`register(subparsers)`, which adds its parser and sets `func` to a callable taking the parsed
arguments. This file only collects them and turns `LivrError` into a clean one-paragraph
message with exit status 2, and a write that ran out of room (a full disk, a quota, a file-size
limit: `livr.cli.full_disk`) into one line naming the path and the cause, with exit status 1.

Every output a sub-command names (`--out`, `--out-data`) is locked here for the whole command
(`livr.locks`): a second writer of the same path is refused before it touches anything. A
sub-command that writes a file beside its `--out` names it with `set_defaults(also_writes=...)`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from livr.errors import LivrError
from livr.cli.full_disk import out_of_room
from livr.locks import output_lock

# Modules that provide sub-commands. A module listed here that is missing is a packaging bug.
COMMAND_MODULES = (
    "livr.cli.smoke",
    "livr.cli.demo",
    "livr.cli.data",
    "livr.cli.train",
    "livr.cli.grpo",
    "livr.cli.pretrain",
    "livr.cli.evaluate",
    "livr.cli.predict",
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


# The attributes that name what a sub-command writes (`output_dir` is `livr train --out`).
OUTPUT_OPTIONS = (("out", "--out"), ("output_dir", "--out"), ("out_data", "--out-data"))


def _outputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(path, flag) of everything the sub-command writes."""
    found = [(str(value), flag) for attr, flag in OUTPUT_OPTIONS
             if isinstance(value := getattr(args, attr, None), (str, os.PathLike)) and str(value)]
    also = getattr(args, "also_writes", None)  # a file written beside --out (report's FILE.json)
    return found + [(str(path), "--out") for path in (also(args) if also else ())]


def _lock_outputs(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    if os.environ.get("RANK", "0") != "0":
        return  # a distributed run: rank 0 holds the locks for all ranks
    for path, flag in _outputs(args):
        stack.enter_context(output_lock(path, what=flag))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with contextlib.ExitStack() as stack:
            _lock_outputs(args, stack)
            result = args.func(args)
    except LivrError as err:
        print(f"livr {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        full = out_of_room(err, [path for path, _ in _outputs(args)])
        if full is None:
            raise
        again = " with --resume" if args.command == "train" else ""
        print(f"livr {args.command}: error: cannot write {full.filename or 'an output'}: "
              f"{os.strerror(full.errno)} (the disk is full or a file-size limit was reached). Free some "
              f"space and run the command again{again}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"livr {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
