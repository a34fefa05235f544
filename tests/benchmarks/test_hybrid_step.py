"""benchmarks/hybrid_step.py measures Qwen3.5 and Qwen3-VL the same way, on the masked path."""

import sys
from argparse import Namespace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import hybrid_step  # noqa: E402


@pytest.mark.parametrize("family,layers", [("qwen3_5", "2 linear + 1 full"), ("qwen3_vl", "2 full")])
def test_run_point_measures_both_stages_against_the_floor(family, layers):
    args = Namespace(image_tokens=16, latents=4, batch_size=1, batches=1, warmup=0, repeats=1, seed=0)
    row = hybrid_step.run_point("tiny", family, args)
    assert (row["family"], row["layers"], row["livr_length"] - row["sft_length"]) == (family, layers, 4)
    assert row["floor"] == pytest.approx((row["sft_length"] + 4) / row["sft_length"], abs=1e-4)
    assert row["stage1_memory_ratio"] > 1 and row["stage1_cpu_ratio"] > 0
    assert f"| tiny | {family} | {layers} | 16 | 4 |" in hybrid_step.markdown([row])
