"""Rendering for the pretraining mix: named colours, shapes, backgrounds, placement and markers.

Everything here draws pictures; `livr.pretrain.mix` decides what to draw and asks about it.
Pictures are drawn straight at the output size with PIL, without anti-aliasing or JPEG, so a
shape's pixels are exactly its named colour (tests read the colour back at the shape's centre).

Object size is given as `s = sqrt(area) / image side`, so a triangle and a circle of the same `s`
cover the same number of pixels; the circumradius follows from the shape's unit area.
Backgrounds are muted (low saturation) so that the named colours stay the only vivid ones, and a
background is redrawn until every fill differs from it by at least `MIN_CONTRAST` (RGB distance);
shapes that still do not stand out, and all shapes on photos, get a black or white outline.
Photos come only from livr's "train" photo split, whatever split the mix is for: the validation
and test photos belong to the evaluation tasks.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw

from livr.data.synth._common import (
    outline_for,
    pick_photo,
    place_discs,
    random_colour,
    random_view,
    scale_colour,
    shape_polygon,
)

PHOTO_SPLIT = "train"  # the only photo split the mix may use, for train and heldout alike

# Named fill colours, far apart in hue and brightness so that each name is unambiguous.
NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 165, 60),
    "blue": (35, 80, 225),
    "yellow": (250, 215, 30),
    "orange": (245, 130, 20),
    "purple": (140, 55, 190),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
    "pink": (250, 140, 200),
    "cyan": (40, 200, 220),
}

SHAPES = ("circle", "square", "triangle", "star", "hexagon", "diamond")
PLURALS = {s: s + "s" for s in SHAPES}

QUADRANTS = ("top left", "top right", "bottom left", "bottom right")
MIN_CONTRAST = 110.0  # RGB distance between a fill and every background colour
MIN_RADIUS_PX = 4.0


@dataclass(frozen=True)
class LevelSpec:
    """What scenes look like at one curriculum level."""

    colours: tuple[str, ...]
    shapes: tuple[str, ...]
    max_objects: int
    size_range: tuple[float, float]  # s = sqrt(area) / side
    backgrounds: tuple[tuple[str, float], ...]  # (kind, weight)


LEVEL_SPECS: dict[int, LevelSpec] = {
    0: LevelSpec(
        colours=("red", "green", "blue", "yellow"),
        shapes=("circle", "square", "triangle"),
        max_objects=1,
        size_range=(0.18, 0.25),
        backgrounds=(("plain", 1.0),),
    ),
    1: LevelSpec(
        colours=("red", "green", "blue", "yellow", "orange", "purple", "white", "black"),
        shapes=("circle", "square", "triangle", "star", "hexagon"),
        max_objects=4,
        size_range=(0.1, 0.24),
        backgrounds=(("plain", 0.34), ("gradient", 0.33), ("texture", 0.33)),
    ),
    2: LevelSpec(
        colours=tuple(NAMED_COLOURS),
        shapes=SHAPES,
        max_objects=6,
        size_range=(0.07, 0.24),
        backgrounds=(("plain", 0.2), ("gradient", 0.2), ("texture", 0.2), ("photo", 0.4)),
    ),
}
# level 3, the skill level of the mix (livr.pretrain.mix.SKILL_LEVEL): level 2's colours and shapes;
# its families draw their own boards
LEVEL_SPECS[3] = LEVEL_SPECS[2]


# ----------------------------------------------------------------------------------------------
# Shapes


_DIAMOND = np.array([[0.0, -1.0], [0.62, 0.0], [0.0, 1.0], [-0.62, 0.0]])
# Shapes are turned only a little (circles and hexagons freely) so a square never reads as a diamond.
_MAX_TURN = {"circle": np.pi, "hexagon": np.pi, "square": 0.14, "diamond": 0.14, "triangle": 0.2,
             "star": 0.25}


def polygon(shape: str, cx: float, cy: float, r: float, angle: float = 0.0) -> np.ndarray:
    """Vertices (k, 2) of `shape` with circumradius r centred at (cx, cy), turned by `angle`."""
    if shape == "diamond":
        c, s = np.cos(angle), np.sin(angle)
        return _DIAMOND @ np.array([[c, s], [-s, c]]) * r + np.array([cx, cy])
    return shape_polygon(shape, cx, cy, r, angle)


@functools.cache
def unit_area(shape: str) -> float:
    """Area of `shape` with circumradius 1 (shoelace formula)."""
    p = polygon(shape, 0.0, 0.0, 1.0)
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def max_radius(size: int) -> float:
    """The largest circumradius that still fits a shape inside one quadrant."""
    return size / 4 - 2


# Smallest circumradius (fraction of the side) at which a shape still reads as itself: below
# about 7 px at 112x112 a hexagon, star or diamond is a blob.
_MIN_R_FRAC = {"circle": 0.0, "square": 0.045, "triangle": 0.05, "star": 0.065, "hexagon": 0.065,
               "diamond": 0.065}


def radius_for(shape: str, s: float, size: int) -> float:
    """Circumradius giving sqrt(area) = s * size, raised to the shape's legible minimum and
    clipped to [MIN_RADIUS_PX, max_radius]."""
    r = max(s * size / np.sqrt(unit_area(shape)), min_radius(shape, size))
    return float(min(r, max_radius(size)))


def min_radius(shape: str, size: int) -> float:
    return max(MIN_RADIUS_PX, _MIN_R_FRAC[shape] * size)


@dataclass
class Obj:
    """One shape in a picture; (cx, cy) and r are in pixels, r is the circumradius."""

    shape: str
    colour: str
    r: float
    cx: float = 0.0
    cy: float = 0.0
    angle: float = 0.0
    outline: bool = False

    @property
    def area(self) -> float:
        return unit_area(self.shape) * self.r**2

    @property
    def rgb(self) -> tuple[int, int, int]:
        return NAMED_COLOURS[self.colour]

    def meta(self) -> dict:
        d = asdict(self)
        for k in ("r", "cx", "cy", "angle"):
            d[k] = round(float(d[k]), 2)
        d["area"] = round(self.area, 1)
        return d


def new_obj(rng: np.random.Generator, shape: str, colour: str, s: float, size: int) -> Obj:
    turn = _MAX_TURN[shape]
    return Obj(shape, colour, radius_for(shape, s, size), angle=float(rng.uniform(-turn, turn)))


# ----------------------------------------------------------------------------------------------
# Regions and placement


def region_box(region: str | None, size: int) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a named part of the picture: a quadrant, a half, or all of it."""
    h = size / 2
    boxes = {
        None: (0, 0, size, size),
        "left": (0, 0, h, size),
        "right": (h, 0, size, size),
        "top": (0, 0, size, h),
        "bottom": (0, h, size, size),
        "top left": (0, 0, h, h),
        "top right": (h, 0, size, h),
        "bottom left": (0, h, h, size),
        "bottom right": (h, h, size, size),
    }
    return boxes[region]


