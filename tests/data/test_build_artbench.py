"""ArtBench-10 builder: same-style positive, other-style negative, images untouched and unshared."""

from __future__ import annotations

import pytest

from livr.data.build import build_task
from livr.errors import DataError
from tests.data import fixtures as fx


def test_styles_answers_and_disjoint_images(tmp_path):
    base = fx.write_artbench(tmp_path)
    splits = build_task("art_style", tmp_path, {"train": 6, "validation": 2}, seed=0)
    assert len(splits["train"]) == 6 and len(splits["validation"]) == 2
    records = splits["train"] + splits["validation"]
    fx.fits_features(records)
    fx.assert_disjoint(splits)
    used = [s for r in records for s in fx.meta(r)["source_images"]]
    assert len(used) == len(set(used))
    for rec in records:
        ref, a, b = (s.removeprefix("artbench:") for s in fx.meta(rec)["source_images"])
        pos, neg = (a, b) if rec["answer"] == "A" else (b, a)
        assert _style(pos) == _style(ref) != _style(neg) and pos != ref
        for im, name in zip(rec["images"], (ref, a, b)):
            assert im.livr_bytes == (base / "train" / name).read_bytes()  # stored as released
    assert len({fx.meta(r)["reference_style"] for r in splits["train"]}) == 3  # styles cycle


def _style(name: str) -> str:
    return name.split("/")[0]


def test_wrong_layout(tmp_path):
    (tmp_path / "baroque").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path}.*train/"):
        build_task("art_style", tmp_path)
