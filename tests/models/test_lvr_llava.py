"""LVR's ROI on LLaVA-OneVision's anyres layout: base grid + unpadded tiles, newlines excluded."""

import pytest
import torch
from PIL import Image

from livr import load_backbone
from livr.data.roi import anyres_layout, anyres_roi_token_indices, anyres_token_count


@pytest.fixture(scope="module")
def lm():
    return load_backbone("tiny:llava_onevision", num_latents=0)


def loc_record(width, height, box):
    return {"id": "r", "task": "localization", "answer": "A", "question": "where?",
            "images": [Image.new("RGB", (width, height), (90, 20, 200))],
            "metadata": {"gold_box": list(box)}}


def placed_features(lm, vision):
    """What the model scatters into the record's <image> positions, in order."""
    inner = lm.base_model.model
    with torch.no_grad():
        out = inner.get_image_features(pixel_values=vision["pixel_values"], image_sizes=vision["image_sizes"],
                                       vision_feature_layer=inner.config.vision_feature_layer,
                                       vision_feature_select_strategy=inner.config.vision_feature_select_strategy,
                                       vision_aspect_ratio=inner.config.vision_aspect_ratio,
                                       batch_num_images=vision["batch_num_images"], return_dict=True)
    return torch.cat(list(out.pooler_output), dim=0), inner.image_newline


def vision_of(lm, record):
    proc = lm.processor
    text = proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}] * len(record["images"])
                                      + [{"type": "text", "text": "q"}]}], add_generation_prompt=True)
    out = proc(text=[text], images=[record["images"]], return_tensors="pt")
    n_tokens = int((out["input_ids"] == lm.adapter.image_token_id(proc)).sum())
    return out, n_tokens


# (width, height, box, expected): tiny = 56 px tiles, 14 px patches -> 4 x 4 base grid, then
# rows of tile features each followed by one newline feature
CASES = [
    # 2 tiles side by side, no padding: tile grid 4 x 8 (+ newline = 9 per row)
    (112, 56, (0, 0, 28, 28), [0, 4, 16, 17, 25, 26]),
    # 8 px of padding on top; the model's feature unpad keeps int(40 * 8 / 112) = 2 rows (tile
    # rows 1, 2), so the box's canvas rows 2 and 3 leave only row 2 (output row 1)
    (112, 40, (0, 30, 28, 40), [12, 25, 26]),
    # 18 px of padding: the feature unpad drops tile rows 0 and 3, leaving 2 rows
    (112, 20, (0, 0, 14, 20), [0, 4, 8, 12, 16, 25]),
]


@pytest.mark.parametrize("width,height,box,expected", CASES)
def test_roi_indices_of_known_geometry(lm, width, height, box, expected):
    record = loc_record(width, height, box)
    vision, n_tokens = vision_of(lm, record)
    roi = lm.adapter.roi_mapper(lm.base_model, lm.processor)(record, vision, "r")
    assert roi == expected
    feats, newline = placed_features(lm, vision)
    assert feats.shape[0] == n_tokens  # the model fills exactly the positions the processor made
    newlines = {i for i in range(n_tokens) if torch.equal(feats[i], newline.to(feats.dtype))}
    assert newlines and not newlines & set(roi)
    assert max(roi) < n_tokens


def test_two_images_have_base_grids_only(lm):
    im = Image.new("RGB", (56, 56))
    record = {"id": "r", "task": "visual_correspondence", "answer": "B", "question": "?",
              "images": [im, im], "metadata": {"ref_point": [7, 7], "candidate_points": [[50, 50], [49, 7]]}}
    vision, n_tokens = vision_of(lm, record)
    roi = lm.adapter.roi_mapper(lm.base_model, lm.processor)(record, vision, "r")
    assert n_tokens == 2 * 17
    # window of 0.2 * 56 px around (7, 7) -> base cell 0; around (49, 7) -> cell 3 of image 2
    assert roi == [0, 17 + 3]
    feats, _ = placed_features(lm, vision)
    assert feats.shape[0] == n_tokens


def test_pooled_tiles_anyres_max():
    # 2 x 2 tiles of a 4 x 4 base grid = 8 x 8 features; anyres_max_1 pools them to 4 x 4
    kw = dict(base_grid=4, tile_size=56, best_resolution=(112, 112), max_tiles=1)
    assert anyres_token_count((112, 112), **kw) == 16 + 4 * 5
    roi = anyres_roi_token_indices([(0, 0, 28, 28)], (112, 112), patch=14, **kw)
    assert roi == [0, 16]  # base cell 0, pooled cell (0, 0)
    roi = anyres_roi_token_indices([(84, 84, 112, 112)], (112, 112), patch=14, **kw)
    assert roi == [15, 16 + 3 * 5 + 3]


def test_pooled_layout_matches_the_model_and_processor():
    # anyres_max_1 on a 2 x 2 tile image pools 8 x 8 tile features to 4 x 4 (+ newlines)
    lm = load_backbone("tiny:llava_onevision", num_latents=0)
    lm.base_model.config.vision_aspect_ratio = lm.base_model.model.config.vision_aspect_ratio = "anyres_max_1"
    lm.processor.vision_aspect_ratio = "anyres_max_1"
    record = loc_record(112, 112, (84, 84, 112, 112))
    vision, n_tokens = vision_of(lm, record)
    assert n_tokens == 16 + 4 * 5
    feats, _ = placed_features(lm, vision)
    assert feats.shape[0] == n_tokens
    assert lm.adapter.roi_mapper(lm.base_model, lm.processor)(record, vision, "r") == [15, 16 + 3 * 5 + 3]


def test_token_count_at_checkpoint_scale():
    """384 px tiles, 27 x 27 base grid, pinpoints up to 6 x 6 tiles, anyres_max_9 (the hub
    checkpoints): the count agrees with the processor's for wide, tall and pooled images."""
    from transformers.image_processing_utils import select_best_resolution

    from livr.models.backbones.llava_onevision import ADAPTER

    proc = ADAPTER.tiny_processor()
    pinpoints = [[384 * i, 384 * j] for i in range(1, 7) for j in range(1, 7)]
    proc.image_processor.image_grid_pinpoints = pinpoints
    proc.num_image_tokens, proc.vision_aspect_ratio = 729, "anyres_max_9"
    for w, h in [(384, 384), (640, 480), (480, 640), (1920, 1080), (300, 2000), (2304, 2304), (1000, 123)]:
        best = tuple(select_best_resolution((h, w), pinpoints))
        ours = anyres_token_count((w, h), base_grid=27, tile_size=384, best_resolution=best, max_tiles=9)
        assert ours == proc._get_number_of_features(h, w, 384, 384), (w, h)
        # a box over the whole image takes every feature but the newlines (one per tile row)
        rows = anyres_layout((w, h), base_grid=27, tile_size=384, best_resolution=best, max_tiles=9)[2]
        newlines = {729 + r * ((ours - 729) // rows) + (ours - 729) // rows - 1 for r in range(rows)}
        roi = anyres_roi_token_indices([(0, 0, w, h)], (w, h), base_grid=27, patch=14, tile_size=384,
                                       best_resolution=best, max_tiles=9)
        assert set(roi) == set(range(ours)) - newlines, (w, h)
