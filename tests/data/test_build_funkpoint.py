"""FunKPoint builder: per-action 80/10/10 image split, one-use pairs, keypoint-k labels."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from livr.data.build import Report, build_task
from livr.errors import DataError
from tests.data import fixtures as fx


def test_splits_pairs_and_labels(tmp_path):
    fx.write_funkpoint(tmp_path)
    report = Report()
    splits = build_task("functional_correspondence", tmp_path, {"train": 10}, seed=0, report=report)
    # 20 images per action -> 16/2/2 -> 8/1/1 pairs per action; two actions
    assert {s: len(r) for s, r in splits.items()} == {"train": 10, "validation": 2, "test": 2}
    assert report.skipped["funkpoint: entry without five keypoints in [0, 1]"] == 1
    fx.fits_features([r for recs in splits.values() for r in recs])
    fx.assert_disjoint(splits)
    entries = {e["image"]: e for e in json.loads((tmp_path / "annotations.json").read_text())[:-1]}
    for recs in splits.values():
        used = [s for r in recs for s in fx.meta(r)["source_images"]]
        assert len(used) == len(set(used))  # one use per image within a split
        for rec in recs:
            m = fx.meta(rec)
            left, right = (s.removeprefix("funkpoint:") for s in m["source_images"])
            assert entries[left]["action"] == entries[right]["action"] == m["action"]
            k = m["ref_keypoint"]
            w, h = rec["images"][1].size
            truth = np.array(entries[right]["keypoints"][k]) * [w, h]
            assert np.allclose(m["candidate_points"]["ABCD".index(rec["answer"])], truth)
    assert any('the action "Mash Pound"' in r["question"] for recs in splits.values() for r in recs)


def test_csv_layout(tmp_path):
    fx.write_funkpoint(tmp_path, per_action=4)
    entries = json.loads((tmp_path / "annotations.json").read_text())[:-1]
    (tmp_path / "annotations.json").unlink()
    with open(tmp_path / "annotations.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "action"] + [f"{a}{k}" for k in range(1, 6) for a in "xy"])
        for e in entries:
            w.writerow([e["image"], e["action"]] + [v for p in e["keypoints"] for v in p])
    splits = build_task("functional_correspondence", tmp_path, seed=0)
    assert len(splits["train"]) == 2  # 4 images per action -> 2 train images -> 1 pair per action


def test_wrong_layout(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path}.*annotations\.json or annotations\.csv"):
        build_task("functional_correspondence", tmp_path)
