"""Real-source builders: `livr data build --task TASK --source PATH --out DIR`.

Each builder parses one official dataset layout, applies the paper's filters and splits
(Appendix A) and returns `{split: [record, ...]}` in the schema of `livr.data.schema`; the CLI
then writes the three splits with `livr.data.writer.write_dataset`.

| task                      | --source (official layout)      | test split                   |
|---------------------------|---------------------------------|------------------------------|
| counting                  | PixMo-Count hub copy + images   | PixMo-Count test             |
| jigsaw                    | COCO 2017 images                | BLINK Jigsaw val             |
| localization              | COCO 2017 + instances json      | BLINK Object_Localization val |
| visual_correspondence     | HPatches sequences              | held-out HPatches            |
| art_style                 | ArtBench-10 ImageFolder         | BLINK Art_Style val          |
| semantic_correspondence   | SPair-71k                       | BLINK Semantic_Correspondence |
| functional_correspondence | FunKPoint (generic annotations) | held-out FunKPoint           |
| relative_reflectance      | MID scenes with albedo          | BLINK Relative_Reflectance   |
| visual_similarity         | NIGHTS (DreamSim)               | BLINK Visual_Similarity      |
| visual_cot (LVR's data)   | Visual-CoT json + cot/ images   | held-out Visual-CoT images   |
| vsp (Mirage's data)       | Mirage's VSP jsonl + images     | its test.jsonl               |

Each module's docstring gives its exact expected layout.

Options (`add_arguments`): `--task`, `--source`, `--out`, `--images DIR` (PixMo-Count images,
default `<source>/images`), `--blink PATH|hub` (required for the BLINK-tested tasks: a local
copy of the hub repository BLINK-Benchmark/BLINK, or `hub` to load it online), `--train N`,
`--val N`, `--test N` (defaults: the paper's sizes; `--test` only where the test split is built
from the source), `--seed`, `--overwrite`. vsp reads a local copy of Mirage's released VSP data
(`livr.data.build.mirage_vsp`; `livr data synth --task vsp` generates maps instead).

De-duplication of train/validation against the test images is a separate step
(`livr data dedup`). What a build skipped (dead images, filtered instances, short pools) is
printed after the build.

Programmatic use: `build_task(task, source, sizes, seed)`, `load_blink(task, source)`,
`load_pixmo_count_test(source, images)`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from livr.data.build.blink import load_blink
from livr.data.build.common import Report, as_feature_image
from livr.data.build.pixmo_count import load_pixmo_count_test
from livr.data.schema import SPLITS
from livr.data.writer import refuse_existing, write_dataset
from livr.errors import ConfigError, DataError

__all__ = [
    "BUILDERS",
    "Builder",
    "add_arguments",
    "build_task",
    "load_blink",
    "load_pixmo_count_test",
    "run",
]


@dataclass(frozen=True)
class Builder:
    task: str
    module: str  # under livr.data.build
    function: str
    source: str  # what --source holds, for help and errors
    test_from: str  # "blink": BLINK val via --blink; "source": built by the builder itself
    sizes: dict = field(default_factory=dict)  # paper sizes per split; None = every usable example

    def function_ref(self):
        return getattr(importlib.import_module(f"livr.data.build.{self.module}"), self.function)


ALL = None  # every usable example

# fmt: off
_TABLE = (
    # task, module, function, --source dataset, test split from, paper sizes (train, val, test)
    ("counting", "pixmo_count", "build", "PixMo-Count", "source", (1000, ALL, ALL)),
    ("jigsaw", "coco", "build_jigsaw", "COCO 2017", "blink", (1000, 250)),
    ("localization", "coco", "build_localization", "COCO 2017", "blink", (1000, 250)),
    ("visual_correspondence", "hpatches", "build", "HPatches", "source", (1000, 500, 700)),
    ("art_style", "artbench", "build", "ArtBench-10", "blink", (1000, 250)),
    ("semantic_correspondence", "spair", "build", "SPair-71k", "blink", (1000, 250)),
    ("functional_correspondence", "funkpoint", "build", "FunKPoint", "source", (1000, ALL, ALL)),
    ("relative_reflectance", "mid", "build", "MID", "blink", (1000, 250)),
    ("visual_similarity", "nights", "build", "NIGHTS", "blink", (1000, 250)),
    ("visual_cot", "visual_cot", "build", "Visual-CoT", "source", (ALL, 500, 500)),
    ("vsp", "mirage_vsp", "build", "Mirage's VSP data", "source", (ALL, ALL, ALL)),
)
# fmt: on

BUILDERS: dict[str, Builder] = {
    row[0]: Builder(*row[:5], sizes=dict(zip(SPLITS, row[5]))) for row in _TABLE
}


def build_task(
    task: str,
    source: str | Path,
    sizes: dict | None = None,
    seed: int = 0,
    report: Report | None = None,
    **options,
) -> dict[str, list]:
    """Run one builder: `{split: records}` (BLINK-tested tasks return train and validation only)."""
    if task not in BUILDERS:
        raise ConfigError(
            f"no real-source builder for task {task!r}; builders exist for {', '.join(BUILDERS)}"
        )
    info = BUILDERS[task]
    merged = dict(info.sizes)
    merged.update(sizes or {})
    return info.function_ref()(
        Path(source), merged, seed, report if report is not None else Report(), **options
    )


# ---------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=list(BUILDERS), help="task to build")
    parser.add_argument(
        "--source",
        required=True,
        help="folder with the official dataset layout (see `livr.data.build`)",
    )
    parser.add_argument("--out", required=True, help="data folder to write (a DatasetDict)")
    parser.add_argument(
        "--images",
        default=None,
        help="counting only: folder of PixMo-Count images named by sha256 or URL file name "
        "(default <source>/images)",
    )
    parser.add_argument(
        "--blink",
        default=None,
        metavar="PATH|hub",
        help="test split for BLINK-tested tasks: a local copy of BLINK-Benchmark/BLINK, or "
        "'hub' to load it online",
    )
    parser.add_argument(
        "--train", type=int, default=None, metavar="N", help="train examples (default: the paper's)"
    )
    parser.add_argument(
        "--val",
        type=int,
        default=None,
        metavar="N",
        help="validation examples (default: the paper's)",
    )
    parser.add_argument(
        "--test",
        type=int,
        default=None,
        metavar="N",
        help="test examples where the test split is built from the source (default: the paper's)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same records)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def requested_sizes(info: Builder, args) -> dict:
    sizes = dict(info.sizes)
    for split, value, flag in (
        ("train", args.train, "--train"),
        ("validation", args.val, "--val"),
        ("test", args.test, "--test"),
    ):
        if value is None:
            continue
        if value < 0:
            raise ConfigError(f"{flag} must be >= 0, got {value}")
        if split == "test" and info.test_from == "blink":
            raise ConfigError(
                f"--test does not apply to {info.task}: its test split is BLINK's val split, "
                "used whole"
            )
        sizes[split] = value
    return sizes


def run(args) -> int:
    info = BUILDERS[args.task]
    sizes = requested_sizes(info, args)
    refuse_existing(args.out, args.overwrite, what="--out")
    if args.images and args.task != "counting":
        raise ConfigError("--images applies only to --task counting (PixMo-Count images)")
    test = None
    if info.test_from == "blink":
        if not args.blink:
            raise ConfigError(
                f"--task {args.task} takes its test split from BLINK: pass --blink PATH (a local "
                "copy of the hub repository BLINK-Benchmark/BLINK) or --blink hub"
            )
        # loaded first, so a bad --blink fails before the long build
        test = load_blink(args.task, args.blink)
    elif args.blink:
        raise ConfigError(
            f"--blink does not apply to {args.task}: its test split is built from {info.source}"
        )
    report = Report()
    options = {"images": args.images} if args.task == "counting" else {}
    splits = build_task(args.task, args.source, sizes, args.seed, report, **options)
    if test is not None:
        splits["test"] = test
    if not splits.get("train"):
        raise DataError(
            f"{args.source}: no usable {info.source} train examples for {args.task} ("
            + ("; ".join(report.lines()) or "the source holds none")
            + ")"
        )
    for split in SPLITS:
        splits.setdefault(split, [])
    write_dataset(
        {s: [_encoded(r) for r in recs] for s, recs in splits.items()}, args.out, args.overwrite
    )
    _print_summary(args, splits, report)
    return 0


def _encoded(record: dict) -> dict:
    """The record with images as their original bytes, so writing does not re-compress them."""
    return {**record, "images": [as_feature_image(im) for im in record["images"]]}


def _print_summary(args, splits: dict, report: Report) -> None:
    sizes = ", ".join(f"{s} {len(splits[s])}" for s in SPLITS)
    print(f"wrote {args.out}: {args.task} from {BUILDERS[args.task].source} ({sizes})")
    for line in report.lines():
        print(f"  {line}", file=sys.stderr)
