"""Regions of interest (ROI) for Latent Visual Reasoning (LVR): which image tokens a record's
latent steps reconstruct.

LVR's SFT stage supervises its latent steps with the visual tokens of a question's ROI. Here the
ROI comes from each record's own metadata, as pixel boxes (x0, y0, x1, y1; x1, y1 exclusive) per
image, and is then mapped onto the backbone's merged image-token grid.

What each task uses (`roi_boxes`):

| task | image 1 | image 2 |
|------|---------|---------|
| localization | the target object's box (synth `gold_box`; COCO build: `boxes[answer]`) | - |
| counting | the box of every counted (target) object (synth `boxes`); PixMo-Count: a window around each annotated point (`points`) | - |
| visual_correspondence | a window around REF (`ref_point`) | a window around the true match (`candidate_points[answer]`) |
| semantic_correspondence, functional_correspondence | a window around REF (`keypoints_1[ref_index]` or `ref_point`) | a window around the true match (`keypoints_2[...]` or `candidate_points[answer]`) |
| relative_reflectance | windows around points A and B (`points`) | - |
| visual_cot | Visual-CoT's annotated box(es) (`roi_boxes`) | - |

A window is a square of `WINDOW_FRACTION` (0.2) of the image's shorter side, centred on the point
and clipped to the image. Distractors (the other box, the other candidates, shapes of another
kind) are never part of the ROI. jigsaw, art_style, visual_similarity and vsp have no ROI (their
metadata has no boxes or points of the images the model sees: jigsaw's box marks the blacked-out
hole), nor do the eval-only benchmarks; `require_roi(task)` refuses them by name.

Token mapping (`roi_token_indices`): Qwen2.5-VL's processor resizes an image to a multiple of 28
pixels (`smart_resize`), cuts it into 14 px patches (`image_grid_thw` = (t, h, w) patches) and the
merger turns each 2 x 2 block of patches into one language-model token, so token j (raster
order over the (h/2, w/2) grid) covers a 28 x 28 cell of the resized image (Qwen3-VL: 16 px
patches, 32 px cells). A token is in the ROI when its cell intersects a box scaled from the
original to the resized size. In `pixel_values` the 4 rows [4j, 4j + 4) are token j's patches.

LLaVA-OneVision (`anyres_roi_token_indices`): an image's `<image>` features are its base grid
(g x g, the whole image stretched to one tile, raster order), then, for a single-image record,
the anyres tile grid (best pinpoint resolution, aspect kept, centre-padded; tiles side by side),
minus the rows/columns the model's unpad step drops, pooled under `anyres_max_N`, each row
followed by one newline feature. A feature is in the ROI when its patch intersects a box;
newline features never are. Multi-image records: each image's base grid plus one newline.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from livr.data.tasks import TASKS, TASKS_WITH_ROI
from livr.errors import DataError, LivrError

WINDOW_FRACTION = 0.2

Box = tuple[float, float, float, float]


class RoiError(LivrError, ValueError):
    """A task (or record) without the region of interest LVR needs."""


def roi_problems(tasks: Sequence[str]) -> list[str]:
    """One message per task without an ROI (for config validation that reports every problem)."""
    return [
        f"task {task!r} has no region of interest for LVR (its records have no target boxes or "
        f"points); LVR trains only on tasks with an ROI: {', '.join(TASKS_WITH_ROI)}"
        for task in tasks if task not in TASKS or not TASKS[task].has_roi
    ]


def require_roi(task: str) -> None:
    """RoiError unless `task`'s records carry an ROI (what `--method lvr` checks for each task)."""
    problems = roi_problems([task])
    if problems:
        raise RoiError(problems[0])


def _image_size(image) -> tuple[int, int]:
    """(width, height) of a PIL image or of an encoded {'bytes'|'path'} image."""
    if hasattr(image, "size") and not isinstance(image, dict):
        return tuple(image.size)
    import io

    from PIL import Image

    if isinstance(image, dict) and image.get("bytes") is not None:
        with Image.open(io.BytesIO(image["bytes"])) as im:
            return im.size
    if isinstance(image, dict) and image.get("path"):
        with Image.open(image["path"]) as im:
            return im.size
    raise DataError(f"cannot read the size of image {image!r}")


