"""Offline BLINK-style object localization (paper appendix A.3) on the split's real photos.

One object is drawn on a photo crop: a coloured shape, or a shape cut out of another photo with a
coloured outline. Its tight box (measured from the drawn mask) covers `area_range` of the image
and is the gold box. The distractor comes from jittering the gold box's four corners until its IoU
with the gold box is in `iou_range`; a coin flip decides whether it must be larger or smaller
than the gold box, so box size gives nothing away. Both boxes are drawn in two different colours
(assigned to the letters at random) with their letters in a filled tag at a corner. The gold
letter is exactly balanced.

Difficulty levels (`LEVELS`, hardest first): `paper` is the rule above; `medium` draws a
plain-coloured object on a softened photo, a distractor box with IoU 0.05-0.3, thicker box lines
and bigger letter tags, and always draws box A red and box B blue (the object is then green,
yellow or white); `easy` also pushes the distractor clear of the gold box (IoU 0-0.05) and draws
even thicker lines and bigger tags, so "which box holds the object" and which letter names it
survive the shrink to 112 px.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from livr.data.prompts import build_prompt
from livr.data.schema import choice_letter, make_record
from livr.data.synth import record_streams
from livr.data.synth._common import (
    soften_photo,
    COLOURS,
    balanced,
    label_font,
    outline_for,
    pick_photo,
    random_view,
    rects_overlap,
    shape_polygon,
)

TASK = "localization"
OBJECT_SHAPES = ("circle", "square", "triangle", "star", "hexagon")
# Box colours, and the object colours each must not be confused with.
BOX_COLOURS: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {
    "red": ((235, 20, 20), ("red",)),
    "blue": ((20, 80, 255), ("blue", "purple")),
    "magenta": ((255, 0, 210), ("red", "purple")),
    "cyan": ((0, 225, 255), ("blue", "white")),
    "orange": ((255, 140, 0), ("red", "yellow")),
}


LEVELS: dict[str, dict] = {
    "paper": {},
    "medium": {"area_range": (0.1, 0.3), "iou_range": (0.05, 0.3), "textured_prob": 0.0,
               "jitter": 1.5, "line_width": 6, "tag_size": 40, "soften": 0.4,
               "letter_colours": ("red", "blue")},
    "easy": {"area_range": (0.08, 0.2), "iou_range": (0.0, 0.05), "textured_prob": 0.0,
             "jitter": 2.5, "line_width": 10, "tag_size": 52, "soften": 0.6,
             "letter_colours": ("red", "blue")},
}


def iou(a, b) -> np.ndarray:
    """IoU of box `a` with one box or an (n, 4) array of boxes `b` (x0, y0, x1, y1)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    iw = np.clip(np.minimum(a[2], b[..., 2]) - np.maximum(a[0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[3], b[..., 3]) - np.maximum(a[1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter)


def jitter_box(gold, width, height, iou_range, larger: bool, rng, tries: int = 8, jitter: float = 0.7):
    """Jitter the four corners of `gold` (each by up to `jitter` times the box's width or height)
    until IoU is in range and the area is larger (or smaller) than gold's; None if no such box
    fits in the image."""
    gold = np.asarray(gold, float)
    gw, gh = gold[2] - gold[0], gold[3] - gold[1]
    scale = np.array([gw, gh, gw, gh])
    area = gw * gh
    for _ in range(tries):
        cand = np.round(gold + rng.uniform(-jitter, jitter, size=(256, 4)) * scale)
        cw, ch = cand[:, 2] - cand[:, 0], cand[:, 3] - cand[:, 1]
        # Reject rather than clip boxes leaving the image: clipped boxes would hug the border,
        # which gold boxes never do, and give the answer away.
        ok = (cw >= 16) & (ch >= 16) & np.all(cand >= 3, axis=1)
        ok &= (cand[:, 2] <= width - 3) & (cand[:, 3] <= height - 3)
        ok &= ((cw * ch) > area) if larger else ((cw * ch) < area)
        v = np.where(ok, iou(gold, np.where(ok[:, None], cand, gold)), -1.0)
        ok &= (v >= iou_range[0]) & (v <= iou_range[1])
        if ok.any():
            return [int(c) for c in cand[np.argmax(ok)]]
    return None


def _draw_object(view: Image.Image, split, rng, area_range, textured_prob, object_colours=None):
    """Draw one object; return (name, colour, tight box) or None if the box misses
    `area_range`. Boxes are [x0, y0, x1, y1] in pixels with x1, y1 exclusive."""
    width, height = view.size
    kind = OBJECT_SHAPES[rng.integers(len(OBJECT_SHAPES))]
    aspect = float(np.exp(rng.uniform(-0.4, 0.4)))
    angle = 0.0 if kind == "circle" else float(rng.uniform(0, 2 * np.pi))
    unit = shape_polygon(kind, 0, 0, 1.0, angle, aspect)
    uw, uh = np.ptp(unit, axis=0)
    frac = rng.uniform(*area_range)
    radius = np.sqrt(frac * width * height / (uw * uh))
    if uw * radius > width - 8 or uh * radius > height - 8:
        return None
    lo = -unit.min(axis=0) * radius + 4
    hi = np.array([width, height]) - unit.max(axis=0) * radius - 4
    cx, cy = rng.uniform(lo, hi)
    pts = [tuple(p) for p in unit * radius + np.array([cx, cy])]
    names = list(COLOURS) if object_colours is None else object_colours
    colour = names[rng.integers(len(names))]
    stretched = abs(np.log(aspect)) > 0.12
    shape_name = {"circle": "ellipse", "square": "rectangle"}.get(kind, kind) if stretched else kind
    mask = Image.new("L", view.size, 0)
    ImageDraw.Draw(mask).polygon(pts, fill=255, outline=255, width=3)
    if rng.random() < textured_prob:
        texture, _ = random_view(pick_photo(split, rng), width, height, rng)
        view.paste(texture, (0, 0), mask)
        ImageDraw.Draw(view).polygon(pts, outline=COLOURS[colour], width=3)
        name = f"{shape_name}-shaped photo cut-out with a {colour} border"
    else:
        rgb = COLOURS[colour]
        ImageDraw.Draw(view).polygon(pts, fill=rgb, outline=outline_for(rgb), width=3)
        name = f"{colour} {shape_name}"
    m = np.asarray(mask) > 0
    cols, rows = np.flatnonzero(m.any(axis=0)), np.flatnonzero(m.any(axis=1))
    box = [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
    box_frac = (box[2] - box[0]) * (box[3] - box[1]) / (width * height)
    if not area_range[0] <= box_frac <= area_range[1]:
        return None
    return name, colour, box


def _tag_rect(box, corner, tw, th, width, height):
    """Rectangle for a label tag at a box corner, outside the box when there is room."""
    x0, y0, x1, y1 = box
    x = x0 if corner in ("tl", "bl") else x1 - tw
    if corner in ("tl", "tr"):
        y = y0 - th if y0 - th >= 0 else y0
    else:
        y = y1 if y1 + th <= height else y1 - th
    x = min(max(x, 0), width - tw)
    return [x, y, x + tw, y + th]


def _draw_boxes(view: Image.Image, boxes, colours, line_width: int = 3, tag_size: int = 22) -> list[list[int]]:
    """Draw boxes A and B with their letter tags; return the tag rectangles."""
    draw = ImageDraw.Draw(view)
    font = label_font(tag_size)
    tw, th = round(tag_size * 24 / 22), round(tag_size * 26 / 22)
    for box, colour in zip(boxes, colours):
        x0, y0, x1, y1 = box
        # A line (3 px at the paper level) about the box edge, with a thin white rim for contrast.
        o = (line_width - 1) // 2
        draw.rectangle([x0 - o - 1, y0 - o - 1, x1 + o, y1 + o], outline=(255, 255, 255), width=1)
        draw.rectangle([x0 - o, y0 - o, x1 + o - 1, y1 + o - 1], outline=colour, width=line_width)
    tags = []
    for i, (box, colour) in enumerate(zip(boxes, colours)):
        for corner in ("tl", "br", "tr", "bl"):
            rect = _tag_rect(box, corner, tw, th, *view.size)
            if not any(rects_overlap(rect, t) for t in tags):
                break
        tags.append(rect)
        draw.rectangle(rect, fill=colour, outline=(255, 255, 255), width=1)
        centre = ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)
        draw.text(centre, choice_letter(i), fill=(255, 255, 255), font=font, anchor="mm",
                  stroke_width=1, stroke_fill=(0, 0, 0))
    return tags


def _one_example(split, rng, gold_index, area_range, iou_range, textured_prob, jitter=0.7,
                 line_width=3, tag_size=22, soften=0.0, letter_colours=None):
    for _ in range(200):
        photo = pick_photo(split, rng)
        width, height = int(rng.integers(352, 449)), int(rng.integers(288, 385))
        view, view_box = random_view(photo, width, height, rng)
        view = soften_photo(view, soften)
        object_colours = None
        if letter_colours is not None:  # objects only in colours neither box can be confused with
            object_colours = [c for c in COLOURS
                              if not any(c in BOX_COLOURS[b][1] for b in letter_colours)]
        drawn = _draw_object(view, split, rng, area_range, textured_prob, object_colours)
        if drawn is None:
            continue
        name, colour, gold = drawn
        larger = bool(rng.integers(2))
        distractor = jitter_box(gold, width, height, iou_range, larger, rng, jitter=jitter)
        if distractor is None:
            continue
        if letter_colours is None:
            allowed = [c for c, (_, avoid) in BOX_COLOURS.items() if colour not in avoid]
            picked = rng.choice(len(allowed), size=2, replace=False)
            box_colours = [allowed[j] for j in picked]
        else:
            box_colours = list(letter_colours)
        boxes = [gold, distractor] if gold_index == 0 else [distractor, gold]
        _draw_boxes(view, boxes, [BOX_COLOURS[c][0] for c in box_colours], line_width, tag_size)
        return view, name, {
            "photo": photo.name,
            "flipped": photo.flipped,
            "view_box": view_box,
            "object": name,
            "gold_box": gold,
            "distractor_box": distractor,
            "iou": round(float(iou(gold, distractor)), 4),
            "distractor_larger": larger,
            "box_colours": box_colours,
        }
    raise RuntimeError(f"could not build a localization example from the {split} photos")


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    indices: range | None = None,
    area_range: tuple[float, float] = (0.15, 0.5),
    iou_range: tuple[float, float] = (0.2, 0.5),
    textured_prob: float = 0.3,
    jitter: float = 0.7,
    line_width: int = 3,
    tag_size: int = 22,
    soften: float = 0.0,
    letter_colours: tuple[str, str] | None = None,
) -> list[dict]:
    """`n` localization records (one image with boxes A and B).

    area_range: gold box area as a fraction of the image; iou_range: IoU of the distractor with
    the gold box (higher is harder; 0 allows boxes apart); textured_prob: share of objects cut out
    of a photo; jitter: largest corner move of the distractor, in gold box widths / heights;
    line_width: box line width in pixels; tag_size: letter size of the A / B tags in pixels;
    soften: how far (0-1) the photo is blurred and faded towards its mean colour;
    letter_colours: fixed colours of boxes A and B (names in BOX_COLOURS; None: a random pair per
    image), the object then takes only colours neither box can be confused with.
    """
    if not (0 < area_range[0] <= area_range[1] <= 0.8 and 0 <= iou_range[0] <= iou_range[1] < 0.9
            and iou_range[1] > 0 and 0 < jitter <= 4 and 1 <= line_width <= 16 and 10 <= tag_size <= 80
            and 0 <= soften < 1 and (letter_colours is None or (len(letter_colours) == 2 and
            letter_colours[0] != letter_colours[1] and set(letter_colours) <= set(BOX_COLOURS)))):
        from livr.errors import ConfigError

        raise ConfigError(
            f"localization needs 0 < area_range <= 0.8, 0 <= iou_range < 0.9 (upper bound > 0), "
            f"0 < jitter <= 4, 1 <= line_width <= 16, 10 <= tag_size <= 80 and 0 <= soften < 1, got "
            f"area_range={area_range}, iou_range={iou_range}, jitter={jitter}, line_width={line_width}, "
            f"tag_size={tag_size}, soften={soften}, letter_colours={letter_colours} (two of "
            f"{', '.join(BOX_COLOURS)})"
        )
    records = []
    golds = balanced([0, 1], n, rng)
    for i, rec_rng in record_streams(rng, n, indices):
        gold_index = golds[i]
        image, name, metadata = _one_example(
            split, rec_rng, gold_index, area_range, iou_range, textured_prob, jitter, line_width, tag_size, soften,
            letter_colours,
        )
        question, choices, prompt = build_prompt(TASK, object=name)
        records.append(
            make_record(
                id=f"{TASK}-{split}-{i:06d}",
                task=TASK,
                images=[image],
                question=question,
                choices=choices,
                answer=choice_letter(gold_index),
                prompt=prompt,
                source=f"synthetic:{TASK}",
                metadata=metadata,
            )
        )
    return records
