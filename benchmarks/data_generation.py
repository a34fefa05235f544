"""Time the offline task generators (livr.data.synth) on one CPU core.

    .venv/bin/python benchmarks/data_generation.py [--tasks jigsaw,counting] [--n 1000] \
        [--split train] [--seed 0] [--out benchmarks/results/data_generation.json]

For each task: one small warm-up call (imports, photo loading, caches; reported as warmup_s),
then `generate_split(task, split, n, seed)` timed with wall and CPU clocks. Math libraries are
limited to one thread and the process is pinned to one core, so the numbers are per core.
Writes a JSON file and prints a markdown table (task, examples/s, seconds per 1,000, machine,
date, versions). Tasks without a generator module are listed as missing and skipped.
"""

from __future__ import annotations

import os

# Before numpy / torch are imported: one thread each.
for _var in (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livr.data.synth import generate_split  # noqa: E402
from livr.data.tasks import TASK_NAMES, parse_task_list  # noqa: E402
from livr.io import atomic_write_json  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "data_generation.json"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "nproc": os.cpu_count(),
        "cores_used": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict:
    out = {}
    for pkg in ("numpy", "pillow", "scikit-image", "datasets"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def has_generator(task: str) -> bool:
    return importlib.util.find_spec(f"livr.data.synth.{task}") is not None


def time_task(task: str, split: str, n: int, seed: int) -> dict:
    start = time.perf_counter()
    generate_split(task, split, min(2, n), seed + 1)  # warm-up: imports, photos, caches
    warmup = time.perf_counter() - start
    wall, cpu = time.perf_counter(), time.process_time()
    records = generate_split(task, split, n, seed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "task": task,
        "n": len(records),
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "examples_per_s": round(n / wall, 2) if wall > 0 else None,
        "seconds_per_1000": round(1000 * wall / n, 2) if n else None,
        "warmup_s": round(warmup, 3),
    }


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu_model']}, nproc {m['nproc']} ({m['cores_used']} core used), "
        f"Python {m['python']}; "
        f"date {result['date']}; " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        f"Split `{result['split']}`, n = {result['n']} per task, seed {result['seed']}.",
        "",
        "| task | examples/s | s per 1,000 | CPU s per 1,000 | warm-up s |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in result["results"]:
        cpu_per_1000 = 1000 * r["cpu_seconds"] / r["n"] if r["n"] else float("nan")
        lines.append(
            f"| {r['task']} | {r['examples_per_s']:.1f} | {r['seconds_per_1000']:.1f} | "
            f"{cpu_per_1000:.1f} | {r['warmup_s']:.1f} |"
        )
    if result["missing"]:
        lines.append(f"| (no generator yet: {', '.join(result['missing'])}) | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks", help="comma-separated tasks (default: every task with a generator)"
    )
    parser.add_argument("--n", type=int, default=1000, help="examples per task (default 1000)")
    parser.add_argument("--split", default="train", help="split to generate (default train)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT), help=f"JSON output (default {DEFAULT_OUT})"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be >= 1")
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    if args.tasks:
        tasks = parse_task_list(args.tasks)
        absent = [t for t in tasks if not has_generator(t)]
        if absent:
            parser.error(f"no generator module for: {', '.join(absent)}")
        missing = []
    else:
        tasks = [t for t in TASK_NAMES if has_generator(t)]
        missing = [t for t in TASK_NAMES if not has_generator(t)]

    results = []
    for task in tasks:
        print(f"timing {task} ({args.n} {args.split} examples) ...", file=sys.stderr, flush=True)
        results.append(time_task(task, args.split, args.n, args.seed))
    result = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "split": args.split,
        "n": args.n,
        "seed": args.seed,
        "results": results,
        "missing": missing,
    }
    atomic_write_json(args.out, result)
    print(markdown(result))
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
