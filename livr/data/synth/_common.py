"""Helpers shared by the offline generators in `livr.data.synth` (not a task).

Everything here is used by more than one task module; task-specific code stays in its own module.

- Balanced answers: `balanced` (a list of values) and `balanced_labels` (integer labels). They
  consume the random stream differently, so they are kept apart to keep outputs reproducible.
- Photo backgrounds, from two different caches: `PhotoRef` / `pick_photo` / `random_view` cut
  views from a power-of-two pyramid (counting, jigsaw, localization, visual_correspondence);
  `split_photo_pyramid` / `photo_crop` / `softened_background` cut crops from a 0.85-step pyramid
  (semantic_correspondence, functional_correspondence, art_style, visual_similarity).
- Colours and shapes: `COLOURS`, `outline_for`, `random_colour`, `scale_colour`, `shape_polygon`.
- Labels and marked points: `label_font`, `label_sprite`, `draw_point_mark` (REF / A-D marks),
  `rects_overlap`, `far_apart`, `mark_keypoint_pair` (the keypoint-pair tasks' marks and metadata).
- Procedural object templates (semantic_correspondence, functional_correspondence): `Part`,
  `Template`, the geometry builders `ellipse`, `arc`, `poly`, `limb`, `uniform`, and
  `render_object`, which draws a template in a random pose with a random palette and texture.
"""

from __future__ import annotations

import colorsys
import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from livr.data.photos import photo_names_for_split, photos_for_split
from livr.data.schema import choice_letter


# ----------------------------------------------------------------------------------------------
# Balanced answers


def balanced(values: list, n: int, rng: np.random.Generator) -> list:
    """`n` items cycling through `values` in a random order: each value appears n/len times."""
    idx = rng.permutation(np.arange(n) % len(values))
    return [values[i] for i in idx]


def balanced_labels(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """n labels in [0, k) whose counts differ by at most one, in random order.

    Unlike `balanced`, the remainder classes are rotated by a random offset first (one extra
    draw from `rng`), so the two are not interchangeable without changing the outputs."""
    labels = np.arange(n) % k
    # The remainder classes are chosen at random so no letter is favoured across calls.
    offset = int(rng.integers(k))
    return rng.permutation((labels + offset) % k)


# ----------------------------------------------------------------------------------------------
# Photos: views from a power-of-two pyramid (PhotoRef) ...


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


# ... and crops from a finer pyramid (split_photo_pyramid).

PYRAMID_STEP = 0.85
PYRAMID_MIN_SIDE = 160


@functools.cache
def split_photo_pyramid(split: str) -> tuple[tuple[str, tuple[Image.Image, ...]], ...]:
    """(name, levels) for every photo of the split, in a fixed order; level k is the photo scaled
    by PYRAMID_STEP ** k.

    Crops are cut from the level at which they already have the output size, so making one is a
    plain copy instead of a resample (resampling dominated the generation time).
    """
    out = []
    for name, arr in zip(photo_names_for_split(split), photos_for_split(split)):
        full = Image.fromarray(arr)
        levels = [full]
        k = 1
        while min(full.size) * PYRAMID_STEP**k >= PYRAMID_MIN_SIDE:
            f = PYRAMID_STEP**k
            levels.append(full.resize((round(full.width * f), round(full.height * f)), Image.BILINEAR))
            k += 1
        out.append((name, tuple(levels)))
    return tuple(out)


def photo_crop(
    split: str,
    size: tuple[int, int],
    rng: np.random.Generator,
    frac: tuple[float, float] = (0.3, 0.9),
    photo_index: int | None = None,
) -> tuple[Image.Image, dict]:
    """A random crop of one of the split's photos at output size `size` (w, h), and its source.

    The crop covers about a fraction `frac` of the photo's shorter side (snapped to the nearest
    pyramid level); the returned box is in full-resolution pixel coordinates.
    """
    photos = split_photo_pyramid(split)
    idx = int(rng.integers(len(photos))) if photo_index is None else photo_index
    name, levels = photos[idx]
    w, h = levels[0].size
    aspect = size[0] / size[1]
    cw = min(w, h * aspect) * rng.uniform(*frac)
    fits = [k for k, lv in enumerate(levels) if lv.width >= size[0] and lv.height >= size[1]]
    if not fits:  # the photo is smaller than the output: upsample the whole-photo crop
        ch = cw / aspect
        x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
        box = (x0, y0, x0 + cw, y0 + ch)
        out = levels[0].resize(size, Image.BILINEAR, box=box)
    else:
        want = np.log(size[0] / cw) / np.log(PYRAMID_STEP)  # fractional level with the right scale
        k = min(fits, key=lambda j: abs(j - want))
        lv = levels[k]
        x = int(rng.integers(0, lv.width - size[0] + 1))
        y = int(rng.integers(0, lv.height - size[1] + 1))
        out = lv.crop((x, y, x + size[0], y + size[1]))
        f = w / lv.width
        box = (x * f, y * f, (x + size[0]) * f, (y + size[1]) * f)
    full_box = [round(float(v), 1) for v in box]
    return out, {"photo": name, "box": full_box}


def soften_photo(view: Image.Image, amount: float) -> Image.Image:
    """The photo blurred and blended `amount` of the way towards its own mean colour (no random
    draws), so drawn shapes and marks stand out while different photos stay different (the easier
    levels of counting, localization and visual_correspondence)."""
    if amount <= 0:
        return view
    mean = tuple(int(v) for v in np.asarray(view).reshape(-1, 3).mean(axis=0))
    blurred = view.filter(ImageFilter.GaussianBlur(2))
    return Image.blend(blurred, Image.new("RGB", view.size, mean), amount)


def softened_background(split: str, rng: np.random.Generator, size: int) -> tuple[Image.Image, dict]:
    """A softened (size, size) photo crop so the drawn object stands out."""
    bg, src = photo_crop(split, (size, size), rng, frac=(0.25, 0.8))
    grey = Image.new("RGB", bg.size, tuple(int(v) for v in rng.integers(90, 200, 3)))
    return Image.blend(bg, grey, float(rng.uniform(0.2, 0.45))), src


# ----------------------------------------------------------------------------------------------
# Colours and shapes


# Named fill colours, chosen to be far apart in hue so the colour name is unambiguous.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 30, 30),
    "green": (30, 175, 60),
    "blue": (35, 85, 230),
    "yellow": (250, 215, 30),
    "purple": (150, 60, 200),
    "white": (250, 250, 250),
}


