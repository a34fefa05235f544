"""Dense auxiliary targets for the vision tower during pretraining.

The instruction mix supervises one short answer per picture, a thin signal for a vision tower
trained from random init: colour is learned from it within minutes, shape identity is not
(docs/pretraining.md). The mix knows every object it drew, so each image token (one merged
2x2 patch cell of the Qwen2.5-VL tower) can be told what lies under it: the cell holding an
object's centre gets that object's shape and colour, cells that touch no object "background". Two linear heads read the tower's
merged output (captured with a forward hook on `model.model.visual`, a public PyTorch extension
point) and add a cross-entropy to the answer loss. The heads are thrown away after pretraining;
the saved model is a plain Qwen2.5-VL.

Other cells that an object may touch (their centre closer to the object's centre than its
circumradius plus the cell's half-diagonal) are ignored: they hold part of an object.
"""

from __future__ import annotations

import numpy as np
import torch

from livr.pretrain.scenes import NAMED_COLOURS, SHAPES

IGNORE = -100
SHAPE_CLASSES = ("background", *SHAPES)
COLOUR_CLASSES = ("background", *NAMED_COLOURS)


def cell_labels(objects: list[dict], image_size: int, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(shape ids, colour ids) of a (rows x cols) grid of cells over a square picture of
    `image_size` pixels, row-major; later objects are drawn on top of earlier ones."""
    rows, cols = grid
    ys = (np.arange(rows) + 0.5) * image_size / rows
    xs = (np.arange(cols) + 0.5) * image_size / cols
    cy, cx = np.meshgrid(ys, xs, indexing="ij")
    half_diagonal = 0.5 * np.hypot(image_size / rows, image_size / cols)
    shape = np.zeros((rows, cols), dtype=np.int64)
    colour = np.zeros((rows, cols), dtype=np.int64)
    for o in objects:
        touched = np.hypot(cx - o["cx"], cy - o["cy"]) < o["r"] + half_diagonal
        shape[touched] = colour[touched] = IGNORE
    for o in objects:  # after the ignores: a centre cell wins over a neighbour's edge
        row = min(int(o["cy"] * rows / image_size), rows - 1)
        col = min(int(o["cx"] * cols / image_size), cols - 1)
        shape[row, col] = SHAPE_CLASSES.index(o["shape"])
        colour[row, col] = COLOUR_CLASSES.index(o["colour"])
    return shape.reshape(-1), colour.reshape(-1)


def batch_labels(records: list[dict], image_grid_thw: torch.Tensor, merge: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels for every merged image token of a batch, in the order the tower emits them
    (records in order, their images in order). Images without object metadata are ignored."""
    shapes, colours = [], []
    grids = iter(image_grid_thw.tolist())
    for record in records:
        metas = record.get("metadata", {}).get("images") or []
        for k in range(len(record["images"])):
            _, h, w = next(grids)
            grid = (h // merge, w // merge)
            meta = metas[k] if k < len(metas) else None
            if meta is None or "objects" not in meta:
                s = c = np.full(grid[0] * grid[1], IGNORE, dtype=np.int64)
            else:
                s, c = cell_labels(meta["objects"], record["metadata"]["image_size"], grid)
            shapes.append(s)
            colours.append(c)
    return torch.from_numpy(np.concatenate(shapes)), torch.from_numpy(np.concatenate(colours))


class DenseHeads(torch.nn.Module):
    """Two linear heads over the vision tower's merged output, and the hook that feeds them."""

    def __init__(self, model, hidden: int):
        super().__init__()
        self.shape = torch.nn.Linear(hidden, len(SHAPE_CLASSES))
        self.colour = torch.nn.Linear(hidden, len(COLOUR_CLASSES))
        self.features: torch.Tensor | None = None
        self._hook = model.model.visual.register_forward_hook(self._capture)

    def _capture(self, module, inputs, output) -> None:
        self.features = output.pooler_output

    def loss(self, records: list[dict], image_grid_thw: torch.Tensor) -> torch.Tensor:
        if self.features is None:
            raise RuntimeError("dense heads: the vision tower did not run in this step")
        shape, colour = batch_labels(records, image_grid_thw)
        if len(shape) != len(self.features):
            raise RuntimeError(f"dense heads: {len(shape)} cell labels for {len(self.features)} image tokens")
        feats, self.features = self.features, None
        total = feats.new_zeros(())
        for head, labels in ((self.shape, shape), (self.colour, colour)):
            if (labels != IGNORE).any():  # a batch of pictures without objects has nothing to say
                total = total + torch.nn.functional.cross_entropy(head(feats), labels, ignore_index=IGNORE)
        return total

    def remove(self) -> None:
        self._hook.remove()
