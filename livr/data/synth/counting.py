"""Offline counting task: 2-10 coloured shapes drawn on a crop of a real photo, open-ended answer.

The question names one object kind ("red stars"); the image also holds distractor shapes that
share either the colour or the shape (or neither) with the counted kind, so counting all shapes,
all red things or all stars gives the wrong number. Counts are exactly balanced over
`min_count..max_count`. Targets and distractors have the same size distribution.

This module also holds the small drawing helpers the other offline generators reuse
(`pick_photo`, `random_view`, `shape_polygon`, `label_font`, `COLOURS`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from livr.data.photos import photo_names_for_split, photos_for_split
from livr.data.prompts import build_prompt
from livr.data.schema import make_record

TASK = "counting"

# Named fill colours, chosen to be far apart in hue so the colour name is unambiguous.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 30, 30),
    "green": (30, 175, 60),
    "blue": (35, 85, 230),
    "yellow": (250, 215, 30),
    "purple": (150, 60, 200),
    "white": (250, 250, 250),
}
SHAPES = ("circle", "square", "triangle", "star")
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars"}


# ---------------------------------------------------------------- shared helpers


@functools.cache
def label_font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font (Pillow >= 10.1), cached per size."""
    return ImageFont.load_default(size=size)


@functools.cache
def _pyramid(split: str, index: int, flipped: bool, level: int) -> Image.Image:
    """The split's photo `index`, mirrored if asked, shrunk 2**level times (cached)."""
    if level:
        return _pyramid(split, index, flipped, level - 1).reduce(2)
    img = Image.fromarray(photos_for_split(split)[index])
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flipped else img


@functools.cache
def _pyramid_array(split: str, index: int, flipped: bool, level: int) -> np.ndarray:
    arr = np.asarray(_pyramid(split, index, flipped, level))
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class PhotoRef:
    """One photo of a split, possibly mirrored; regions are resized via a cached pyramid so
    that shrinking a huge photo costs about as much as a small one."""

    name: str
    split: str
    index: int
    flipped: bool

    @property
    def size(self) -> tuple[int, int]:
        return self.level(0).size

    def level(self, level: int) -> Image.Image:
        """The photo shrunk 2**level times (shared and cached: crop or copy before drawing)."""
        return _pyramid(self.split, self.index, self.flipped, level)

    def array(self, level: int) -> np.ndarray:
        """`level(level)` as a read-only (H, W, 3) uint8 array (cached)."""
        return _pyramid_array(self.split, self.index, self.flipped, level)

    def fitting_levels(self, w: int, h: int, min_scale: float) -> list[int]:
        """Pyramid levels (zoom 2**-level >= min_scale) at which a (w, h) crop fits."""
        out, level = [], 0
        while 2.0**-level >= min_scale:
            lw, lh = self.level(level).size
            if lw < w or lh < h:
                break
            out.append(level)
            level += 1
        return out

    def resize_region(self, box, out_w: int, out_h: int) -> Image.Image:
        """The region `box` (x0, y0, x1, y1 in photo pixels) resized to (out_w, out_h)."""
        ratio = min((box[2] - box[0]) / out_w, (box[3] - box[1]) / out_h)
        level = min(int(np.log2(ratio)), 3) if ratio >= 2 else 0
        img = _pyramid(self.split, self.index, self.flipped, level)
        f = 2**level
        return img.resize(
            (out_w, out_h), Image.Resampling.BILINEAR, box=tuple(v / f for v in box)
        )


def pick_photo(split: str, rng: np.random.Generator) -> PhotoRef:
    """A random photo of the split, mirrored half the time."""
    names = photo_names_for_split(split)
    index = int(rng.integers(len(names)))
    return PhotoRef(names[index], split, index, bool(rng.integers(2)))


def random_view(
    photo: PhotoRef,
    out_w: int,
    out_h: int,
    rng: np.random.Generator,
    min_scale: float = 0.4,
) -> tuple[Image.Image, list[float]]:
    """A random (out_w, out_h) crop of `photo` at a random zoom; returns it and its box in
    photo pixels.

    The zoom is one of the cached pyramid levels (1, 1/2, 1/4 ... but not below `min_scale`)
    at which the photo is large enough, so most views are plain crops with no resampling; a
    photo smaller than the view is scaled up instead.
    """
    levels = photo.fitting_levels(out_w, out_h, min_scale)
    if levels:
        level = levels[rng.integers(len(levels))]
        img = photo.level(level)
        x0 = int(rng.integers(0, img.width - out_w + 1))
        y0 = int(rng.integers(0, img.height - out_h + 1))
        f = 2**level
        view = img.crop((x0, y0, x0 + out_w, y0 + out_h))
        return view, [x0 * f, y0 * f, (x0 + out_w) * f, (y0 + out_h) * f]
    w, h = photo.size
    scale = max(out_w / w, out_h / h)
    cw, ch = min(out_w / scale, w), min(out_h / scale, h)  # min: float round-off
    x0, y0 = float(rng.uniform(0, w - cw)), float(rng.uniform(0, h - ch))
    box = (x0, y0, x0 + cw, y0 + ch)
    return photo.resize_region(box, out_w, out_h), [round(v, 1) for v in box]


