"""COCO builders: jigsaw canvas/patch rules and localization filters, on a tiny COCO layout."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from livr.data.build import Report, build_task
from livr.data.build.coco import decode_segmentation, mask_fill, rle_string_to_counts
from livr.data.build.common import box_iou
from livr.errors import DataError
from tests.data import fixtures as fx


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    info = fx.write_coco(root)
    fx.smooth_image(np.random.default_rng(9), 300, 200).save(root / "train2017" / "small.jpg")
    return root, info


def _mae(a: Image.Image, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a.convert("RGB"), dtype=float) - b.astype(float)).mean())


def test_jigsaw_canvas_patches_and_splits(coco):
    root, _ = coco
    report = Report()
    splits = build_task("jigsaw", root, {"train": 8, "validation": 4}, seed=0, report=report)
    assert [len(splits["train"]), len(splits["validation"])] == [8, 4]
    assert report.skipped["jigsaw: image smaller than the 400 x h canvas"] == 1
    fx.fits_features(splits["train"] + splits["validation"])
    fx.assert_disjoint(splits)
    for rec in splits["train"] + splits["validation"]:
        m = fx.meta(rec)
        first, *options = rec["images"]
        w, h = first.size
        assert w == 400 and 170 <= h <= 230 and h % 2 == 0
        assert np.asarray(first)[h // 2 :, w // 2 :].mean() < 8  # blacked-out quadrant
        assert all(o.size == (200, h // 2) for o in options)
        truth, other = m["truth_patch"], m["distractor_patch"]
        cx, cy = m["canvas"][:2]
        assert truth == [cx + 200, cy + h // 2, cx + 400, cy + h]
        assert _inter(other, m["canvas"]) > 0 and _inter(other, truth) == 0
        stem = m["source_images"][0].removeprefix("coco:")
        src = np.asarray(Image.open(next(root.glob(f"*2017/{stem}.jpg"))).convert("RGB"))
        k = "AB".index(rec["answer"])
        assert _mae(options[k], _crop(src, truth)) < 6 < _mae(options[1 - k], _crop(src, truth))
        assert _mae(options[1 - k], _crop(src, other)) < 6
        # Mirage's helper image: the completed canvas, the true piece in place
        assert rec["helper_image"].size == (w, h)
        assert _mae(rec["helper_image"], _crop(src, m["canvas"])) < 6


def _inter(a, b) -> float:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _crop(src: np.ndarray, box) -> np.ndarray:
    return src[box[1] : box[3], box[0] : box[2]]


def test_localization_filters_and_boxes(coco):
    root, info = coco
    report = Report()
    splits = build_task("localization", root, {"train": 7, "validation": 3}, seed=1, report=report)
    records = splits["train"] + splits["validation"]
    assert [len(splits["train"]), len(splits["validation"])] == [7, 3]
    fx.fits_features(records)
    fx.assert_disjoint(splits)
    used = {fx.meta(r)["annotation_id"] for r in records}
    assert used <= info["good"] and not used & info["bad"]
    for reason in (
        "crowd instance",
        "box area outside 15-50% of the image",
        "mask fills < 60% of the box",
    ):
        assert report.skipped[f"localization: {reason}"] > 0
    for rec in records:
        m = fx.meta(rec)
        gold = m["boxes"]["AB".index(rec["answer"])]
        other = m["boxes"][1 - "AB".index(rec["answer"])]
        assert 0.2 <= box_iou(gold, other) <= 0.5
        assert gold[2] - gold[0] == pytest.approx(240) and gold[3] - gold[1] == pytest.approx(150)
        assert "encloses the dog?" in rec["question"] and rec["choices"] == ["Box A", "Box B"]


def test_localization_is_deterministic(coco):
    root, _ = coco
    a = build_task("localization", root, {"train": 3, "validation": 1}, seed=5)
    b = build_task("localization", root, {"train": 3, "validation": 1}, seed=5)
    for ra, rb in zip(a["train"], b["train"]):
        assert ra["metadata"] == rb["metadata"] and ra["answer"] == rb["answer"]
        assert ra["images"][0].livr_bytes == rb["images"][0].livr_bytes


def test_mask_decoding():
    H, W = 30, 40
    rect = [[5, 5, 25, 5, 25, 20, 5, 20]]
    assert mask_fill(rect, [5, 5, 20, 15], (H, W)) > 0.95
    tri = [[0, 0, 40, 30, 0, 30]]
    assert mask_fill(tri, [0, 0, 40, 30], (H, W)) == pytest.approx(0.5, abs=0.05)
    mask = np.zeros((H, W), dtype=bool)
    mask[3:9, 10:30] = True
    mask[0, 0] = True
    rle = fx.coco_rle(mask)
    assert np.array_equal(decode_segmentation(rle, (H, W)), mask)
    assert rle_string_to_counts(fx.coco_rle_string(rle["counts"])) == rle["counts"]
    compressed = {"counts": fx.coco_rle_string(rle["counts"]), "size": [H, W]}
    assert np.array_equal(decode_segmentation(compressed, (H, W)), mask)


def test_wrong_layout_names_the_folder(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path}.*train2017"):
        build_task("jigsaw", tmp_path, {"train": 1, "validation": 0})
    (tmp_path / "val2017").mkdir()
    with pytest.raises(DataError, match=r"annotations.*instances_val2017\.json"):
        build_task("localization", tmp_path, {"train": 1, "validation": 0})