def outline_for(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black outline for light fills, white for dark ones, so shapes stand out on any photo."""
    return (20, 20, 20) if sum(rgb) > 300 else (245, 245, 245)


def random_colour(
    rng: np.random.Generator,
    hue: float | None = None,
    sat: tuple[float, float] = (0.35, 0.9),
    val: tuple[float, float] = (0.35, 0.95),
) -> tuple[int, int, int]:
    h = rng.uniform() if hue is None else hue % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def scale_colour(c: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, v * f))) for v in c)


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


# ----------------------------------------------------------------------------------------------
# Labels and marked points


@functools.cache
def label_font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font (Pillow >= 10.1), cached per size."""
    return ImageFont.load_default(size=size)


MARK_RED = (230, 20, 20)  # the REF / A-D marks of draw_point_mark


@functools.cache
def _ring_sprite(radius: int) -> Image.Image:
    """A red ring with a white outline, as an RGBA sprite (drawn once, pasted many times)."""
    r = radius
    side = 2 * r + 8
    c = side / 2
    im = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.ellipse([c - r - 2.5, c - r - 2.5, c + r + 2.5, c + r + 2.5], outline=(255, 255, 255, 255), width=6)
    d.ellipse([c - r, c - r, c + r, c + r], outline=MARK_RED + (255,), width=3)
    return im


@functools.cache
def label_sprite(label: str, font_size: int, colour: tuple[int, int, int] = MARK_RED) -> Image.Image:
    """The label in `colour` with a white stroke, on a transparent background (cached)."""
    font = label_font(font_size)
    left, top, right, bottom = font.getbbox(label, stroke_width=2)
    im = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((-left, -top), label, font=font, fill=colour + (255,),
                            stroke_width=2, stroke_fill=(255, 255, 255, 255))
    return im


def draw_point_mark(
    img: Image.Image, xy: tuple[float, float], label: str, radius: int = 9, font_size: int = 20
) -> None:
    """A red circle with a white outline around `xy` and a red, white-stroked label beside it
    (to the upper right, or wherever it stays inside the image)."""
    x, y = float(xy[0]), float(xy[1])
    ring = _ring_sprite(radius)
    img.paste(ring, (int(round(x - ring.width / 2)), int(round(y - ring.height / 2))), ring)
    text = label_sprite(label, font_size)
    tw, th = text.size
    w, h = img.size
    r = radius
    tx = x + r + 3 if x + r + 3 + tw < w - 1 else x - r - 3 - tw
    ty = y - r - th if y - r - th > 1 else y + r
    img.paste(text, (int(round(tx)), int(round(ty))), text)


def place_discs(radii: np.ndarray, bounds, gap: float, rng: np.random.Generator,
                candidates: int) -> np.ndarray | None:
    """Centres for non-overlapping discs, or None if one does not fit.

    Disc i (radius radii[i]) is centred inside bounds[i] = (low_xy, high_xy) and kept at least
    `gap` from the discs before it: up to 8 rounds of `candidates` uniform draws, the first
    draw that fits wins. An empty box (high < low) fails at once, before any draw for it.
    """
    centres = np.zeros((len(radii), 2))
    for i, (r, (lo, hi)) in enumerate(zip(radii, bounds)):
        if np.any(np.asarray(hi) < np.asarray(lo)):
            return None
        for _ in range(8):
            cand = rng.uniform(lo, hi, size=(candidates, 2))
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


def rects_overlap(a, b) -> bool:
    """Whether rectangles a and b (x0, y0, x1, y1) overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def far_apart(points: np.ndarray, first: int, order: np.ndarray, count: int, min_sep: float) -> list[int] | None:
    """Greedily pick `count` indices from `order` whose points are >= min_sep from `first` and
    from each other; None if impossible."""
    chosen = [first]
    for i in order:
        if i == first:
            continue
        d = np.linalg.norm(points[chosen] - points[i], axis=1)
        if np.all(d >= min_sep):
            chosen.append(int(i))
            if len(chosen) == count + 1:
                return chosen[1:]
    return None


def mark_keypoint_pair(img1, kps1, pose1, img2, kps2, pose2, ref: int, others, slot: int) -> dict:
    """Mark keypoint `ref` with REF on image 1, and on image 2 mark `ref` and the three `others`
    as A-D with `ref` at letter index `slot` (the images are drawn on in place). Returns the
    metadata fields the keypoint-pair tasks share."""
    cand = list(others)
    cand.insert(slot, ref)
    draw_point_mark(img1, kps1[ref], "REF")
    for j, k in enumerate(cand):
        draw_point_mark(img2, kps2[k], choice_letter(j))
    return keypoint_pair_metadata(kps1, kps2, ref, cand, pose1, pose2)


def keypoint_pair_metadata(kps1, kps2, ref: int, cand: list, pose1, pose2) -> dict:
    """The metadata fields the keypoint-pair tasks share: keypoints, REF and the A-D candidates."""
    return {
        "keypoints_1": np.round(kps1, 1).tolist(),
        "keypoints_2": np.round(kps2, 1).tolist(),
        "ref_index": ref,
        "candidate_indices": cand,
        "pose_1": pose1,
        "pose_2": pose2,
    }


# ----------------------------------------------------------------------------------------------
# Procedural object templates: parts in a canonical frame (y down, about [-1, 1]) drawn back to
# front, each with a colour role, plus named keypoints on visible parts.


def uniform(rng: np.random.Generator, a: float, b: float) -> float:
    """One float uniform in [a, b): the shape parameters of the template builders."""
    return float(rng.uniform(a, b))


class Part(NamedTuple):
    kind: str  # "poly" (filled polygon) or "line" (polyline of the given width)
    pts: np.ndarray  # (N, 2) canonical coordinates
    role: str  # colour role, see `object_palette`
    width: float = 0.0  # line width in canonical units


class Template(NamedTuple):
    parts: list[Part]
    names: list[str]
    kps: np.ndarray  # (K, 2) canonical coordinates, in the order of `names`


def ellipse(cx: float, cy: float, rx: float, ry: float, rot: float = 0.0, n: int = 20) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = np.cos(rot), np.sin(rot)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def arc(cx: float, cy: float, rx: float, ry: float, t0: float, t1: float, n: int = 12) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def poly(*pts: tuple[float, float]) -> np.ndarray:
    return np.asarray(pts, dtype=np.float64)


def limb(p: tuple[float, float], q: tuple[float, float], w0: float, w1: float | None = None) -> np.ndarray:
    """A quadrilateral from p (width w0) to q (width w1): legs, handles, necks."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    d = q - p
    nrm = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9)
    w1 = w0 if w1 is None else w1
    return np.stack([p + nrm * w0 / 2, q + nrm * w1 / 2, q - nrm * w1 / 2, p - nrm * w0 / 2])