def window(point: Sequence[float], size: tuple[int, int], fraction: float = WINDOW_FRACTION) -> Box:
    """The square of `fraction` of the shorter side centred on `point`, clipped to the image."""
    width, height = size
    half = fraction * min(width, height) / 2
    x, y = float(point[0]), float(point[1])
    return (max(0.0, x - half), max(0.0, y - half), min(float(width), x + half), min(float(height), y + half))


def _answer_index(record: dict) -> int:
    return "ABCDEFGH".index(str(record["answer"]).strip())


def _boxes(record: dict, meta: dict, sizes: list[tuple[int, int]]) -> list[list[Box]]:
    task = record["task"]
    out: list[list[Box]] = [[] for _ in sizes]
    if task == "localization":
        gold = meta["gold_box"] if "gold_box" in meta else meta["boxes"][_answer_index(record)]
        out[0] = [tuple(map(float, gold))]
    elif task == "counting":
        if meta.get("boxes"):
            out[0] = [tuple(map(float, b)) for b in meta["boxes"]]
        else:
            out[0] = [window(p, sizes[0]) for p in meta["points"]]
    elif task in ("visual_correspondence", "semantic_correspondence", "functional_correspondence"):
        if "keypoints_1" in meta:  # synth semantic / functional: keypoint lists and the REF index
            ref = meta["keypoints_1"][meta["ref_index"]]
            match = meta["keypoints_2"][meta["candidate_indices"][_answer_index(record)]]
        else:
            ref, match = meta["ref_point"], meta["candidate_points"][_answer_index(record)]
        out[0], out[1] = [window(ref, sizes[0])], [window(match, sizes[1])]
    elif task == "relative_reflectance":
        out[0] = [window(p, sizes[0]) for p in meta["points"]]
    elif task == "visual_cot":
        out[0] = [tuple(map(float, b)) for b in meta["roi_boxes"]]
    return out


def roi_boxes(record: dict[str, Any], image_sizes: Sequence[tuple[int, int]] | None = None) -> list[list[Box]]:
    """The ROI of `record` as pixel boxes of its images, one list per image (empty for an image
    without ROI); boxes made before `shrink_images` are scaled to the shrunk images.

    `image_sizes` ((width, height) per image) defaults to the record's images. RoiError if the
    task has none; DataError naming the record if its metadata lacks the fields its task needs.
    """
    require_roi(record.get("task"))
    sizes = [tuple(s) for s in image_sizes] if image_sizes is not None else [
        _image_size(im) for im in record["images"]]
    meta = record.get("metadata") or {}
    meta = json.loads(meta) if isinstance(meta, str) else meta
    # boxes and points are in the frame the images were made in (before `shrink_images`)
    frames = [tuple(s) for s in meta.get("source_image_sizes", sizes)]
    try:
        boxes = _boxes(record, meta, frames)
    except (KeyError, IndexError, ValueError, TypeError) as err:
        raise DataError(
            f"record {record.get('id')!r} ({record['task']}) has no usable ROI in its metadata "
            f"({type(err).__name__}: {err}); see livr.data.roi for the fields each task needs"
        ) from None
    boxes = [[(b[0] * w / fw, b[1] * h / fh, b[2] * w / fw, b[3] * h / fh) for b in image_boxes]
             if (fw, fh) != (w, h) else image_boxes
             for image_boxes, (fw, fh), (w, h) in zip(boxes, frames, sizes)]
    for image_boxes, (width, height) in zip(boxes, sizes):
        for b in image_boxes:
            if not (b[0] < b[2] and b[1] < b[3] and b[2] > 0 and b[3] > 0 and b[0] < width and b[1] < height):
                raise DataError(f"record {record.get('id')!r} has ROI box {list(b)} outside its "
                                f"{width}x{height} image or empty")
    return boxes


def token_grid(grid_thw: Sequence[int], merge: int = 2) -> tuple[int, int]:
    """(rows, columns) of merged language-model tokens of one image from its `image_grid_thw`."""
    t, h, w = (int(v) for v in grid_thw)
    if h % merge or w % merge:
        raise ValueError(f"image_grid_thw {list(grid_thw)} is not a multiple of merge size {merge}")
    return h // merge, w // merge


