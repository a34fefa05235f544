"""`livr data ...`: make, clean and inspect data folders.

    livr data synth --task jigsaw --out data/jigsaw            # offline generator, 1000/250/250
    livr data synth --tasks counting,jigsaw --out data/mix     # multi-task mixture
    livr data build --task art_style --source ... --out ...    # real sources (livr.data.build)
    livr data dedup --data data/mix --out dedup.json --out-data data/mix-clean
    livr data show data/jigsaw --out sheet.png --split test --n 8
    livr data info data/jigsaw

Every option is checked before any work starts; mistakes are `LivrError`s (exit status 2, one
paragraph naming the option). Folders are written atomically (livr.data.writer).
"""

from __future__ import annotations

import collections
import importlib
import os
import sys
import time
import zlib
from pathlib import Path

from livr.errors import ConfigError, DataError, LivrError

MAX_WORKERS = 4  # default --workers cap (each worker holds its own photo caches)
DEFAULT_SIZES = {"train": 1000, "validation": 250, "test": 250}  # per task (paper: 1,000 train)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="make, clean and inspect data folders",
        description="Make (synth, build), clean (dedup) and inspect (show, info) data folders.",
    )
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    sub.required = True
    _register_synth(sub)
    _register_build(sub)
    _register_dedup(sub)
    _register_show(sub)
    _register_info(sub)


# ----------------------------------------------------------------------------- helpers


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit="ex", disable=not enabled, file=sys.stderr, leave=False
    )


def _non_negative(value: int, option: str) -> int:
    if value < 0:
        raise ConfigError(f"{option} must be >= 0 (a number of examples), got {value}")
    return value


def _task_names(args) -> list[str]:
    from livr.data.tasks import get_task, parse_task_list

    option = "--task" if args.task is not None else "--tasks"
    try:
        if args.task is not None:
            return [get_task(args.task.strip()).name]
        return parse_task_list(args.tasks)
    except ConfigError as err:
        text = str(err)
        raise ConfigError(text if text.startswith(option) else f"{option}: {text}") from None


# ----------------------------------------------------------------------------- synth