def quadrant_of(x: float, y: float, size: int) -> str:
    return f"{'top' if y < size / 2 else 'bottom'} {'left' if x < size / 2 else 'right'}"


def place(
    objs: list[Obj],
    size: int,
    rng: np.random.Generator,
    regions: list[str | None] | None = None,
    gap: float = 3.0,
    tries: int = 6,
) -> bool:
    """Give every object a centre so that it lies wholly inside its region (and the picture) and
    no two objects' circumcircles come closer than `gap`. On failure every radius shrinks by 15%
    (not below the shape's legible minimum) and it retries; False if it still fails (radii are
    then left shrunk)."""
    regions = regions or [None] * len(objs)
    for _ in range(tries):
        if _place_once(objs, size, rng, regions, gap):
            return True
        for o in objs:
            o.r = max(min_radius(o.shape, size), o.r * 0.85)
    return False


def _place_once(objs, size, rng, regions, gap) -> bool:
    radii = np.array([o.r for o in objs])
    bounds = []
    for o, reg in zip(objs, regions):
        x0, y0, x1, y1 = region_box(reg, size)
        bounds.append((np.array([x0 + o.r + 1, y0 + o.r + 1]), np.array([x1 - o.r - 1, y1 - o.r - 1])))
    centres = place_discs(radii, bounds, gap, rng, candidates=32)
    if centres is None:
        return False
    for o, (x, y) in zip(objs, centres):
        o.cx, o.cy = float(x), float(y)
    return True


# ----------------------------------------------------------------------------------------------
# Backgrounds


