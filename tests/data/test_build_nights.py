"""NIGHTS builder: votes >= 6, majority label, candidates in random order, splits from data.csv."""

from __future__ import annotations

import csv

import pytest

from livr.data.build import build_task
from livr.errors import DataError
from tests.data import fixtures as fx


def test_votes_filter_and_labels(tmp_path):
    info = fx.write_nights(tmp_path)
    splits = build_task("visual_similarity", tmp_path, seed=0)
    assert len(splits["train"]) == 6 and len(splits["validation"]) == 3
    fx.fits_features(splits["train"] + splits["validation"])
    fx.assert_disjoint(splits)
    rows = {r["id"]: r for r in csv.DictReader(open(info["root"] / "data.csv"))}
    for split, recs in splits.items():
        for rec in recs:
            m = fx.meta(rec)
            assert m["nights_id"] not in info["dropped"]
            row = rows[m["nights_id"]]
            assert row["split"] == {"train": "train", "validation": "val"}[split]
            closer = (
                row["left_path"]
                if float(row["left_vote"]) > float(row["right_vote"])
                else row["right_path"]
            )
            ref, a, b = (s.removeprefix("nights:") for s in m["source_images"])
            assert ref == row["ref_path"] and {a, b} == {row["left_path"], row["right_path"]}
            assert (a if rec["answer"] == "A" else b) == closer
    assert {r["answer"] for r in splits["train"]} == {"A", "B"}


def test_missing_column(tmp_path):
    info = fx.write_nights(tmp_path)
    text = (info["root"] / "data.csv").read_text().replace("votes,", "n_votes,", 1)
    (info["root"] / "data.csv").write_text(text)
    with pytest.raises(DataError, match=r"data\.csv: missing columns \['votes'\]"):
        build_task("visual_similarity", tmp_path)


def test_wrong_layout(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path}.*data\.csv"):
        build_task("visual_similarity", tmp_path)
