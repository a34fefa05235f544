"""Time the offline task generators (livr.data.synth) on one CPU core, or (--synth) the whole
`livr data synth` command that draws, encodes and writes a data folder.

    .venv/bin/python benchmarks/data_generation.py [--tasks jigsaw,counting] [--n 1000] \
        [--split train] [--seed 0] [--out benchmarks/results/data_generation.json]
    .venv/bin/python benchmarks/data_generation.py --synth [--tasks ...] [--n 1000] \
        [--workers 1,2] [--out benchmarks/results/data_synth.json]

For each task: one small warm-up call (imports, photo loading, caches; reported as warmup_s),
then `generate_split(task, split, n, seed)` timed with wall and CPU clocks. Math libraries are
limited to one thread and the process is pinned to one core, so the numbers are per core.
Writes a JSON file and prints a markdown table (task, examples/s, seconds per 1,000, machine,
date, versions). Tasks without a generator module are listed as missing and skipped.

--synth (not pinned): per task, first where the time goes, in this process on one thread: drawing
(`generate_split`), PNG encoding (`livr.data.png.encode_images`), building the Arrow table
(`to_dataset` less the encoding) and saving the folder (`write_dataset`); then the wall time of
`livr data synth --task T --train N --val 0 --test 0 --workers W` as a fresh process (interpreter
start and imports included) for each W, with the CPU seconds of that process, the folder size
and the 1-minute load average before and after (the machine may be shared: the load says how
much).
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
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livr.data.synth import generate_split  # noqa: E402
from livr.data.tasks import TASK_NAMES, parse_task_list  # noqa: E402
from livr.io import atomic_write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "data_generation.json"
DEFAULT_SYNTH_OUT = ROOT / "benchmarks" / "results" / "data_synth.json"


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


def time_phases(task: str, n: int, seed: int, folder: Path) -> dict:
    """CPU seconds of each step of writing `n` train records, in this process, one thread."""
    from livr.data.png import encode_images
    from livr.data.writer import to_dataset, write_dataset

    generate_split(task, "train", min(2, n), seed + 1)  # warm-up: imports, photos, caches
    clock = time.process_time
    start = clock()
    records = generate_split(task, "train", n, seed)
    draw = clock() - start
    images = [im for r in records for im in (*r["images"], r["helper_image"]) if im is not None]
    start = clock()
    encode_images(images, workers=1)
    png = clock() - start
    start = clock()
    ds = to_dataset(records, "train", workers=1)
    table = clock() - start - png
    start = clock()
    write_dataset({"train": ds}, folder, overwrite=True)
    write = clock() - start
    return {"draw": round(draw, 3), "png": round(png, 3), "table": round(table, 3),
            "write": round(write, 3), "images": len(images)}


def time_synth_command(task: str, n: int, seed: int, workers: int, folder: Path) -> dict:
    """Wall and CPU seconds of `livr data synth` writing `n` train records, as a fresh process."""
    cmd = [sys.executable, "-m", "livr.cli.main", "data", "synth", "--task", task, "--train", str(n),
           "--val", "0", "--test", "0", "--seed", str(seed), "--workers", str(workers),
           "--out", str(folder), "--overwrite", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"workers": workers, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "megabytes": round(size / 1e6, 1), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def synth_markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu_model']}, nproc {m['nproc']}, Python {m['python']}; date {result['date']}; "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        f"n = {result['n']} train records per task, seed {result['seed']}.",
        "",
        "| task | draw | PNG | table | write | " + " | ".join(
            f"synth, {w} worker(s): wall s (CPU s, load)" for w in result["workers"]) + " | MB |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(result["workers"]) + "---:|",
    ]
    for r in result["results"]:
        p = r["phases"]
        runs = " | ".join(f"{c['seconds']:.1f} ({c['cpu_seconds']:.1f}, {c['load_before']:.1f})"
                          for c in r["synth"])
        lines.append(f"| {r['task']} | {p['draw']:.2f} | {p['png']:.2f} | {p['table']:.2f} | "
                     f"{p['write']:.2f} | {runs} | {r['synth'][-1]['megabytes']:.0f} |")
    return "\n".join(lines)


def run_synth_benchmark(tasks: list[str], n: int, seed: int, workers: list[int], out: str) -> dict:
    results = []
    with tempfile.TemporaryDirectory(prefix="livr-synth-bench-") as tmp:
        for task in tasks:
            print(f"timing livr data synth --task {task} ({n} train records) ...", file=sys.stderr,
                  flush=True)
            folder = Path(tmp) / task
            phases = time_phases(task, n, seed, folder)
            runs = [time_synth_command(task, n, seed, w, folder) for w in workers]
            shutil.rmtree(folder, ignore_errors=True)
            results.append({"task": task, "n": n, "phases": phases, "synth": runs})
    result = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "n": n,
        "seed": seed,
        "workers": workers,
        "results": results,
    }
    atomic_write_json(out, result)
    print(synth_markdown(result))
    print(f"\nwrote {out}", file=sys.stderr)
    return result


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
        "--out", help=f"JSON output (default {DEFAULT_OUT}, with --synth {DEFAULT_SYNTH_OUT})"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    parser.add_argument("--synth", action="store_true",
                        help="time the `livr data synth` command (drawing, encoding, writing)")
    parser.add_argument("--workers", default="1,2",
                        help="with --synth: comma-separated --workers values (default 1,2)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be >= 1")
    if args.synth:
        try:
            workers = [int(w) for w in args.workers.split(",") if w.strip()]
        except ValueError:
            parser.error(f"--workers must be comma-separated integers, got {args.workers!r}")
        if not workers or min(workers) < 1:
            parser.error(f"--workers must be integers >= 1, got {args.workers!r}")
        tasks = parse_task_list(args.tasks) if args.tasks else [t for t in TASK_NAMES if has_generator(t)]
        run_synth_benchmark(tasks, args.n, args.seed, workers, args.out or str(DEFAULT_SYNTH_OUT))
        return 0
    args.out = args.out or str(DEFAULT_OUT)
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
