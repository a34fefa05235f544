"""Offline BLINK-style jigsaw, built exactly as the paper's appendix A.2 describes, on the split's
real photos instead of COCO.

A canvas of 400 x h pixels (h random in [170, 230], even so the quadrants are equal) is cropped
from a photo (at a random zoom, mirrored half the time); its bottom-right quadrant is the ground
truth and is blacked out in the first image. The distractor is a patch of the same size from the
same photo that (i) intersects the canvas, (ii) does not overlap the ground-truth patch and
(iii) has its centre at least `min_center_frac` of the canvas diagonal away from the ground-truth
centre. Examples whose ground truth is flat or whose two options look alike are redrawn, so every
question is answerable. The answer letter is exactly balanced. Easier levels (`LEVELS`) ask for
options of clearly different colours, or cut the distractor from another photo of the split.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from livr.data.prompts import build_prompt
from livr.data.schema import choice_letter, make_record
from livr.data.synth import record_streams
from livr.data.synth._common import balanced, pick_photo

TASK = "jigsaw"
CANVAS_W = 400

# Difficulty levels (see livr.data.synth): the paper's rules, then options that differ clearly in
# colour (same photo), then a distractor cut from another photo of the split.
LEVELS = {
    "paper": {},
    "medium": {"min_colour_gap": 20.0},
    "easy": {"distractor_from": "other photo", "min_colour_gap": 30.0},
}


def _distractor_origin(cx, cy, pw, ph, bounds, min_dist, rng) -> tuple[int, int] | None:
    """Top-left of a (pw, ph) patch meeting rules (i)-(iii), in working-image coordinates.

    `bounds` = (x_max, y_max) of valid top-left positions (the patch must lie in the image).
    """
    gx, gy = cx + pw, cy + ph  # ground-truth patch top-left
    x = rng.integers(max(0, cx - pw + 1), min(bounds[0], cx + 2 * pw - 1) + 1, size=256)
    y = rng.integers(max(0, cy - ph + 1), min(bounds[1], cy + 2 * ph - 1) + 1, size=256)
    overlaps_gt = (x < gx + pw) & (x + pw > gx) & (y < gy + ph) & (y + ph > gy)
    far = np.hypot(x - gx, y - gy) >= min_dist
    ok = np.flatnonzero(~overlaps_gt & far)  # (i) holds by the sampling ranges
    if not len(ok):
        return None
    return int(x[ok[0]]), int(y[ok[0]])


def _mean_colour_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (0-255) of the mean colours of two patches."""
    return float(np.abs(a.reshape(-1, 3).mean(0) - b.reshape(-1, 3).mean(0)).mean())


def _other_photo_patch(split, rng, photo, pw, ph, min_scale):
    """A (pw, ph) patch of another photo of the split (at a random zoom), or None."""
    for _ in range(20):
        other = pick_photo(split, rng)
        if other.name != photo.name:
            break
    else:
        return None
    levels = other.fitting_levels(pw, ph, min_scale)
    if not levels:
        return None
    level = levels[rng.integers(len(levels))]
    img = other.array(level)
    scale = 2.0**-level
    sh, sw = img.shape[:2]
    x, y = int(rng.integers(0, sw - pw + 1)), int(rng.integers(0, sh - ph + 1))
    box = [round(v / scale, 1) for v in (x, y, x + pw, y + ph)]
    return img[y : y + ph, x : x + pw], other, box