def object_palette(rng: np.random.Generator) -> dict[str, tuple[int, int, int]]:
    body = random_colour(rng)
    hue = rng.uniform()
    return {
        "body": body,
        "body2": scale_colour(body, rng.uniform(0.55, 0.8)),
        "far": scale_colour(body, 0.6),
        "accent": random_colour(rng, hue=hue, sat=(0.5, 1.0), val=(0.5, 1.0)),
        "dark": random_colour(rng, sat=(0.0, 0.4), val=(0.05, 0.2)),
        "light": random_colour(rng, sat=(0.0, 0.25), val=(0.85, 1.0)),
        "metal": random_colour(rng, sat=(0.0, 0.12), val=(0.6, 0.85)),
        "handle": random_colour(rng, hue=rng.uniform(0.02, 0.12) if rng.uniform() < 0.5 else None,
                                sat=(0.3, 0.8), val=(0.25, 0.7)),
    }


def render_object(
    bg: Image.Image,
    tmpl: Template,
    rng: np.random.Generator,
    *,
    rot_deg: tuple[float, float] = (-30, 30),
    mirror: bool = True,
    fill: tuple[float, float] = (0.55, 0.85),
    aspect: tuple[float, float] = (0.8, 1.25),
    texture_prob: float = 0.4,
) -> tuple[Image.Image, np.ndarray, dict]:
    """Draw the template on a copy of `bg` in a random pose; return (image, keypoints, pose)."""
    img = bg.copy()
    size = np.array(img.size, float)
    flip = bool(mirror and rng.uniform() < 0.5)
    theta = np.deg2rad(rng.uniform(*rot_deg))
    asp = rng.uniform(*aspect)
    lin = np.diag([(-1.0 if flip else 1.0) * np.sqrt(asp), 1.0 / np.sqrt(asp)])
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    lin = rot @ lin
    allpts = np.concatenate([p.pts for p in tmpl.parts] + [tmpl.kps]) @ lin.T
    lo, hi = allpts.min(0), allpts.max(0)
    scale = rng.uniform(*fill) * min(size / (hi - lo))
    margin = 0.04 * size
    room = np.maximum(size - 2 * margin - (hi - lo) * scale, 0)
    offset = margin + rng.uniform(0, 1, 2) * room - lo * scale
    lin = lin * scale

    def tf(p: np.ndarray) -> list[tuple[float, float]]:
        q = p @ lin.T + offset
        return [tuple(v) for v in q.tolist()]

    pal = object_palette(rng)
    draw = ImageDraw.Draw(img)
    textured = rng.uniform() < texture_prob
    mask = Image.new("L", img.size, 0) if textured else None
    mdraw = ImageDraw.Draw(mask) if textured else None
    lw_scale = scale * np.sqrt(abs(np.linalg.det(lin / scale)))
    for part in tmpl.parts:
        colour = pal[part.role]
        pts = tf(part.pts)
        mval = 255 if part.role == "body" else 0
        if part.kind == "poly":
            outline = scale_colour(colour, 0.55)
            draw.polygon(pts, fill=colour, outline=outline, width=1)
            if mdraw is not None:
                mdraw.polygon(pts, fill=mval)
        else:
            w = max(1, int(round(part.width * lw_scale)))
            draw.line(pts, fill=colour, width=w, joint="curve")
            if mdraw is not None:
                mdraw.line(pts, fill=mval, width=w, joint="curve")
    texture = "none"
    if textured:
        texture = _apply_texture(img, mask, pal, rng)
    kps = np.asarray(tmpl.kps, float) @ lin.T + offset
    pose = {"rotation_deg": round(float(np.rad2deg(theta)), 1), "mirrored": flip,
            "aspect": round(float(asp), 3), "scale_px": round(float(scale), 1), "texture": texture}
    return img, kps, pose


