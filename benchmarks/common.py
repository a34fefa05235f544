"""What every benchmark script shares: the machine and versions it ran on, the date, one-thread
setup, and writing its JSON result atomically."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MATH_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                         "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def limit_threads(n: int) -> None:
    """Math libraries limited to `n` threads; call before numpy or torch is imported."""
    for name in MATH_THREAD_VARIABLES:
        os.environ[name] = str(n)


ATTENTION_PATHS = {
    "sdpa": "transformers' sdpa as shipped: under an explicit mask, grouped K/V heads are repeated "
            "to the query heads (repeat_kv) before the kernel",
    "sdpa-grouped": "the same sdpa kernel with enable_gqa=True under the mask too, so K/V heads stay "
                    "grouped (transformers' switch TRANSFORMERS_SDPA_FORCE_GQA=1)",
}


def select_attention(path: str) -> None:
    """Choose the masked-attention path (a key of ATTENTION_PATHS; the scripts' argparse choices
    check it) before any model runs."""
    if path == "sdpa-grouped":
        os.environ["TRANSFORMERS_SDPA_FORCE_GQA"] = "1"
    else:
        os.environ.pop("TRANSFORMERS_SDPA_FORCE_GQA", None)


def machine() -> dict:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out = {"cpu_model": cpu, "nproc": os.cpu_count(), "platform": platform.platform()}
    try:
        import torch

        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return out


def versions() -> dict:
    out = {"python": platform.python_version()}
    for package in ("torch", "transformers", "peft", "numpy", "pillow"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def stamp() -> dict:
    """machine, versions and date, for every result file."""
    return {"machine": machine(), "versions": versions(), "date": now()}


def write_result(path: str | os.PathLike, result: dict) -> None:
    from livr.io import atomic_write_json

    atomic_write_json(path, result)
    print(f"wrote {path}", file=sys.stderr)


def run_logged(cmd: list[str], log: Path, threads: int = 1) -> float:
    """Run `cmd` from the repository root, offline, math libraries at `threads` threads, its output
    appended to `log` after the command line; the wall seconds it took. Exits naming the command
    and the log if it fails."""
    start = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    with open(log, "a") as f:
        f.write("$ " + shlex.join(cmd) + "\n")
        f.flush()
        done = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(cmd)}; see {log}")
    return time.perf_counter() - start