def _one_example(split, rng, min_center_frac, min_gt_std, min_option_diff, min_scale,
                 distractor_from="same photo", min_colour_gap=0.0):
    for _ in range(200 if distractor_from == "same photo" and not min_colour_gap else 2000):
        photo = pick_photo(split, rng)
        h = 2 * int(rng.integers(85, 116))
        pw, ph = CANVAS_W // 2, h // 2
        # Zoom: a pyramid level of the photo where the canvas fits (plain crops, no resampling).
        levels = photo.fitting_levels(CANVAS_W, h, min_scale)
        if not levels:
            raise RuntimeError(f"photo {photo.name!r} is smaller than a {CANVAS_W}x{h} canvas")
        level = levels[rng.integers(len(levels))]
        img = photo.array(level)
        scale = 2.0**-level
        sh, sw = img.shape[:2]
        cx, cy = int(rng.integers(0, sw - CANVAS_W + 1)), int(rng.integers(0, sh - h + 1))

        def crop(x, y, w, hh):
            box = (x / scale, y / scale, (x + w) / scale, (y + hh) / scale)
            return img[y : y + hh, x : x + w], [round(v, 1) for v in box]

        canvas, canvas_box = crop(cx, cy, CANVAS_W, h)
        gt = np.ascontiguousarray(canvas[ph:, pw:])
        if gt.std() < min_gt_std:
            continue
        extra = {}
        if distractor_from == "other photo":
            got = _other_photo_patch(split, rng, photo, pw, ph, min_scale)
            if got is None:
                continue
            distractor, other, distractor_box = got
            dx = dy = None
            extra = {"distractor_photo": other.name, "distractor_flipped": other.flipped}
        else:
            min_dist = min_center_frac * float(np.hypot(CANVAS_W, h))
            origin = _distractor_origin(cx, cy, pw, ph, (sw - pw, sh - ph), min_dist, rng)
            if origin is None:
                continue
            dx, dy = origin
            distractor, distractor_box = crop(dx, dy, pw, ph)
        if np.abs(gt.astype(np.int16) - distractor).mean() < min_option_diff:
            continue
        if min_colour_gap:
            # the distractor's mean colour must differ clearly from the ground truth's, and the
            # ground truth's must match the visible canvas better than the distractor's does
            seen = np.concatenate([canvas[:ph].reshape(-1, 3), canvas[ph:, :pw].reshape(-1, 3)])
            gap = _mean_colour_gap(gt, distractor)
            closer_by = _mean_colour_gap(seen, distractor) - _mean_colour_gap(seen, gt)
            if gap < min_colour_gap or closer_by < min_colour_gap / 2:
                continue
            extra["colour_gap"] = round(gap, 2)
        complete = Image.fromarray(np.ascontiguousarray(canvas))
        canvas = canvas.copy()
        canvas[ph:, pw:] = 0
        return {
            "canvas": Image.fromarray(canvas),
            "complete": complete,
            "gt": Image.fromarray(gt),
            "distractor": Image.fromarray(np.ascontiguousarray(distractor)),
            "metadata": {
                "photo": photo.name,
                "flipped": photo.flipped,
                "scale": round(scale, 4),
                "canvas_size": [CANVAS_W, h],
                # Boxes in pixels of the (mirrored if flipped) photo ...
                "canvas_box": canvas_box,
                "gt_box": [round(v, 1) for v in ((cx + pw) / scale, (cy + ph) / scale,
                                                 (cx + CANVAS_W) / scale, (cy + h) / scale)],
                "distractor_box": distractor_box,
                # ... and in canvas pixels (the distractor may stick out of the canvas).
                "gt_box_canvas": [pw, ph, CANVAS_W, h],
                "distractor_box_canvas": (None if dx is None  # None: cut from another photo
                                          else [dx - cx, dy - cy, dx - cx + pw, dy - cy + ph]),
                **extra,
            },
        }
    raise RuntimeError(
        f"could not build a jigsaw example from the {split} photos; lower min_gt_std or "
        "min_option_diff"
    )


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    indices: range | None = None,
    min_center_frac: float = 0.25,
    min_gt_std: float = 12.0,
    min_option_diff: float = 12.0,
    min_scale: float = 0.25,
    distractor_from: str = "same photo",
    min_colour_gap: float = 0.0,
) -> list[dict]:
    """`n` jigsaw records; images = [masked canvas, option A patch, option B patch]; the helper
    image (Mirage's supervision) is the completed canvas, the true piece in place.

    min_center_frac: distance between distractor and ground-truth centres, as a fraction of the
    canvas diagonal. min_gt_std / min_option_diff: redraw flat ground truths and options whose
    mean absolute difference (0-255) is smaller, which would make the question unanswerable.
    min_scale: the smallest zoom (photo shrunk by up to 1/min_scale) at which canvases are cut.
    distractor_from: "same photo" (the paper's rule) or "other photo" (a patch of another photo of
    the split, which rules (i)-(iii) then do not apply to). min_colour_gap (0-255, 0 = off): the two
    options' mean colours differ by at least this much, and the ground truth's mean colour is
    closer to the visible canvas than the distractor's by at least half of it.
    """
    if not 0 <= min_center_frac <= 0.5 or not 0 < min_scale <= 1:
        from livr.errors import ConfigError

        raise ConfigError(
            f"jigsaw needs 0 <= min_center_frac <= 0.5 and 0 < min_scale <= 1, got "
            f"min_center_frac={min_center_frac}, min_scale={min_scale}"
        )
    if distractor_from not in ("same photo", "other photo") or min_colour_gap < 0:
        from livr.errors import ConfigError

        raise ConfigError(f"jigsaw needs distractor_from 'same photo' or 'other photo' and "
                          f"min_colour_gap >= 0, got {distractor_from!r}, {min_colour_gap}")
    letters = balanced([0, 1], n, rng)
    question, choices, prompt = build_prompt(TASK)
    records = []
    for i, rec_rng in record_streams(rng, n, indices):
        gt_index = letters[i]
        ex = _one_example(split, rec_rng, min_center_frac, min_gt_std, min_option_diff, min_scale,
                          distractor_from, min_colour_gap)
        options = [ex["gt"], ex["distractor"]] if gt_index == 0 else [ex["distractor"], ex["gt"]]
        records.append(
            make_record(
                id=f"{TASK}-{split}-{i:06d}",
                task=TASK,
                images=[ex["canvas"], *options],
                question=question,
                choices=choices,
                answer=choice_letter(gt_index),
                prompt=prompt,
                source=f"synthetic:{TASK}",
                metadata=ex["metadata"],
                # Mirage's helper image: the completed picture, true piece in place
                helper_image=ex["complete"],
            )
        )
    return records