TEXTURE_PERIODS = (8, 11, 14, 18)
TEXTURE_ANGLES = 6


@functools.cache
def _pattern(kind: str, period: int, angle_index: int, size: int) -> Image.Image:
    """A 0/255 stripe or dot pattern ('L'), a little larger than `size` so crops can shift it."""
    side = size + 2 * period
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    if kind == "stripes":
        a = np.pi * angle_index / TEXTURE_ANGLES
        phase = (xx * np.cos(a) + yy * np.sin(a)) / period
        on = phase - np.floor(phase) < 0.4
    else:
        gx, gy = xx / period, yy / period
        gx, gy = gx - np.floor(gx) - 0.5, gy - np.floor(gy) - 0.5
        on = gx * gx + gy * gy < 0.3**2
    return Image.fromarray(on.astype(np.uint8) * 255)


def _apply_texture(img: Image.Image, mask: Image.Image, pal: dict, rng: np.random.Generator) -> str:
    """Stripes or spots in the accent colour over the visible body-coloured parts."""
    kind = "stripes" if rng.uniform() < 0.5 else "spots"
    period = TEXTURE_PERIODS[int(rng.integers(len(TEXTURE_PERIODS)))]
    w, h = img.size
    pat = _pattern(kind, period, int(rng.integers(TEXTURE_ANGLES)) if kind == "stripes" else 0, max(w, h))
    x, y = (int(v) for v in rng.integers(0, period, 2))
    alpha = ImageChops.multiply(mask, pat.crop((x, y, x + w, y + h)))
    tex = Image.new("RGB", img.size, pal["accent"] if rng.uniform() < 0.6 else pal["body2"])
    img.paste(tex, (0, 0), alpha)
    return kind
