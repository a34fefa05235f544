"""MID builder: albedo labels (rel <= 0.10 -> same), a quarter "About the same", scene split."""

from __future__ import annotations

import numpy as np
import pytest

from livr.data.build import Report, build_task
from livr.data.build.mid import relation, srgb_to_linear, target_labels
from livr.errors import DataError
from tests.data import fixtures as fx

# grey levels of the fixture's albedo quarters, keyed by (lower half, right half)
QUARTERS = {(False, False): 60, (False, True): 200, (True, False): 62, (True, True): 120}


def test_relation_rule():
    assert relation(0.50, 0.46) == 2  # rel 0.08
    assert relation(0.40, 0.50) == 0  # A darker
    assert relation(0.50, 0.30) == 1  # B darker
    assert relation(0.0, 0.0) == 2
    labels = target_labels(40, np.random.default_rng(0))
    assert labels.count(2) == 10 and labels.count(0) == labels.count(1) == 15


def test_labels_follow_the_albedo(tmp_path):
    fx.write_mid(tmp_path)
    report = Report()
    splits = build_task(
        "relative_reflectance", tmp_path, {"train": 8, "validation": 3}, seed=0, report=report
    )
    assert len(splits["train"]) == 8 and len(splits["validation"]) == 3
    assert report.skipped["mid: scene without an albedo* image"] == 1
    fx.fits_features(splits["train"] + splits["validation"])
    scenes = {s: {fx.meta(r)["scene"] for r in recs} for s, recs in splits.items()}
    assert not scenes["train"] & scenes["validation"]
    for rec in splits["train"] + splits["validation"]:
        m = fx.meta(rec)
        w, h = rec["images"][0].size
        ys = []
        for x, y in m["points"]:
            assert 0.08 * min(w, h) - 1e-6 <= x <= w - 0.08 * min(w, h) + 1e-6
            ys.append(grey(QUARTERS[y >= h / 2, x >= w / 2]))
        if (
            min(abs(x - w / 2) for x, _ in m["points"]) > 3
            and min(abs(y - h / 2) for _, y in m["points"]) > 3
        ):
            assert (
                rec["answer"] == "ABC"[relation(*ys)]
            )  # away from quarter edges the disk is uniform
        assert rec["choices"] == ["A is darker", "B is darker", "About the same"]
    assert {r["answer"] for r in splits["train"]} == set("ABC")


def grey(value: int) -> float:
    return float(srgb_to_linear(np.array([value]))[0])


def test_wrong_layout(tmp_path):
    (tmp_path / "scene_0").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path}.*dir_<k>_mip<m>\.jpg.*albedo"):
        build_task("relative_reflectance", tmp_path)