_UNIT_SHAPES: dict[str, np.ndarray] = {}


def _unit_shape(kind: str) -> np.ndarray:
    """Vertices (k, 2) of a shape of circumradius 1 centred at the origin."""
    if kind not in _UNIT_SHAPES:
        if kind == "circle":
            t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
            r = np.ones_like(t)
        elif kind == "star":
            t = np.linspace(0, 2 * np.pi, 10, endpoint=False) - np.pi / 2
            r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        else:
            k = {"triangle": 3, "square": 4, "hexagon": 6}[kind]
            t = np.linspace(0, 2 * np.pi, k, endpoint=False) - np.pi / 2 + np.pi / k * (k == 4)
            r = np.ones_like(t)
        _UNIT_SHAPES[kind] = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    return _UNIT_SHAPES[kind]


def shape_polygon(
    kind: str, cx: float, cy: float, radius: float, angle: float = 0.0, aspect: float = 1.0
) -> np.ndarray:
    """Vertices of `kind` (circle, square, triangle, star, hexagon): stretched by `aspect`
    along x, rotated by `angle` radians, scaled to `radius` and centred at (cx, cy)."""
    pts = _unit_shape(kind) * np.array([aspect, 1.0])
    c, s = np.cos(angle), np.sin(angle)
    pts = pts @ np.array([[c, s], [-s, c]])
    return pts * radius + np.array([cx, cy])


def outline_for(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black outline for light fills, white for dark ones, so shapes stand out on any photo."""
    return (20, 20, 20) if sum(rgb) > 300 else (245, 245, 245)


def polygon_box(pts: np.ndarray, width: int, height: int) -> list[int]:
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    return [max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height)]


def balanced(values: list, n: int, rng: np.random.Generator) -> list:
    """`n` items cycling through `values` in a random order: each value appears n/len times."""
    idx = rng.permutation(np.arange(n) % len(values))
    return [values[i] for i in idx]


# ---------------------------------------------------------------- counting


def _place(radii: np.ndarray, width: int, height: int, gap: float, rng) -> np.ndarray | None:
    """Centres for non-overlapping discs of the given radii inside the image, or None."""
    centres = np.zeros((len(radii), 2))
    for i, r in enumerate(radii):
        for _ in range(8):
            cand = rng.uniform([r + 2, r + 2], [width - r - 2, height - r - 2], size=(64, 2))
            if i:
                d = np.linalg.norm(cand[:, None, :] - centres[None, :i], axis=2)
                ok = np.all(d >= radii[None, :i] + r + gap, axis=1)
            else:
                ok = np.ones(len(cand), bool)
            if ok.any():
                centres[i] = cand[np.argmax(ok)]
                break
        else:
            return None
    return centres


def _distractor_kinds(shape: str, colour: str, k: int, rng) -> list[tuple[str, str]]:
    """Kinds sharing the colour, the shape, or neither with the target (never both)."""
    other_shapes = [s for s in SHAPES if s != shape]
    other_colours = [c for c in COLOURS if c != colour]
    kinds = []
    for _ in range(k):
        u = rng.random()
        s = shape if u < 0.45 else other_shapes[rng.integers(len(other_shapes))]
        c = colour if 0.45 <= u < 0.8 else other_colours[rng.integers(len(other_colours))]
        kinds.append((s, c))
    return kinds


def _one_example(split: str, count: int, rng, max_distractors: int) -> dict:
    for _ in range(100):
        photo = pick_photo(split, rng)
        width, height = int(rng.integers(320, 449)), int(rng.integers(256, 385))
        shape = SHAPES[rng.integers(len(SHAPES))]
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        n_distract = int(rng.integers(1, max_distractors + 1))
        kinds = [(shape, colour)] * count + _distractor_kinds(shape, colour, n_distract, rng)
        order = rng.permutation(len(kinds))  # interleave drawing order of targets/distractors
        base = min(width, height)
        radii = rng.uniform(0.035 * base, 0.07 * base, size=len(kinds))
        centres = _place(radii, width, height, gap=4.0, rng=rng)
        if centres is not None:
            break
    else:
        raise RuntimeError("could not place counting objects; lower max_count or distractors")
    view, view_box = random_view(photo, width, height, rng)
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
    min_count: int = 2,
    max_count: int = 10,
    max_distractors: int = 6,
) -> list[dict]:
    """`n` counting records; counts exactly balanced over min_count..max_count, and every image
    has 1..max_distractors distractor shapes of another colour and/or shape."""
    if not 1 <= min_count <= max_count <= 16 or max_distractors < 1:
        from livr.errors import ConfigError

        raise ConfigError(
            f"counting needs 1 <= min_count <= max_count <= 16 and max_distractors >= 1, got "
            f"min_count={min_count}, max_count={max_count}, max_distractors={max_distractors}"
        )
    counts = balanced(list(range(min_count, max_count + 1)), n, rng)
    records = []
    for i, count in enumerate(counts):
        ex = _one_example(split, count, rng, max_distractors)
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
