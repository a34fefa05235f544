"""Dense cell targets for the vision tower: labels agree with the pixels, and with the tokens."""

from __future__ import annotations

import numpy as np
import torch

from livr.pretrain import dense
from livr.pretrain.mix import generate_mix
from livr.pretrain.scenes import NAMED_COLOURS


def test_every_object_labels_the_cell_holding_its_centre():
    checked = 0
    for record in generate_mix(60, seed=3, level=1, split="train"):
        for image, meta in zip(record["images"], record["metadata"].get("images") or []):
            if "objects" not in meta:
                continue
            pixels = np.asarray(image.convert("RGB"), dtype=float)
            size = pixels.shape[0]
            _, colours = dense.cell_labels(meta["objects"], size, (4, 4))
            assert (colours > 0).sum() == len({(int(o["cy"] * 4 / size), int(o["cx"] * 4 / size))
                                                for o in meta["objects"]})
            for cell, label in enumerate(colours):
                if label <= 0:
                    continue
                # the object centred in this cell has the labelled colour at its centre pixel
                (o,) = [o for o in meta["objects"] if (int(o["cy"] * 4 / size), int(o["cx"] * 4 / size))
                        == (cell // 4, cell % 4) and o["colour"] == dense.COLOUR_CLASSES[label]][-1:]
                want = np.array(NAMED_COLOURS[o["colour"]], dtype=float)
                assert np.abs(pixels[int(o["cy"]), int(o["cx"])] - want).max() < 40, (record["id"], cell)
                checked += 1
    assert checked > 20


def test_labels_cover_every_image_token_of_a_batch():
    from livr.pretrain.train import PretrainConfig, build

    lm = build(PretrainConfig(out="unused"))
    heads = dense.DenseHeads(lm.model, lm.model.config.text_config.hidden_size)
    records = generate_mix(6, seed=0, level=2, split="train")
    batch = lm.collator("standard", max_length=1024)(records)
    answer_loss = lm(batch).loss
    n_image_tokens = int((batch["input_ids"] == lm.model.config.image_token_id).sum())
    loss = heads.loss(records, batch["image_grid_thw"])
    assert heads.features is None and torch.isfinite(loss) and loss > 0
    shapes, _ = dense.batch_labels(records, batch["image_grid_thw"])
    assert len(shapes) == n_image_tokens
    (answer_loss + loss).backward()
    assert heads.shape.weight.grad.abs().sum() > 0
    heads.remove()
