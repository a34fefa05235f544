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
"""

from __future__ import annotations

import json
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
