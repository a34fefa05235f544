"""The `livr` console script.

Each sub-command lives in its own module under `livr.cli` and exposes
`register(subparsers)`, which adds its parser and sets `func` to a callable taking the parsed
arguments. This file only collects them and turns `LivrError` into a clean one-paragraph
message with exit status 2, and a write that ran out of room (a full disk, a quota, a file-size
limit: `livr.io.NO_SPACE`) into one line naming the path and the cause, with exit status 1.

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
from livr.io import NO_SPACE
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


def _lock_outputs(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    if os.environ.get("RANK", "0") != "0":
        return  # a distributed run: rank 0 holds the locks for all ranks
    for attr, flag in OUTPUT_OPTIONS:
        value = getattr(args, attr, None)
        if isinstance(value, (str, os.PathLike)) and str(value):
            stack.enter_context(output_lock(value, what=flag))
    also = getattr(args, "also_writes", None)  # a file written beside --out (report's FILE.json)
    for path in (also(args) if also else ()):
        stack.enter_context(output_lock(path, what="--out"))


def _no_space(err: BaseException) -> OSError | None:
    """The out-of-room OSError behind `err` (itself, its cause or its context), preferring one
    that names a path; None when there is none."""
    found = []
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in NO_SPACE:
            found.append(err)
        err = err.__cause__ or err.__context__
    named = [e for e in found if e.filename]
    return (named or found or [None])[0]


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
        full = _no_space(err)
        if full is None:
            raise
        where = full.filename or "an output"
        print(f"livr {args.command}: error: cannot write {where}: {os.strerror(full.errno)} (the disk is "
              "full or a file-size limit was reached); nothing incomplete was published under that name. "
              "Free some space and run the same command again", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"livr {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