def luminance(rgb) -> float:
    r, g, b = rgb[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def mean_luminance(img: Image.Image, box: tuple[int, int, int, int] | None = None) -> float:
    """Mean luma (0.299 R + 0.587 G + 0.114 B) of the image or of box (x0, y0, x1, y1)."""
    a = np.asarray(img if box is None else img.crop(box), dtype=np.float32)
    return float((a @ np.array([0.299, 0.587, 0.114], np.float32)).mean())


def contrasts(fill: tuple[int, int, int], colours: list[tuple[int, int, int]]) -> bool:
    f = np.array(fill, float)
    return all(np.linalg.norm(f - np.array(c, float)) >= MIN_CONTRAST for c in colours)


def muted_colour(rng: np.random.Generator, lum: tuple[float, float] | None = None) -> tuple[int, int, int]:
    """A low-saturation colour, optionally with luma inside `lum`."""
    for _ in range(20):
        c = random_colour(rng, sat=(0.0, 0.2), val=(0.15, 0.95))
        if lum is None or lum[0] <= luminance(c) <= lum[1]:
            return c
    g = int(np.clip(np.mean(lum) if lum else 128, 0, 255))
    return (g, g, g)


_N_DIRECTIONS = 8


@functools.cache
def _ramp(size: int, direction: int) -> np.ndarray:
    """(size, size, 1) float32 in [0, 1] increasing along one of 8 directions."""
    a = 2 * np.pi * direction / _N_DIRECTIONS
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    t = xx * np.cos(a) + yy * np.sin(a)
    t = (t - t.min()) / (t.max() - t.min())
    return t[..., None]


@functools.cache
def _pattern(kind: str, param: int, size: int) -> Image.Image:
    """A 0/255 'L' mask of stripes (4 angles) or checks, 2 * size wide so crops can shift it."""
    side = 2 * size
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    if kind == "stripes":
        period, angle = param // 4, param % 4
        a = np.pi * angle / 4
        phase = (xx * np.cos(a) + yy * np.sin(a)) / period
        on = phase - np.floor(phase) < 0.5
    else:  # checks
        on = ((xx // param) + (yy // param)) % 2 == 0
    return Image.fromarray(on.astype(np.uint8) * 255)


def _texture_mask(rng: np.random.Generator, size: int) -> tuple[Image.Image, str]:
    kind = ("stripes", "checks", "noise")[int(rng.integers(3))]
    if kind == "noise":
        k = int(rng.integers(3, 8))
        small = Image.fromarray((rng.random((k, k)) * 255).astype(np.uint8))
        return small.resize((size, size), Image.Resampling.BICUBIC), kind
    if kind == "stripes":
        period = int(rng.integers(max(4, size // 16), max(6, size // 6)))
        pat = _pattern(kind, period * 4 + int(rng.integers(4)), size)
    else:
        pat = _pattern(kind, int(rng.integers(max(3, size // 16), max(5, size // 6))), size)
    x, y = (int(v) for v in rng.integers(0, size, 2))
    return pat.crop((x, y, x + size, y + size)), kind


def synthetic_background(kind: str, rng, size: int, lum=None) -> tuple[Image.Image, list, dict]:
    """(image, colours it uses, metadata) for a plain, gradient or texture background."""
    c0 = muted_colour(rng, lum)
    if kind == "plain":
        return Image.new("RGB", (size, size), c0), [c0], {"kind": kind}
    if kind == "gradient":
        c1 = muted_colour(rng, lum)
        t = _ramp(size, int(rng.integers(_N_DIRECTIONS)))
        arr = np.asarray(c0, np.float32) + t * (np.asarray(c1, np.float32) - np.asarray(c0, np.float32))
        return Image.fromarray(arr.astype(np.uint8)), [c0, c1], {"kind": kind}
    c1 = scale_colour(c0, float(rng.choice([rng.uniform(0.7, 0.85), rng.uniform(1.15, 1.35)])))
    mask, pattern = _texture_mask(rng, size)
    img = Image.composite(Image.new("RGB", (size, size), c1), Image.new("RGB", (size, size), c0), mask)
    return img, [c0, c1], {"kind": kind, "pattern": pattern}


def photo_background(rng: np.random.Generator, size: int) -> tuple[Image.Image, dict]:
    """A softened crop of one of the train-split photos (never validation or test photos)."""
    photo = pick_photo(PHOTO_SPLIT, rng)
    view, box = random_view(photo, size, size, rng, min_scale=0.125)
    grey = Image.new("RGB", (size, size), muted_colour(rng, (90, 200)))
    img = Image.blend(view, grey, float(rng.uniform(0.25, 0.5)))
    return img, {"kind": "photo", "photo": photo.name, "photo_split": photo.split,
                 "box": [round(float(v), 1) for v in box]}


def pick_background_kind(spec: LevelSpec, rng: np.random.Generator) -> str:
    kinds = [k for k, _ in spec.backgrounds]
    w = np.array([w for _, w in spec.backgrounds])
    return kinds[int(rng.choice(len(kinds), p=w / w.sum()))]


def background(
    spec: LevelSpec, rng: np.random.Generator, size: int, objs: list[Obj], kind: str | None = None,
    lum: tuple[float, float] | None = None,
) -> tuple[Image.Image, dict]:
    """A background of the level's kinds that every object's fill contrasts with; objects that
    still do not contrast (and all objects on photos) are marked for an outline."""
    kind = kind or pick_background_kind(spec, rng)
    if kind == "photo":
        img, meta = photo_background(rng, size)
        for o in objs:
            o.outline = True
        return img, meta
    fills = [o.rgb for o in objs]
    for _ in range(10):
        img, colours, meta = synthetic_background(kind, rng, size, lum)
        if all(contrasts(f, colours) for f in fills):
            break
    for o in objs:
        o.outline = not contrasts(o.rgb, colours)
    meta["colours"] = [list(c) for c in colours]
    return img, meta


# ----------------------------------------------------------------------------------------------
# Drawing


def draw_objects(img: Image.Image, objs: list[Obj]) -> None:
    draw = ImageDraw.Draw(img)
    for o in objs:
        pts = [tuple(p) for p in polygon(o.shape, o.cx, o.cy, o.r, o.angle).tolist()]
        if o.outline:
            draw.polygon(pts, fill=o.rgb, outline=outline_for(o.rgb), width=2 if o.r >= 8 else 1)
        else:
            draw.polygon(pts, fill=o.rgb)


def scene(
    spec: LevelSpec, rng: np.random.Generator, size: int, objs: list[Obj], kind: str | None = None
) -> tuple[Image.Image, dict]:
    """Background plus objects (already placed); returns the image and its metadata."""
    img, bg = background(spec, rng, size, objs, kind)
    draw_objects(img, objs)
    return img, {"background": bg, "objects": [o.meta() for o in objs]}


def marker_colour(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light fills, white on dark ones."""
    return (0, 0, 0) if luminance(fill) > 140 else (255, 255, 255)


def draw_cross(img: Image.Image, o: Obj, upright: bool) -> dict:
    """A '+' (upright) or 'x' cross at the object's centre, inside the object."""
    arm = max(3.0, 0.45 * o.r)
    width = 2 if o.r >= 7 else 1
    colour = marker_colour(o.rgb)
    if upright:
        segs = [(o.cx - arm, o.cy, o.cx + arm, o.cy), (o.cx, o.cy - arm, o.cx, o.cy + arm)]
    else:
        a = arm * 0.75
        segs = [(o.cx - a, o.cy - a, o.cx + a, o.cy + a), (o.cx - a, o.cy + a, o.cx + a, o.cy - a)]
    draw = ImageDraw.Draw(img)
    for seg in segs:
        draw.line(seg, fill=colour, width=width)
    return {"marker": "cross", "style": "+" if upright else "x", "colour": list(colour)}


def arrow_path(
    target: Obj, others: list[Obj], size: int, rng: np.random.Generator
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """(tail, tip) of an arrow pointing at `target` from outside it, inside the picture and clear
    of the other objects; None if no direction works."""
    length = max(10.0, size * 0.14)
    for a in rng.uniform(0, 2 * np.pi, 24):
        u = np.array([np.cos(a), np.sin(a)])
        c = np.array([target.cx, target.cy])
        tip = c + u * (target.r + 2)
        tail = tip + u * length
        if np.any(tail < 3) or np.any(tail > size - 3):
            continue
        pts = tip + np.linspace(0, 1, 8)[:, None] * (tail - tip)
        if all(np.min(np.linalg.norm(pts - [o.cx, o.cy], axis=1)) > o.r + 3 for o in others):
            return (float(tail[0]), float(tail[1])), (float(tip[0]), float(tip[1]))
    return None


def draw_arrow(img: Image.Image, tail, tip, dark: bool) -> dict:
    """A black arrow with a white rim (or white with a black rim) from tail to tip."""
    core, rim = ((0, 0, 0), (255, 255, 255)) if dark else ((255, 255, 255), (0, 0, 0))
    t, p = np.array(tail), np.array(tip)
    u = (p - t) / np.linalg.norm(p - t)
    n = np.array([-u[1], u[0]])
    head = max(4.0, img.width * 0.05)
    base = p - u * head
    tri = [tuple(p), tuple(base + n * head * 0.6), tuple(base - n * head * 0.6)]
    draw = ImageDraw.Draw(img)
    draw.line([tuple(t), tuple(base)], fill=rim, width=4)
    draw.polygon(tri, fill=core, outline=rim, width=1)
    draw.line([tuple(t), tuple(base)], fill=core, width=2)
    return {"marker": "arrow", "tail": [round(v, 1) for v in tail], "tip": [round(v, 1) for v in tip],
            "colour": list(core)}


def darken_half(img: Image.Image, half: str, factor: float) -> Image.Image:
    """The image with one half (left / right / top / bottom) scaled in brightness by `factor`."""
    arr = np.asarray(img, dtype=np.float32).copy()
    s = img.width // 2
    sl = {"left": np.s_[:, :s], "right": np.s_[:, s:], "top": np.s_[:s, :], "bottom": np.s_[s:, :]}[half]
    arr[sl] *= factor
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def scale_brightness(img: Image.Image, factor: float) -> Image.Image:
    """The image with every channel multiplied by `factor` (clipped)."""
    return img.point(lambda v: min(255, int(v * factor)))


def half_boxes(orientation: str, size: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Boxes of the (left, right) or (top, bottom) halves."""
    s = size // 2
    if orientation == "lr":
        return (0, 0, s, size), (size - s, 0, size, size)
    return (0, 0, size, s), (0, size - s, size, size)
