"""SPair-71k builder: >= 4 valid keypoints, REF at a keypoint, candidates from the annotations."""

from __future__ import annotations

import json

import pytest

from livr.data.build import Report, build_task
from livr.errors import DataError
from tests.data import fixtures as fx


def test_filters_labels_and_disjoint_images(tmp_path):
    info = fx.write_spair(tmp_path)
    report = Report()
    splits = build_task(
        "semantic_correspondence", tmp_path, {"train": 4, "validation": 2}, seed=0, report=report
    )
    records = splits["train"] + splits["validation"]
    assert len(splits["train"]) == 4 and len(splits["validation"]) == 2
    fx.fits_features(records)
    fx.assert_disjoint(splits)
    assert report.skipped["spair: pair with fewer than 4 valid keypoint correspondences"] > 0
    for rec in records:
        m = fx.meta(rec)
        assert m["pair_file"] not in info["short_pairs"]
        pair = json.loads((info["root"] / "PairAnnotation" / "trn" / m["pair_file"]).read_text())
        k = pair["kps_ids"].index(m["ref_keypoint"])
        assert m["ref_point"] == pair["src_kps"][k]
        cands = m["candidate_points"]
        assert cands["ABCD".index(rec["answer"])] == pair["trg_kps"][k]
        assert all(c in pair["trg_kps"] for c in cands) and len({tuple(c) for c in cands}) == 4
        assert [im.size for im in rec["images"]] == [(160, 120), (160, 120)]  # original resolution


def test_wrong_layout(tmp_path):
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path}.*PairAnnotation/trn"):
        build_task("semantic_correspondence", tmp_path)