def _register_synth(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="generate a data folder with the offline generators",
        description=(
            "Generate train/validation/test splits with the offline, seeded generators of "
            "livr.data.synth and write them as a data folder. Sizes are per task; with --tasks "
            "the tasks are mixed (and shuffled with --seed) within each split."
        ),
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--task", help="one task name")
    which.add_argument("--tasks", help="comma-separated task names for a multi-task mixture")
    p.add_argument(
        "--train",
        type=int,
        default=DEFAULT_SIZES["train"],
        help="train examples per task (default 1000)",
    )
    p.add_argument(
        "--val",
        type=int,
        default=DEFAULT_SIZES["validation"],
        help="validation examples per task (default 250)",
    )
    p.add_argument(
        "--test",
        type=int,
        default=DEFAULT_SIZES["test"],
        help="test examples per task (default 250)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="random seed (default 0); same seed, same bytes"
    )
    p.add_argument(
        "--image-size", type=int, default=None, metavar="PX",
        help="shrink images so that their longer side is at most PX pixels (as `livr demo` does; "
        "default: the generator's size)",
    )
    p.add_argument(
        "--level", default=None, metavar="NAME",
        help="difficulty level of every task: paper (default, the paper's rules) or an easier one "
        "(e.g. easy); docs/data.md lists each task's levels",
    )
    p.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="processes that draw the records and encode their images (default: the number of "
        f"CPU cores, at most {MAX_WORKERS}); the output is the same bytes for any N",
    )
    p.add_argument("--out", required=True, help="data folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run_synth)


def default_workers() -> int:
    """The CPU cores this process may use, at most MAX_WORKERS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_WORKERS))


def _load_generators(tasks: list[str]) -> None:
    from livr.data.synth import generator_module

    for task in tasks:
        try:
            module = generator_module(task)
        except ModuleNotFoundError as err:
            if err.name != f"livr.data.synth.{task}":
                raise
            raise ConfigError(
                f"task {task!r} has no offline generator (livr/data/synth/{task}.py is missing); "
                "choose another task or build it from its real source with `livr data build`"
            ) from None
        if not callable(getattr(module, "generate", None)):
            raise ConfigError(f"livr.data.synth.{task} has no generate(split, n, rng) function")


def mix_splits(per_task: dict[str, dict[str, object]], seed: int) -> dict[str, object]:
    """Concatenate tasks per split; with more than one task, shuffle each split with `seed`.

    Values are `datasets.Dataset`s (one per task and split).
    """
    import datasets
    import numpy as np

    tasks = list(per_task)
    splits = {}
    for split in DEFAULT_SIZES:
        parts = [per_task[t][split] for t in tasks]
        if len(parts) == 1:
            splits[split] = parts[0]
            continue
        mixed = datasets.concatenate_datasets(parts)
        rng = np.random.default_rng([seed, zlib.crc32(f"mixture/{split}".encode())])
        splits[split] = mixed.select(rng.permutation(len(mixed))) if len(mixed) else mixed
    return splits


def run_synth(args) -> int:
    from livr.data.drawing import draw_splits
    from livr.data.synth import level_knobs
    from livr.data.writer import refuse_existing, to_dataset, write_dataset

    tasks = _task_names(args)
    sizes = {
        "train": _non_negative(args.train, "--train"),
        "validation": _non_negative(args.val, "--val"),
        "test": _non_negative(args.test, "--test"),
    }
    if args.image_size is not None and args.image_size < 1:
        raise ConfigError(f"--image-size must be a positive number of pixels, got {args.image_size}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1 (processes drawing records), got {args.workers}")
    workers = args.workers or default_workers()
    refuse_existing(args.out, args.overwrite, what="--out")
    _load_generators(tasks)
    for task in tasks:
        try:
            level_knobs(task, args.level)
        except ConfigError as err:
            raise ConfigError(f"--level: {err}") from None

    start = time.perf_counter()
    per_task: dict[str, dict[str, object]] = {task: {} for task in tasks}
    jobs = [(task, split, n) for task in tasks for split, n in sizes.items()]
    with _progress(sum(sizes.values()) * len(tasks), "generating", not args.no_progress) as bar:
        # Drawn and PNG-encoded by `workers` processes (livr.data.drawing); each split is made an
        # Arrow table at once, so only encoded bytes are held, while later splits are drawn.
        for task, split, records in draw_splits(jobs, args.seed, args.level, args.image_size,
                                                workers, on_part=bar.update):
            bar.set_postfix_str(f"{task}/{split}")
            per_task[task][split] = to_dataset(records, split)
    splits = mix_splits(per_task, args.seed)
    write_dataset(splits, args.out, overwrite=args.overwrite)
    counts = ", ".join(f"{s} {len(d)}" for s, d in splits.items())
    print(
        f"wrote {args.out}: {counts} examples of {', '.join(tasks)} "
        f"(seed {args.seed}{', level ' + args.level if args.level else ''}) in "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


# ----------------------------------------------------------------------------- build


def _register_build(sub) -> None:
    try:
        build = importlib.import_module("livr.data.build")
        add_arguments, run = build.add_arguments, build.run
    except Exception as err:  # keep `livr data synth` usable while the builders are missing/broken
        failure = err
        # No option prefix: every argument, "--task" included, lands in `rest` and is ignored.
        p = sub.add_parser(
            "build",
            help="build a data folder from a real source (unavailable)",
            add_help=False,
            prefix_chars="\0",
        )
        p.add_argument("rest", nargs="*")

        def unavailable(args) -> int:
            if isinstance(failure, ModuleNotFoundError) and failure.name == "livr.data.build":
                raise LivrError(
                    "`livr data build` is not available in this installation: the package "
                    "livr.data.build is missing; use `livr data synth` for offline data"
                )
            raise failure  # a bug in livr.data.build: keep its traceback

        p.set_defaults(func=unavailable)
        return
    p = sub.add_parser(
        "build",
        help="build a data folder from a real source (COCO, SPair-71k, BLINK, ...)",
        description=(build.__doc__ or "").strip().splitlines()[0] if build.__doc__ else None,
    )
    add_arguments(p)
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------- dedup


def _register_dedup(sub) -> None:
    from livr.data.dedup import Thresholds

    d = Thresholds()
    p = sub.add_parser(
        "dedup",
        help="remove train/validation examples whose images near-duplicate test images",
        description=(
            "Find train/validation examples with an image that is a near-duplicate of a test "
            "image (embedding prefilter, then perceptual hash, then SSIM; see docs/data.md), "
            "write a JSON report of them and, with --out-data, the cleaned data folder. "
            "Without --out-data nothing but the report is written."
        ),
    )
    p.add_argument("--data", required=True, help="data folder to check")
    p.add_argument(
        "--against",
        help="folder holding the test images (a data folder, a BLINK folder saved with "
        "save_to_disk, or a single saved split); default: --data itself",
    )
    p.add_argument(
        "--against-split", default="test", help="split of --against to use (default test)"
    )
    p.add_argument(
        "--splits",
        default="train,validation",
        help="splits of --data to clean (default train,validation)",
    )
    p.add_argument(
        "--out", required=True, help="JSON report of removed examples (replaced if it exists)"
    )
    p.add_argument(
        "--out-data",
        help="write the cleaned data folder here (all splits; the checked ones without the "
        "removed examples). Give --data itself with --overwrite to clean in place",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --out-data if it exists")
    p.add_argument(
        "--clip",
        help="local CLIP checkpoint folder for the prefilter (default: offline descriptor)",
    )
    p.add_argument(
        "--top-k",
        type=int,
        default=d.top_k,
        help=f"prefilter candidates per image, 0 = all pairs (default {d.top_k})",
    )
    p.add_argument(
        "--phash-max",
        type=int,
        default=d.phash_max,
        help=f"max pHash Hamming distance (default {d.phash_max})",
    )
    p.add_argument(
        "--ssim-min", type=float, default=d.ssim_min, help=f"min SSIM (default {d.ssim_min})"
    )
    p.add_argument(
        "--ssim-blur-min",
        type=float,
        default=d.ssim_blur_min,
        help=f"min SSIM after blur (default {d.ssim_blur_min})",
    )
    p.add_argument(
        "--require",
        choices=("any", "all"),
        default="any",
        help="remove an example if any of its images matches (default), or only if all of them "
        "match images of one test example (pair-aware, as the paper does for semantic "
        "correspondence)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run_dedup)


def load_reference(path: str, split: str):
    """The test images: a split of a DatasetDict folder, or a folder holding a single Dataset."""
    import datasets

    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"--against {folder} does not exist or is not a folder")
    try:
        loaded = datasets.load_from_disk(str(folder))
    except (FileNotFoundError, ValueError, KeyError, OSError) as err:
        raise DataError(f"--against {folder} is not a folder saved with datasets ({err})") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DataError(
                f"--against {folder} has no split {split!r} (it has {', '.join(loaded)}); "
                "choose one with --against-split"
            )
        return loaded[split]
    return loaded


def run_dedup(args) -> int:
    from livr.data.dedup import Thresholds, dedup_splits, make_embedder
    from livr.data.loading import load_data
    from livr.data.writer import refuse_existing, save_dataset_dict
    from livr.io import atomic_write_json

    thresholds = Thresholds(
        top_k=args.top_k,
        phash_max=args.phash_max,
        ssim_min=args.ssim_min,
        ssim_blur_min=args.ssim_blur_min,
    )
    thresholds.check()
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    if not splits:
        raise ConfigError("--splits needs at least one split name, e.g. train,validation")
    if Path(args.out).is_dir():
        raise ConfigError(
            f"--out {args.out} is a folder; give the path of a JSON file for the report"
        )
    if args.out_data:
        refuse_existing(args.out_data, args.overwrite, what="--out-data")
    against = args.against or args.data
    if args.against is None and args.against_split in splits:
        raise ConfigError(f"--against-split {args.against_split!r} is also listed in --splits")
    dd = load_data(args.data, splits)
    test = load_reference(against, args.against_split)
    embedder = make_embedder(args.clip)

    start = time.perf_counter()
    cleaned, report = dedup_splits(
        dd,
        test,
        splits,
        embedder=embedder,
        thresholds=thresholds,
        require=args.require,
        progress_factory=lambda total, desc: _progress(total, desc, not args.no_progress),
    )
    report.update(
        {
            "data": str(args.data),
            "against": str(against),
            "against_split": args.against_split,
            "out_data": args.out_data,
        }
    )
    if args.out_data:
        save_dataset_dict(cleaned, args.out_data, overwrite=args.overwrite)
    atomic_write_json(args.out, report)
    removed = ", ".join(f"{s} {c['removed']}/{c['before']}" for s, c in report["splits"].items())
    where = (
        f"; cleaned data in {args.out_data}"
        if args.out_data
        else " (no --out-data: data not written)"
    )
    print(
        f"dedup {args.data} against {against}:{args.against_split}: removed {removed} "
        f"in {time.perf_counter() - start:.1f} s; report {args.out}{where}"
    )
    return 0


# ----------------------------------------------------------------------------- show


def _register_show(sub) -> None:
    p = sub.add_parser(
        "show",
        help="draw a contact sheet (PNG) of examples",
        description="Draw a contact sheet of the first examples of a split.",
    )
    p.add_argument("data", metavar="DIR", help="data folder")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--split", default="test", help="split to show (default test)")
    p.add_argument("--n", type=int, default=8, help="number of examples (default 8)")
    p.add_argument("--task", help="only examples of this task")
    p.add_argument("--width", type=int, default=1400, help="sheet width in pixels (default 1400)")
    p.set_defaults(func=run_show)


def run_show(args) -> int:
    from livr.data.contact_sheet import write_contact_sheet
    from livr.data.loading import load_split
    from livr.data.tasks import get_task

    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    if args.width < 400:
        raise ConfigError(f"--width must be >= 400 pixels, got {args.width}")
    if args.task is not None:
        try:
            get_task(args.task)
        except ConfigError as err:
            raise ConfigError(f"--task: {err}") from None
    ds = load_split(args.data, args.split)
    tasks = list(ds["task"])
    rows = [i for i, t in enumerate(tasks) if args.task in (None, t)][: args.n]
    if not rows:
        present = ", ".join(sorted(set(tasks))) or "none (the split is empty)"
        raise DataError(
            f"split {args.split!r} of {args.data} has no examples of task {args.task!r}; "
            f"it has {present}"
        )
    write_contact_sheet(ds.select(rows), args.out, width=args.width)
    print(f"wrote {args.out}: {len(rows)} examples of {args.data} ({args.split})")
    return 0


# ----------------------------------------------------------------------------- info


def _register_info(sub) -> None:
    p = sub.add_parser(
        "info",
        help="counts per split and task, answer histogram",
        description="Print counts per split and task and the answer histogram.",
    )
    p.add_argument("data", metavar="DIR", help="data folder")
    p.set_defaults(func=run_info)


def answer_histogram(tasks: list[str], answers: list[str]) -> dict[str, collections.Counter]:
    """Task -> Counter of answers (letters, counts); vsp plans are counted by length."""
    from livr.data.tasks import TASKS

    hist: dict[str, collections.Counter] = {}
    for task, answer in zip(tasks, answers, strict=True):
        kind = TASKS[task].answer_kind if task in TASKS else "choice"
        if kind == "plan":
            plan = answer.rsplit("Action plan:", 1)[-1]
            key = f"{sum(1 for m in plan.split(',') if m.strip())} moves"
        else:
            key = answer
        hist.setdefault(task, collections.Counter())[key] += 1
    return hist


def _sort_key(answer: str):
    """Numbers ("7", "13 moves") by value, then letters and other text alphabetically."""
    head = answer.split(" ", 1)[0]
    return (0, int(head), answer) if head.isdigit() else (1, 0, answer)


def run_info(args) -> int:
    from livr.data.loading import load_data

    dd = load_data(args.data)
    print(f"data folder {args.data}")
    print(f"{'split':<11} {'task':<26} {'examples':>8}  answers")
    for split, ds in dd.items():
        cols = ds.select_columns(["task", "answer"]).to_dict()
        hist = answer_histogram(cols["task"], cols["answer"])
        print(f"{split:<11} {'(all)':<26} {len(ds):>8}")
        for task in sorted(hist):
            counts = hist[task]
            text = " ".join(f"{a}:{counts[a]}" for a in sorted(counts, key=_sort_key))
            print(f"{split:<11} {task:<26} {sum(counts.values()):>8}  {text}")
    return 0