def roi_token_indices(boxes: Sequence[Box], image_size: tuple[int, int], grid_thw: Sequence[int], *,
                      patch: int = 14, merge: int = 2,
                      resized_size: tuple[int, int] | None = None) -> list[int]:
    """Indices (raster order, within this image's tokens) of the merged tokens whose cells
    intersect any of `boxes` (pixels of the original `image_size` = (width, height)).

    `grid_thw` is the processor's `image_grid_thw` row of the image; the resized size defaults to
    (w * patch, h * patch) from it (pass `resized_size` = (width, height) to check it)."""
    rows, cols = token_grid(grid_thw, merge)
    cell = patch * merge
    width, height = image_size
    rw, rh = resized_size if resized_size is not None else (int(grid_thw[2]) * patch, int(grid_thw[1]) * patch)
    if (rw, rh) != (cols * cell, rows * cell):
        raise ValueError(f"resized size {(rw, rh)} does not match image_grid_thw {list(grid_thw)} "
                         f"at patch {patch}, merge {merge}")
    sx, sy = rw / width, rh / height
    picked: set[int] = set()
    for x0, y0, x1, y1 in boxes:
        # cells [c * cell, (c + 1) * cell) that overlap [x0, x1) after scaling
        c0, c1 = max(0, int(x0 * sx // cell)), min(cols, -int(-(x1 * sx) // cell))
        r0, r1 = max(0, int(y0 * sy // cell)), min(rows, -int(-(y1 * sy) // cell))
        picked.update(r * cols + c for r in range(r0, r1) for c in range(c0, c1))
    return sorted(picked)


def record_roi_tokens(record: dict[str, Any], image_grid_thw, *, patch: int = 14, merge: int = 2,
                      flat: bool = False) -> list:
    """`roi_token_indices` for every image of `record` (its `image_grid_thw` rows in image
    order): a list per image, or with `flat` one list of indices into the concatenation of all
    the record's image tokens (the order they appear in the prompt)."""
    sizes = [_image_size(im) for im in record["images"]]
    grids = [[int(v) for v in g] for g in image_grid_thw]
    if len(grids) != len(sizes):
        raise ValueError(f"record {record.get('id')!r} has {len(sizes)} images but {len(grids)} grid rows")
    per_image = [roi_token_indices(b, s, g, patch=patch, merge=merge)
                 for b, s, g in zip(roi_boxes(record, sizes), sizes, grids)]
    if not flat:
        return per_image
    out, offset = [], 0
    for idx, g in zip(per_image, grids):
        out.extend(offset + i for i in idx)
        rows, cols = token_grid(g, merge)
        offset += int(g[0]) * rows * cols
    return out


def _spans(a: float, b: float, count: int, start, size) -> list[int]:
    """Cells k < count whose pixel span [start(k), start(k) + size) overlaps [a, b)."""
    return [k for k in range(count) if start(k) < b and start(k) + size > a]


def anyres_token_count(image_size: tuple[int, int], *, base_grid: int, tile_size: int,
                       best_resolution: tuple[int, int], max_tiles: int = 9,
                       multi_image: bool = False) -> int:
    """How many `<image>` features LLaVA-OneVision places for one image (base + tiles + newlines)."""
    if multi_image:
        return base_grid * base_grid + 1
    _, _, rows, cols = anyres_layout(image_size, base_grid=base_grid, tile_size=tile_size,
                                      best_resolution=best_resolution, max_tiles=max_tiles)
    return base_grid * base_grid + rows * (cols + 1)


def anyres_layout(image_size, *, base_grid, tile_size, best_resolution, max_tiles):
    """LLaVA-OneVision tile features of one single-image record: (rows kept by the unpad step,
    columns kept, final rows, final columns after `anyres_max` pooling)."""
    width, height = image_size
    bh, bw = best_resolution
    rows, cols = bh // tile_size * base_grid, bw // tile_size * base_grid
    # the model's unpad_image, on the feature grid, from the original (height, width)
    keep_r, keep_c = range(rows), range(cols)
    if width / height > cols / rows:
        pad = (rows - int(round(height * (cols / width), 7))) // 2
        keep_r = range(pad, rows - pad)
    else:
        pad = (cols - int(round(width * (rows / height), 7))) // 2
        keep_c = range(pad, cols - pad)
    cur_h, cur_w = len(keep_r), len(keep_c)
    ratio = math.sqrt(cur_h * cur_w / (max_tiles * base_grid ** 2))
    out_h, out_w = (int(cur_h // ratio), int(cur_w // ratio)) if ratio > 1.1 else (cur_h, cur_w)
    return keep_r, keep_c, out_h, out_w


def anyres_roi_token_indices(boxes: Sequence[Box], image_size: tuple[int, int], *, base_grid: int,
                             patch: int, tile_size: int, best_resolution: tuple[int, int],
                             max_tiles: int = 9, multi_image: bool = False) -> list[int]:
    """LLaVA-OneVision: indices (within this image's features, in the order the model fills its
    `<image>` positions) of the features whose pixels intersect any of `boxes` (pixels of the
    original `image_size` = (width, height)). See the module docstring for the layout."""
    width, height = image_size
    picked: list[int] = []
    # base: the whole image resized to tile_size x tile_size (multi-image: centre-padded to a
    # square first); feature (r, c) sees pixels [c * patch, (c + 1) * patch) of that resize
    side_w, side_h, ox, oy = width, height, 0.0, 0.0
    if multi_image:
        side = max(width, height)
        side_w = side_h = side
        ox, oy = (side - width) // 2, (side - height) // 2
    sx, sy = tile_size / side_w, tile_size / side_h
    base = set()
    for x0, y0, x1, y1 in boxes:
        cs = _spans((x0 + ox) * sx, (x1 + ox) * sx, base_grid, lambda k: k * patch, patch)
        rs = _spans((y0 + oy) * sy, (y1 + oy) * sy, base_grid, lambda k: k * patch, patch)
        base.update(r * base_grid + c for r in rs for c in cs)
    picked.extend(sorted(base))
    if multi_image:  # base + one newline feature, no tiles
        return picked
    # tiles: resized keeping the aspect ratio into best_resolution, centre-padded, cut into
    # tile_size tiles; feature column C = tile t * base_grid + c sees canvas pixels
    # [t * tile_size + c * patch, + patch)
    bh, bw = best_resolution
    if bw / width < bh / height:
        new_w, new_h = bw, min(math.ceil(height * bw / width), bh)
    else:
        new_h, new_w = bh, min(math.ceil(width * bh / height), bw)
    px, py = (bw - new_w) // 2, (bh - new_h) // 2
    keep_r, keep_c, out_h, out_w = anyres_layout(image_size, base_grid=base_grid, tile_size=tile_size,
                                                  best_resolution=best_resolution, max_tiles=max_tiles)
    rows, cols = bh // tile_size * base_grid, bw // tile_size * base_grid

    def start(k):
        return k // base_grid * tile_size + k % base_grid * patch

    cur_h, cur_w = len(keep_r), len(keep_c)
    tiles = set()
    for x0, y0, x1, y1 in boxes:
        cs = [c - keep_c.start for c in _spans(x0 * new_w / width + px, x1 * new_w / width + px, cols, start, patch)
              if c in keep_c]
        rs = [r - keep_r.start for r in _spans(y0 * new_h / height + py, y1 * new_h / height + py, rows, start, patch)
              if r in keep_r]
        if (out_h, out_w) != (cur_h, cur_w):  # anyres_max pooling: output cell i spans input [i*s, (i+1)*s)
            fr, fc = cur_h / out_h, cur_w / out_w
            rs = sorted({i for r in rs for i in range(out_h) if i * fr < r + 1 and (i + 1) * fr > r})
            cs = sorted({j for c in cs for j in range(out_w) if j * fc < c + 1 and (j + 1) * fc > c})
        # each output row is out_w features then one newline feature (never in the ROI)
        tiles.update(base_grid * base_grid + r * (out_w + 1) + c for r in rs for c in cs)
    picked.extend(sorted(tiles))
    return picked
