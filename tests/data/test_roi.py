"""ROIs for LVR (livr.data.roi): boxes per task from the records' metadata, refusal of tasks
without one, and the mapping onto Qwen-VL's merged image tokens, checked on the processor's own
pixel patches (only the ROI's tokens change when only the ROI changes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from livr.data.roi import (
    WINDOW_FRACTION,
    RoiError,
    record_roi_tokens,
    require_roi,
    roi_problems,
    roi_boxes,
    roi_token_indices,
)
from livr.data.synth import generate_split, shrink_images
from livr.data.tasks import TASKS, TASKS_WITH_ROI
from livr.errors import DataError

PAPER_ROI_TASKS = ("counting", "localization", "visual_correspondence", "semantic_correspondence",
                   "functional_correspondence", "relative_reflectance")


def test_tasks_with_roi():
    assert set(TASKS_WITH_ROI) == {*PAPER_ROI_TASKS, "visual_cot"}
    assert all(TASKS[t].has_roi for t in TASKS_WITH_ROI)


@pytest.mark.parametrize("task", ["jigsaw", "art_style", "visual_similarity", "vsp", "mmvp",
                                  "vstar_direct_attributes", "no_such_task"])
def test_tasks_without_roi_are_refused_by_name(task):
    with pytest.raises(RoiError, match=rf"task '{task}' has no region of interest.*localization"):
        require_roi(task)


def test_roi_problems_lists_every_task_without_roi():
    problems = roi_problems(["localization", "jigsaw", "counting", "vsp"])
    assert len(problems) == 2 and "'jigsaw'" in problems[0] and "'vsp'" in problems[1]
    assert roi_problems(list(TASKS_WITH_ROI)) == []


def test_record_of_a_task_without_roi_is_refused():
    record = generate_split("jigsaw", "train", 1, 0)[0]
    with pytest.raises(RoiError, match="jigsaw"):
        roi_boxes(record)


def _centre(box):
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


@pytest.mark.parametrize("task", PAPER_ROI_TASKS)
def test_synth_roi_is_the_targets(task):
    for record in generate_split(task, "train", 2, 0):
        meta = json.loads(record["metadata"])
        boxes = roi_boxes(record)
        assert len(boxes) == len(record["images"])
        sizes = [im.size for im in record["images"]]
        for image_boxes, (w, h) in zip(boxes, sizes):
            for x0, y0, x1, y1 in image_boxes:
                assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        letter = "ABCD".find(record["answer"])
        if task == "localization":
            assert boxes == [[tuple(map(float, meta["gold_box"]))]]
            assert boxes[0][0] != tuple(map(float, meta["distractor_box"]))
        elif task == "counting":
            assert len(boxes[0]) == int(record["answer"])  # one box per counted object, no distractor
            assert {tuple(d["box"]) for d in meta["distractors"]}.isdisjoint(
                {tuple(map(int, b)) for b in boxes[0]})
        elif task == "relative_reflectance":
            assert len(boxes[0]) == 2
            for box, point in zip(boxes[0], meta["points"]):
                assert box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]
                inside = all(0 < v for v in box[:2]) and box[2] < sizes[0][0] and box[3] < sizes[0][1]
                assert not inside or np.allclose(_centre(box), point)  # centred unless clipped
        else:  # correspondence: REF on image 1, the true match (the answer's candidate) on image 2
            if "ref_point" in meta:
                ref, match = meta["ref_point"], meta["candidate_points"][letter]
            else:
                ref = meta["keypoints_1"][meta["ref_index"]]
                match = meta["keypoints_2"][meta["ref_index"]]
            for box, point, (w, h) in zip((boxes[0][0], boxes[1][0]), (ref, match), sizes):
                side = WINDOW_FRACTION * min(w, h)
                assert box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]
                assert box[2] - box[0] <= side + 1e-6 and box[3] - box[1] <= side + 1e-6


def test_shrunk_records_scale_their_roi():
    (record,) = generate_split("localization", "train", 1, 0)
    gold = json.loads(record["metadata"])["gold_box"]
    (w, h) = record["images"][0].size
    (small,) = shrink_images([dict(record)], 112)
    meta = json.loads(small["metadata"])
    assert meta["source_image_sizes"] == [[w, h]]
    sw, sh = small["images"][0].size
    (box,) = roi_boxes(small)[0]
    assert np.allclose(box, [gold[0] * sw / w, gold[1] * sh / h, gold[2] * sw / w, gold[3] * sh / h])
    # not shrunk: metadata unchanged (byte for byte)
    (same,) = shrink_images([dict(record)], 1000)
    assert same["metadata"] == record["metadata"]


def test_missing_metadata_is_a_data_error_naming_the_record():
    (record,) = generate_split("localization", "train", 1, 0)
    record = {**record, "metadata": json.dumps({"object": "x"})}
    with pytest.raises(DataError, match="localization-train-000000.*no usable ROI"):
        roi_boxes(record)


def test_token_indices_literal():
    # 112 x 84 image, no resize: patches (1, 6, 8) -> merged tokens 3 rows x 4 columns of 28 px
    grid = (1, 6, 8)
    assert roi_token_indices([(30, 0, 56, 28)], (112, 84), grid) == [1]
    assert roi_token_indices([(27, 27, 29, 29)], (112, 84), grid) == [0, 1, 4, 5]
    assert roi_token_indices([(0, 56, 112, 84)], (112, 84), grid) == [8, 9, 10, 11]
    # the same boxes on a 224 x 168 original resized to 112 x 84
    assert roi_token_indices([(60, 0, 112, 56)], (224, 168), grid) == [1]
    assert roi_token_indices([(60, 0, 112, 56)], (224, 168), grid, resized_size=(112, 84)) == [1]
    with pytest.raises(ValueError, match="does not match"):
        roi_token_indices([(0, 0, 1, 1)], (224, 168), grid, resized_size=(224, 168))
    # Qwen3-VL: 16 px patches, 32 px cells
    assert roi_token_indices([(33, 0, 40, 8)], (128, 64), (1, 4, 8), patch=16) == [1]


def _processor(family: str = "qwen2_5_vl"):
    from livr.models.backbones import get_adapter

    return get_adapter(family).tiny_processor(128 * 128).image_processor


def _token_patches(processor, image: Image.Image):
    out = processor(images=[image], return_tensors="np")
    grid = [int(v) for v in out["image_grid_thw"][0]]
    patches = np.asarray(out["pixel_values"])
    return patches.reshape(-1, 4, patches.shape[-1]), grid  # merged token j <- rows 4j..4j+3


def _changed_tokens(processor, a: Image.Image, b: Image.Image) -> tuple[set[int], list[int]]:
    pa, grid = _token_patches(processor, a)
    pb, _ = _token_patches(processor, b)
    return set(np.flatnonzero(np.abs(pa - pb).reshape(len(pa), -1).max(axis=1) > 1e-6).tolist()), grid


def _perturb(image: Image.Image, box, margin: int) -> Image.Image:
    """`image` with the pixels inside `box` (shrunk by `margin`) inverted."""
    arr = np.asarray(image).copy()
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    inner = arr[y0 + margin:y1 - margin, x0 + margin:x1 - margin]
    arr[y0 + margin:y1 - margin, x0 + margin:x1 - margin] = 255 - inner
    return Image.fromarray(arr)


@pytest.mark.parametrize("family,patch,size", [
    ("qwen2_5_vl", 14, (112, 84)),  # no resize: 28 px cells
    ("qwen2_5_vl", 14, (300, 220)),  # resized to the 28 px grid
    ("qwen3_vl", 16, (128, 96)),  # Qwen3-VL: 32 px cells, no resize
])
def test_only_roi_tokens_change_when_only_the_roi_changes(family, patch, size):
    processor = _processor(family)
    cell = 2 * patch
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    box = (0.3 * size[0], 0.25 * size[1], 0.62 * size[0], 0.7 * size[1])
    resized = size[0] % cell or size[1] % cell
    margin = 6 if resized else 0  # resampling spreads a change by a few pixels
    changed, grid = _changed_tokens(processor, image, _perturb(image, box, margin))
    roi = set(roi_token_indices([box], size, grid, patch=patch))
    assert changed and changed <= roi
    if not resized:  # and changing every pixel outside the ROI's cells leaves its tokens alone
        arr = np.asarray(image).copy()
        rows, cols = np.mgrid[0:size[1], 0:size[0]]
        token = (rows // cell) * (size[0] // cell) + cols // cell
        outside_cells = ~np.isin(token, sorted(roi))
        arr[outside_cells] = 255 - arr[outside_cells]
        outside, _ = _changed_tokens(processor, image, Image.fromarray(arr))
        assert outside and not (outside & roi)


def test_synth_localization_record_tokens():
    processor = _processor()
    (record,) = shrink_images(generate_split("localization", "train", 1, 3, level="easy"), 112)
    (box,) = roi_boxes(record)[0]
    image = record["images"][0]
    changed, grid = _changed_tokens(processor, image, _perturb(image, box, 3))
    (tokens,) = record_roi_tokens(record, [grid])
    assert changed and changed <= set(tokens)
    assert len(tokens) < grid[1] * grid[2] // 4  # the ROI is part of the image, not all of it


def test_record_roi_tokens_flat_offsets():
    (record,) = generate_split("visual_correspondence", "train", 1, 0)
    w, h = record["images"][0].size
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    rh, rw = smart_resize(h, w, 28, 28 * 28, 112 * 112)
    grid = [1, rh // 14, rw // 14]
    per_image = record_roi_tokens(record, [grid, grid])
    flat = record_roi_tokens(record, [grid, grid], flat=True)
    n = grid[1] * grid[2] // 4
    assert flat == per_image[0] + [n + i for i in per_image[1]]
    assert per_image[0] and per_image[1]


def test_built_records_have_their_roi(tmp_path):
    """The real-source builders' records (fixtures in the official layouts) give the same ROIs:
    COCO localization the answer's box, the correspondence builders REF and the true match,
    MID the two points."""
    from livr.data.build import build_task
    from tests.data import fixtures as fx

    fx.write_coco(tmp_path / "coco")
    fx.write_hpatches(tmp_path / "hp")
    fx.write_spair(tmp_path / "spair")
    fx.write_funkpoint(tmp_path / "funk")
    fx.write_mid(tmp_path / "mid")
    built = {
        "localization": build_task("localization", tmp_path / "coco", {"train": 2, "validation": 0}, seed=0),
        "visual_correspondence": build_task("visual_correspondence", tmp_path / "hp",
                                            {"train": 2, "validation": 0, "test": 0}, seed=0),
        "semantic_correspondence": build_task("semantic_correspondence", tmp_path / "spair",
                                              {"train": 2, "validation": 0}, seed=0),
        "functional_correspondence": build_task("functional_correspondence", tmp_path / "funk",
                                                {"train": 2, "validation": 0, "test": 0}, seed=0),
        "relative_reflectance": build_task("relative_reflectance", tmp_path / "mid",
                                           {"train": 2, "validation": 0}, seed=0),
    }
    for task, splits in built.items():
        assert splits["train"], task
        for record in splits["train"]:
            meta = json.loads(record["metadata"])
            boxes = roi_boxes(record)
            letter = "ABCD".find(record["answer"])
            if task == "localization":
                assert boxes == [[tuple(meta["boxes"][letter])]]
            elif task == "relative_reflectance":
                assert len(boxes[0]) == 2
                assert all(b[0] <= p[0] <= b[2] and b[1] <= p[1] <= b[3] for b, p in zip(boxes[0], meta["points"]))
            else:
                for box, point in zip((boxes[0][0], boxes[1][0]), (meta["ref_point"], meta["candidate_points"][letter])):
                    assert box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]
