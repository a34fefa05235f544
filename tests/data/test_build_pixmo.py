"""PixMo-Count builder: counts 2..10 about uniform, missing / bad-sha images skipped and counted."""

from __future__ import annotations

from collections import Counter

import pytest

from livr.data.build import Report, build_task, load_pixmo_count_test
from livr.errors import DataError
from tests.data import fixtures as fx


def test_train_counts_and_dead_images(tmp_path):
    info = fx.write_pixmo(tmp_path)
    report = Report()
    splits = build_task("counting", tmp_path, {"train": 9}, seed=0, report=report)
    train = splits["train"]
    counts = Counter(int(r["answer"]) for r in train)
    assert sorted(counts) == list(range(2, 11)) and set(counts.values()) == {1}  # one per count
    fx.fits_features(train + splits["validation"] + splits["test"])
    urls = {fx.meta(r)["image_url"] for recs in splits.values() for r in recs}
    assert not urls & (info["missing"] | info["bad_sha"])
    assert urls & info["by_url"]  # files named by the URL's basename are found
    assert (
        report.skipped["pixmo-count: image not in the images folder (dead URL or not downloaded)"]
        > 0
    )
    assert report.skipped["pixmo-count: image file fails its sha256 check"] > 0
    assert len(splits["validation"]) == 4 and len(splits["test"]) == 5  # official minus missing
    rec = train[0]
    assert (
        rec["choices"] == []
        and rec["prompt"] == "How many apples are in the image? Answer with a single number."
    )


def test_full_train_is_balanced(tmp_path):
    fx.write_pixmo(tmp_path)
    train = build_task("counting", tmp_path, {"train": None}, seed=0)["train"]
    counts = Counter(int(r["answer"]) for r in train)
    assert set(counts) <= set(range(2, 11)) and max(counts.values()) <= 3


def test_test_loader_and_images_option(tmp_path):
    fx.write_pixmo(tmp_path / "src")
    (tmp_path / "src" / "images").rename(tmp_path / "imgs")
    test = load_pixmo_count_test(tmp_path / "src", images=tmp_path / "imgs")
    assert len(test) == 5 and all(r["id"].startswith("counting-test-") for r in test)
    with pytest.raises(DataError, match=r"src/images.*sha256"):
        load_pixmo_count_test(tmp_path / "src")


def test_wrong_layout(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path}.*data/test-00000-of-0000N\.parquet"):
        load_pixmo_count_test(tmp_path)


def test_train_points_give_the_counting_roi(tmp_path):
    from livr.data.roi import WINDOW_FRACTION, roi_boxes

    fx.write_pixmo(tmp_path)
    splits = build_task("counting", tmp_path, {"train": 9}, seed=0)
    for record in splits["train"]:
        assert fx.meta(record)["points"] == [[1.0, 2.0]] * int(record["answer"])
        (boxes,) = roi_boxes(record)
        side = WINDOW_FRACTION * min(record["images"][0].size) / 2
        assert boxes == [(0.0, 0.0, 1.0 + side, 2.0 + side)] * int(record["answer"])
    for record in splits["test"]:  # the eval splits have no points: no ROI, said per record
        assert "points" not in fx.meta(record)
        with pytest.raises(DataError, match="no usable ROI"):
            roi_boxes(record)
