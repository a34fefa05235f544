"""The benchmark scripts run, measure what they say, and their report names where numbers come from.

Not timed: these tests check the work each benchmark does (same records, K more tokens for LIVR,
the right mask per step, memory counted without parameters), not its speed.
"""

import json
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import report  # noqa: E402
import training_step  # noqa: E402


@pytest.fixture(scope="module")
def tiny_pair():
    return training_step.pair(training_step.sizes()["tiny"], 4, 64)


def test_batches_differ_by_exactly_k_latent_tokens(tiny_pair):
    data = training_step.records(2, 64)
    sft = training_step.batches(tiny_pair["sft"], data, 1, "standard", latents=False)
    livr = training_step.batches(tiny_pair["livr"], data, 1, "bottleneck")
    for a, b in zip(sft, livr):
        assert b["input_ids"].shape[1] - a["input_ids"].shape[1] == 4
        assert (b["image_grid_thw"] == torch.tensor([[1, 16, 16]])).all()  # 64 LM tokens per image
        assert b["mask_policy"] == "bottleneck" and a["mask_policy"] == "standard"
    # one model, prompts without its latents: what real_size.py does
    shared = training_step.batches(tiny_pair["livr"], data, 1, "standard", latents=False)
    assert [s["input_ids"].shape for s in shared] == [s["input_ids"].shape for s in sft]


def test_saved_bytes_counts_activations_not_parameters(tiny_pair):
    lm = tiny_pair["sft"]
    batch = training_step.batches(lm, training_step.records(1, 64), 1, "standard", latents=False)[0]
    with training_step.SavedBytes(lm.model) as saved:
        lm(batch).loss
    parameters = {p.untyped_storage().data_ptr() for p in lm.model.parameters()}
    assert saved.total > 0 and not parameters & set(saved.storages)
    with torch.no_grad(), training_step.SavedBytes(lm.model) as nothing:
        lm(batch)
    assert nothing.total == 0


def test_measure_reports_ratios_against_the_floor(tiny_pair):
    row = training_step.measure(tiny_pair, training_step.records(2, 64), num_latents=4, batch_size=1,
                                warmup=0, repeats=1)
    assert row["floor"] == pytest.approx((row["sft_length"] + 4) / row["sft_length"], abs=1e-4)
    assert row["livr_length"] == row["sft_length"] + 4
    for stage in ("stage1", "stage2"):
        assert row[f"{stage}_time_ratio"] == pytest.approx(row[f"{stage}_seconds"] / row["sft_seconds"], rel=1e-3)
        assert row[f"{stage}_memory_ratio"] > 1  # K more tokens of activations
    assert 0 < row["mask_seconds"] < row["stage1_seconds"]


def test_report_names_commands_machine_and_missing_results(tmp_path):
    row = {"image_tokens": 64, "num_latents": 16, "sft_length": 200.0, "floor": 1.08, "sft_seconds": 0.5,
           "stage1_time_ratio": 1.2, "stage2_time_ratio": 1.1, "stage1_memory_ratio": 1.1,
           "stage2_memory_ratio": 1.05, "mask_seconds": 0.001, "mask_share_of_stage1": 0.002,
           "stage1_seconds": 0.6}
    stamp = {"machine": {"cpu_model": "Test CPU", "nproc": 2}, "versions": {"torch": "9", "transformers": "8"},
             "date": "2026-01-02T00:00:00+00:00", "threads": 2}
    results = tmp_path / "results"
    results.mkdir()
    (results / "training_step.json").write_text(json.dumps({"rows": [row], **stamp}))
    (results / "growth.json").write_text(json.dumps({
        "rows": [dict(row, sweep="image_tokens"), dict(row, image_tokens=256, sweep="image_tokens"),
                 dict(row, sweep="num_latents"), dict(row, num_latents=32, sweep="num_latents")],
        "size": "tiny", "device": "cpu", **stamp}))
    out = tmp_path / "performance.md"
    text = report.build(results, out, tmp_path / "growth.png")
    assert out.read_text() == text and (tmp_path / "growth.png").stat().st_size > 0
    assert "Test CPU, 2 cores, 2 thread(s); torch 9, transformers 8; 2026-01-02" in text
    assert "| 64 | 16 | 200 | 1.080 | 0.500 | 1.200 | 1.100 |" in text
    assert "Not measured yet: `.venv/bin/python benchmarks/real_size.py`" in text
