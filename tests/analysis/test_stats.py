"""Noise of accuracies (livr.analysis.stats) and the demo's verdict, which states a difference
between LIVR and Direct SFT only where it is beyond that noise (tested on synthetic tables)."""

from __future__ import annotations

import pytest

from livr.analysis.stats import compare, sigmas_above, wilson
from livr.demo.report import comparison_markdown, verdict


def test_wilson_interval():
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_sigmas_above_chance():
    # 4 sd above 1/4 on 250 records is 0.25 + 4 * 0.0274 = 0.3595
    assert sigmas_above(0.36, 0.25, 250) == pytest.approx(4.016, abs=1e-2)
    assert sigmas_above(0.5, 0.0, 100) is None


def test_small_differences_are_within_noise():
    # the old demo: +0.67 points on 100 records, one seed
    d = compare([0.2933], [0.2867], 100)
    assert not d.beyond_noise
    assert "no difference within noise" in d.text("LIVR", "Direct SFT")


def test_large_differences_are_beyond_noise_either_way():
    up = compare([0.80], [0.65], 250)
    assert up.beyond_noise and up.text("LIVR", "Direct SFT").startswith("LIVR beats Direct SFT by +15.00")
    down = compare([0.60], [0.75], 250)
    assert down.beyond_noise and "LIVR trails Direct SFT" in down.text("LIVR", "Direct SFT")


def test_seed_spread_widens_the_noise():
    # 3 seeds, mean difference 3 points: tight seeds and many records -> beyond noise,
    # the same means with a wide seed spread -> within noise
    tight = compare([0.73, 0.74, 0.75], [0.70, 0.71, 0.72], 10_000)
    wide = compare([0.63, 0.74, 0.85], [0.60, 0.71, 0.82], 10_000)
    assert tight.beyond_noise and not wide.beyond_noise


def _table(livr: dict[str, list[float]], sft: dict[str, list[float]], n: int, chance: dict[str, float]):
    def row(method, values):
        return {"kind": "method", "method": method, "probe": "none", "multi_task": False,
                "cells": {t: {"mean": sum(v) / len(v), "values": v, "examples": [n] * len(v)}
                          for t, v in values.items()}}

    return {"tasks": list(livr), "random": {"cells": {t: {"mean": c} for t, c in chance.items()}},
            "blocks": [{"rows": [row("sft", sft), row("livr", livr)]}]}


def test_verdict_on_a_synthetic_report_within_noise():
    table = _table({"counting": [0.29], "localization": [0.51]}, {"counting": [0.28], "localization": [0.50]},
                   100, {"counting": 1 / 9, "localization": 0.5})
    text = verdict(table)
    assert "no difference within noise" in text and "beats" not in text
    assert "no task differs beyond noise" in text
    assert "Direct SFT above chance on 1 of 2 tasks" in text  # counting 28% vs 11%; localization 50% is not
    md = "\n".join(comparison_markdown(table))
    assert "| Mean |" in md and "LIVR better" not in md


def test_verdict_on_a_synthetic_report_beyond_noise():
    table = _table({"counting": [0.80, 0.82, 0.81], "localization": [0.90, 0.91, 0.89]},
                   {"counting": [0.60, 0.62, 0.61], "localization": [0.89, 0.90, 0.91]},
                   250, {"counting": 1 / 9, "localization": 0.5})
    text = verdict(table)
    assert text.startswith("LIVR beats Direct SFT by +10.00")
    assert "per task, beyond noise: Counting +20.00" in text and "Local." not in text.split("beyond noise:")[1]
    md = "\n".join(comparison_markdown(table))
    assert "| Counting | +20.00 ±" in md and "LIVR better" in md and "no difference within noise" in md


def test_interval_cells_one_seed_and_several():
    from livr.demo.report import interval_cell

    assert interval_cell({"values": [0.5], "examples": [100]}) == "50.00 [40.4–59.6]"
    assert interval_cell({"values": [0.6, 0.7, 0.8], "examples": [250] * 3}) == "70.00 ± 10.00 (3 seeds)"
    assert interval_cell(None) == "–"
    table = _table({"counting": [0.29]}, {"counting": [0.28]}, 100, {"counting": 1 / 9})
    md = "\n".join(comparison_markdown(table))
    assert "| Direct SFT | 28.00 [" in md and "| LIVR | 29.00 [" in md
