"""What every benchmark script shares: the machine and versions it ran on, the date, one-thread
setup, and writing its JSON result atomically."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
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
