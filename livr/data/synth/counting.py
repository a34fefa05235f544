"""Offline counting task: 2-10 coloured shapes drawn on a crop of a real photo, open-ended answer.

The question names one object kind ("red stars"); the image also holds distractor shapes that
share either the colour or the shape (or neither) with the counted kind, so counting all shapes,
all red things or all stars gives the wrong number. Counts are exactly balanced over
`min_count..max_count`. Targets and distractors have the same size distribution.

The photo, colour and shape helpers it uses are shared with other generators and live in
`livr.data.synth._common`.

Difficulty levels (`LEVELS`, hardest first): `paper` is the rule above; `medium` counts 1-6
larger shapes among 1-3 distractors that share neither colour nor shape with the counted kind, on
a half-softened photo; `easy` counts 1-4 large, equal-sized shapes with no distractors on a
softened photo, so the counted colour's area alone gives the count.
"""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from livr.data.prompts import build_prompt
from livr.data.schema import make_record
from livr.data.synth import record_streams
from livr.data.synth._common import (
    soften_photo,
    COLOURS,
    balanced,
    outline_for,
    pick_photo,
    place_discs,
    random_view,
    shape_polygon,
)

TASK = "counting"
SHAPES = ("circle", "square", "triangle", "star")
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars"}

LEVELS: dict[str, dict] = {
    "paper": {},
    "medium": {"min_count": 1, "max_count": 6, "max_distractors": 3, "distractor_overlap": False,
               "size_range": (0.06, 0.085), "soften": 0.4},
    "easy": {"min_count": 1, "max_count": 4, "min_distractors": 0, "max_distractors": 0,
             "size_range": (0.09, 0.1), "soften": 0.6},
}


def polygon_box(pts: np.ndarray, width: int, height: int) -> list[int]:
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    return [max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height)]


def _place(radii: np.ndarray, width: int, height: int, gap: float, rng) -> np.ndarray | None:
    """Centres for non-overlapping discs of the given radii inside the image, or None."""
    bounds = [([r + 2, r + 2], [width - r - 2, height - r - 2]) for r in radii]
    return place_discs(radii, bounds, gap, rng, candidates=64)


def _distractor_kinds(shape: str, colour: str, k: int, rng, overlap: bool = True) -> list[tuple[str, str]]:
    """Kinds sharing the colour, the shape, or neither with the target (never both); with
    `overlap` False always neither."""
    other_shapes = [s for s in SHAPES if s != shape]
    other_colours = [c for c in COLOURS if c != colour]
    kinds = []
    for _ in range(k):
        u = rng.random() if overlap else 0.9
        s = shape if u < 0.45 else other_shapes[rng.integers(len(other_shapes))]
        c = colour if 0.45 <= u < 0.8 else other_colours[rng.integers(len(other_colours))]
        kinds.append((s, c))
    return kinds


def _one_example(split: str, count: int, rng, min_distractors: int, max_distractors: int,
                 distractor_overlap: bool, size_range: tuple[float, float], soften_amount: float) -> dict:
    for _ in range(100):
        photo = pick_photo(split, rng)
        width, height = int(rng.integers(320, 449)), int(rng.integers(256, 385))
        shape = SHAPES[rng.integers(len(SHAPES))]
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        n_distract = int(rng.integers(min_distractors, max_distractors + 1))
        kinds = [(shape, colour)] * count + _distractor_kinds(shape, colour, n_distract, rng,
                                                              distractor_overlap)
        order = rng.permutation(len(kinds))  # interleave drawing order of targets/distractors
        base = min(width, height)
        radii = rng.uniform(size_range[0] * base, size_range[1] * base, size=len(kinds))
        centres = _place(radii, width, height, gap=4.0, rng=rng)
        if centres is not None:
            break
    else:
        raise RuntimeError("could not place counting objects; lower max_count or distractors")
    view, view_box = random_view(photo, width, height, rng)
    view = soften_photo(view, soften_amount)
    draw = ImageDraw.Draw(view)
    boxes, distractors = [], []
    for i in order:
        s, c = kinds[i]
        angle = 0.0 if s == "circle" else float(rng.uniform(0, 2 * np.pi))
        pts = shape_polygon(s, centres[i, 0], centres[i, 1], radii[i], angle)
        rgb = COLOURS[c]
        draw.polygon([tuple(p) for p in pts], fill=rgb, outline=outline_for(rgb), width=2)
        box = polygon_box(pts, width, height)
        if i < count:
            boxes.append(box)
        else:
            distractors.append({"label": f"{c} {s}", "box": box})
    label = f"{colour} {PLURALS[shape]}"
    return {
        "image": view,
        "label": label,
        "metadata": {
            "photo": photo.name,
            "flipped": photo.flipped,
            "view_box": view_box,
            "object": label,
            "shape": shape,
            "colour": colour,
            "count": count,
            "boxes": sorted(boxes),
            "distractors": sorted(distractors, key=lambda d: d["box"]),
        },
    }


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    indices: range | None = None,
    min_count: int = 2,
    max_count: int = 10,
    max_distractors: int = 6,
    min_distractors: int = 1,
    distractor_overlap: bool = True,
    size_range: tuple[float, float] = (0.035, 0.07),
    soften: float = 0.0,
) -> list[dict]:
    """`n` counting records; counts exactly balanced over min_count..max_count, and every image
    has min_distractors..max_distractors distractor shapes of another colour and/or shape.

    distractor_overlap: whether distractors may share the colour or the shape with the counted
    kind (False: neither); size_range: shape radius as a fraction of the image's shorter side;
    soften: how far (0-1) the photo is blurred and faded towards its mean colour.
    """
    if not (1 <= min_count <= max_count <= 16 and 0 <= min_distractors <= max_distractors
            and 0 < size_range[0] <= size_range[1] <= 0.15 and 0 <= soften < 1):
        from livr.errors import ConfigError

        raise ConfigError(
            f"counting needs 1 <= min_count <= max_count <= 16, 0 <= min_distractors <= "
            f"max_distractors, 0 < size_range <= 0.15 and 0 <= soften < 1, got min_count={min_count}, "
            f"max_count={max_count}, min_distractors={min_distractors}, max_distractors={max_distractors}, "
            f"size_range={size_range}, soften={soften}"
        )
    counts = balanced(list(range(min_count, max_count + 1)), n, rng)
    records = []
    for i, rec_rng in record_streams(rng, n, indices):
        count = counts[i]
        ex = _one_example(split, count, rec_rng, min_distractors, max_distractors, distractor_overlap,
                          size_range, soften)
        question, choices, prompt = build_prompt(TASK, object=ex["label"])
        records.append(
            make_record(
                id=f"{TASK}-{split}-{i:06d}",
                task=TASK,
                images=[ex["image"]],
                question=question,
                choices=choices,
                answer=str(count),
                prompt=prompt,
                source=f"synthetic:{TASK}",
                metadata=ex["metadata"],
            )
        )
    return records
