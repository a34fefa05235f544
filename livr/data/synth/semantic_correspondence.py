"""Semantic correspondence: the same named keypoint on two different instances of a category.

Offline stand-in for the paper's SPair-71k pairs (Appendix A.6). Each category is a procedural
polygon template (quadruped, bird, car, chair, bottle, airplane, fish, bicycle) with 6-9 named
keypoints. Two instances of one category are drawn with independent shape parameters, pose
(rotation, mirroring for side-view categories), scale, aspect, colours, texture and background (a
crop of one of the split's photos). Image 1 marks one keypoint with REF; image 2 marks the true
keypoint and three other keypoints of the object as A-D, the answer letter balanced.

This module also holds the drawing helpers shared by the other marked-point generators of this
group (`functional_correspondence`, `relative_reflectance`): balanced labels, photo backgrounds,
template rendering and the REF / A-D point marks.
"""

from __future__ import annotations

import colorsys
import functools
from typing import Callable, NamedTuple

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont

from livr.data.photos import photo_names_for_split, photos_for_split
from livr.data.prompts import build_prompt
from livr.data.schema import choice_letter, make_record

TASK = "semantic_correspondence"
IMAGE_SIZE = 320


# ----------------------------------------------------------------------------------------------
# Shared helpers (also used by functional_correspondence, relative_reflectance, art_style,
# visual_similarity).


def balanced_labels(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """n labels in [0, k) whose counts differ by at most one, in random order."""
    labels = np.arange(n) % k
    # The remainder classes are chosen at random so no letter is favoured across calls.
    offset = int(rng.integers(k))
    return rng.permutation((labels + offset) % k)


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


@functools.cache
def label_font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


MARK_RED = (230, 20, 20)


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
def _label_sprite(label: str, font_size: int) -> Image.Image:
    font = label_font(font_size)
    left, top, right, bottom = font.getbbox(label, stroke_width=2)
    im = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((-left, -top), label, font=font, fill=MARK_RED + (255,),
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
    text = _label_sprite(label, font_size)
    tw, th = text.size
    w, h = img.size
    r = radius
    tx = x + r + 3 if x + r + 3 + tw < w - 1 else x - r - 3 - tw
    ty = y - r - th if y - r - th > 1 else y + r
    img.paste(text, (int(round(tx)), int(round(ty))), text)


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


# ----------------------------------------------------------------------------------------------
# Procedural object templates: parts in a canonical frame (y down, about [-1, 1]) drawn back to
# front, each with a colour role, plus named keypoints on visible parts.


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


def _u(rng: np.random.Generator, a: float, b: float) -> float:
    return float(rng.uniform(a, b))


def quadruped(rng: np.random.Generator) -> Template:
    L, H = _u(rng, 1.0, 1.4), _u(rng, 0.34, 0.5)
    leg = _u(rng, 0.35, 0.7)
    lw = _u(rng, 0.09, 0.15)
    fx, hx = 0.33 * L, -0.33 * L
    foot_y = H / 2 + leg
    hc = np.array([L / 2 + _u(rng, 0.08, 0.22), -H / 2 - _u(rng, 0.1, 0.3)])
    hr = _u(rng, 0.14, 0.2)
    snout = hc + [hr + 0.06, 0.04]
    nose = hc + [hr + _u(rng, 0.14, 0.22), 0.05]
    eye = hc + [0.03, -0.05]
    ear_tip = hc + [-0.08, -hr - _u(rng, 0.12, 0.25)]
    tail_base = np.array([-L / 2 + 0.03, -0.08])
    tail_tip = tail_base + [-_u(rng, 0.25, 0.45), _u(rng, -0.4, 0.15)]
    parts = [
        Part("poly", limb((fx + 0.08, 0.05), (fx + 0.1, foot_y - 0.02), lw), "far"),
        Part("poly", limb((hx + 0.08, 0.05), (hx + 0.06, foot_y - 0.02), lw), "far"),
        Part("line", np.stack([tail_base, (tail_base + tail_tip) / 2 + [0, -0.05], tail_tip]), "body", 0.07),
        Part("poly", ellipse(0, 0, L / 2, H / 2), "body"),
        Part("poly", limb((fx, 0.0), (fx, foot_y), lw * 1.1, lw), "body"),
        Part("poly", limb((hx, 0.0), (hx - 0.02, foot_y), lw * 1.3, lw), "body"),
        Part("poly", limb((0.36 * L, -0.05), tuple(hc), 0.24, 0.16), "body"),
        Part("poly", poly(tuple(hc + [-0.13, -0.06]), tuple(hc + [0.02, -0.12]), tuple(ear_tip)), "body2"),
        Part("poly", ellipse(*hc, hr, hr * 0.92), "body"),
        Part("poly", ellipse(*(snout + [0.04, 0.01]), nose[0] - snout[0], 0.08), "body"),
        Part("poly", ellipse(*nose, 0.035, 0.03), "dark"),
        Part("poly", ellipse(*eye, 0.03, 0.03), "dark"),
        Part("poly", ellipse(fx, foot_y, lw * 0.7, 0.04), "dark"),
        Part("poly", ellipse(hx - 0.02, foot_y, lw * 0.7, 0.04), "dark"),
    ]
    names = ["nose", "eye", "ear tip", "withers", "tail base", "tail tip", "front paw", "hind paw", "belly"]
    kps = np.array([nose, eye, ear_tip, (0.28 * L, -H / 2 + 0.03), tail_base, tail_tip,
                    (fx, foot_y), (hx - 0.02, foot_y), (0.0, H / 2 - 0.02)])
    return Template(parts, names, kps)


def bird(rng: np.random.Generator) -> Template:
    bx, by = _u(rng, 0.45, 0.6), _u(rng, 0.26, 0.34)
    hc = np.array([bx * 0.95, -by - _u(rng, 0.05, 0.2)])
    hr = _u(rng, 0.16, 0.22)
    beak_tip = hc + [hr + _u(rng, 0.15, 0.32), _u(rng, -0.02, 0.08)]
    eye = hc + [0.05, -0.03]
    crown = hc + [0.0, -hr + 0.02]
    shoulder = np.array([0.2, -0.1])
    wing_tip = np.array([-bx - _u(rng, 0.1, 0.3), _u(rng, -0.15, 0.05)])
    tail_tip = np.array([-bx - _u(rng, 0.35, 0.55), _u(rng, -0.1, 0.2)])
    foot = np.array([0.05, by + _u(rng, 0.3, 0.45)])
    parts = [
        Part("poly", poly((-bx + 0.1, -0.08), tuple(tail_tip + [0, -0.12]), tuple(tail_tip + [0, 0.12]),
                          (-bx + 0.1, 0.1)), "body2"),
        Part("line", np.stack([(0.05, by - 0.05), foot]), "dark", 0.04),
        Part("line", np.stack([foot + [-0.1, 0.0], foot + [0.12, 0.0]]), "dark", 0.035),
        Part("poly", ellipse(0, 0, bx, by, rot=-0.15), "body"),
        Part("poly", limb((0.35, -0.1), tuple(hc), 0.3, 0.25), "body"),
        Part("poly", ellipse(*hc, hr, hr), "body"),
        Part("poly", poly(tuple(hc + [hr * 0.7, -0.06]), tuple(beak_tip), tuple(hc + [hr * 0.7, 0.06])), "accent"),
        Part("poly", ellipse(*eye, 0.03, 0.03), "dark"),
        Part("poly", poly(tuple(shoulder), (0.1, -0.18), tuple(wing_tip), (-0.1, 0.12), (0.15, 0.05)), "body2"),
        Part("poly", ellipse(0.32, 0.12, 0.16, 0.1), "light"),
    ]
    names = ["beak tip", "eye", "crown", "breast", "wing shoulder", "wing tip", "tail tip", "foot"]
    kps = np.array([beak_tip, eye, crown, (0.36, 0.14), shoulder, wing_tip, tail_tip, foot])
    return Template(parts, names, kps)


def car(rng: np.random.Generator) -> Template:
    hb = _u(rng, 0.25, 0.38)  # body height
    cab_h = _u(rng, 0.28, 0.45)
    rf, rr = _u(rng, 0.15, 0.4), _u(rng, -0.55, -0.25)  # roof front / rear x
    wr = _u(rng, 0.17, 0.22)
    wx = _u(rng, 0.55, 0.68)
    top = -0.08
    parts = [
        Part("poly", poly((-0.7, top), (rr - 0.1, top - cab_h), (rf, top - cab_h), (rf + 0.35, top)), "body"),
        Part("poly", poly((rr, top - cab_h + 0.05), (rf - 0.03, top - cab_h + 0.05), (rf + 0.25, top - 0.01),
                          (-0.55, top - 0.01)), "light"),
        Part("poly", poly((-1, top + 0.04), (-0.96, top), (0.95, top + 0.02), (1.0, top + 0.08),
                          (1.0, top + hb), (-1, top + hb)), "body"),
        Part("poly", ellipse(-wx, top + hb, wr, wr), "dark"),
        Part("poly", ellipse(wx, top + hb, wr, wr), "dark"),
        Part("poly", ellipse(-wx, top + hb, wr * 0.45, wr * 0.45), "metal"),
        Part("poly", ellipse(wx, top + hb, wr * 0.45, wr * 0.45), "metal"),
        Part("poly", ellipse(0.96, top + 0.1, 0.045, 0.035), "light"),
        Part("poly", ellipse(-0.97, top + 0.1, 0.035, 0.035), "accent"),
        Part("poly", ellipse(rf + 0.25, top - 0.03, 0.05, 0.035), "body2"),
    ]
    names = ["front wheel hub", "rear wheel hub", "headlight", "taillight", "front of roof", "rear of roof",
             "front bumper", "rear bumper", "side mirror"]
    kps = np.array([(wx, top + hb), (-wx, top + hb), (0.96, top + 0.1), (-0.97, top + 0.1),
                    (rf, top - cab_h), (rr - 0.1, top - cab_h), (1.0, top + hb - 0.06),
                    (-1.0, top + hb - 0.06), (rf + 0.25, top - 0.03)])
    return Template(parts, names, kps)


def chair(rng: np.random.Generator) -> Template:
    sw = _u(rng, 0.35, 0.5)  # half seat depth
    back_h = _u(rng, 0.6, 1.0)
    leg = _u(rng, 0.55, 0.85)
    tilt = _u(rng, 0.0, 0.15)
    lw = _u(rng, 0.05, 0.08)
    top = (-sw - tilt, -back_h)
    parts = [
        Part("poly", limb((sw - 0.05, 0.05), (sw - 0.02, leg), lw), "far"),
        Part("poly", limb((-sw + 0.1, 0.05), (-sw + 0.07 - tilt / 2, leg), lw), "far"),
        Part("poly", limb((-sw, 0.0), top, lw * 1.5), "body"),
        Part("poly", poly((-sw - tilt * 0.15, -back_h * 0.35), (top[0] + 0.01, top[1] + 0.05),
                          (top[0] + 0.1, top[1] + 0.05), (-sw + 0.1 - tilt * 0.15, -back_h * 0.35)), "body2"),
        Part("poly", poly((-sw, 0.0), (sw, 0.0), (sw, 0.08), (-sw, 0.08)), "body"),
        Part("poly", limb((sw - 0.03, 0.05), (sw, leg), lw), "body"),
        Part("poly", limb((-sw + 0.03, 0.05), (-sw - tilt / 2, leg), lw), "body"),
    ]
    names = ["top of backrest", "backrest-seat joint", "front edge of seat", "front foot", "back foot",
             "middle of backrest"]
    kps = np.array([top, (-sw, 0.02), (sw, 0.02), (sw, leg), (-sw - tilt / 2, leg),
                    ((-sw + top[0]) / 2, -back_h / 2)])
    return Template(parts, names, kps)


def bottle(rng: np.random.Generator) -> Template:
    bw = _u(rng, 0.25, 0.4)
    nw = _u(rng, 0.07, 0.12)
    sh = _u(rng, -0.05, 0.2)  # shoulder y
    neck_top = _u(rng, -0.75, -0.5)
    shoulder = arc(0, sh, bw, sh - neck_top - 0.2, np.pi, 1.5 * np.pi, 6)
    body = np.concatenate([
        [(-bw, 1.0)], shoulder[:-1], [(-nw, sh - (sh - neck_top - 0.2)), (-nw, neck_top)],
        [(nw, neck_top), (nw, sh - (sh - neck_top - 0.2))], shoulder[::-1][1:] * [-1, 1], [(bw, 1.0)],
    ])
    lab0, lab1 = sh + _u(rng, 0.15, 0.25), _u(rng, 0.6, 0.85)
    cap_h = _u(rng, 0.1, 0.2)
    parts = [
        Part("poly", body, "body"),
        Part("poly", poly((-bw, lab0), (bw, lab0), (bw, lab1), (-bw, lab1)), "light"),
        Part("poly", poly((-bw * 0.5, (lab0 + lab1) / 2 - 0.05), (bw * 0.5, (lab0 + lab1) / 2 - 0.05),
                          (bw * 0.5, (lab0 + lab1) / 2 + 0.05), (-bw * 0.5, (lab0 + lab1) / 2 + 0.05)), "accent"),
        Part("poly", poly((-nw - 0.02, neck_top - cap_h), (nw + 0.02, neck_top - cap_h),
                          (nw + 0.02, neck_top + 0.02), (-nw - 0.02, neck_top + 0.02)), "accent"),
    ]
    names = ["cap top", "neck", "left shoulder", "right shoulder", "left base corner", "right base corner",
             "label centre"]
    sy = sh - 0.02
    kps = np.array([(0, neck_top - cap_h), (0, (neck_top + sh - (sh - neck_top - 0.2)) / 2),
                    (-bw + 0.02, sy), (bw - 0.02, sy), (-bw, 1.0), (bw, 1.0), (0, (lab0 + lab1) / 2)])
    return Template(parts, names, kps)


def airplane(rng: np.random.Generator) -> Template:
    fh = _u(rng, 0.1, 0.16)
    fin_h = _u(rng, 0.35, 0.6)
    wing_tip = np.array([_u(rng, -0.45, -0.2), fh + _u(rng, 0.3, 0.5)])
    parts = [
        Part("poly", poly((-0.7, -fh * 0.5), (-0.98, -fin_h), (-0.82, -fin_h), (-0.45, -fh * 0.6)), "accent"),
        Part("poly", poly((-1.0, -0.02), (-0.6, -fh), (0.85, -fh), (1.0, 0.0), (0.85, fh), (-0.6, fh * 0.6)), "body"),
        Part("poly", poly((0.15, 0.02), tuple(wing_tip), tuple(wing_tip + [-0.14, 0.0]), (-0.15, 0.02)), "body2"),
        Part("poly", ellipse(-0.02, fh + 0.12, 0.15, 0.06), "metal"),
        Part("poly", poly((0.75, -fh * 0.8), (0.9, -fh * 0.55), (0.82, -fh * 0.2), (0.7, -fh * 0.3)), "dark"),
        Part("poly", poly((-0.85, -0.03), (-1.02, 0.06), (-0.9, 0.07), (-0.7, 0.02)), "body2"),
    ]
    names = ["nose", "cockpit window", "tail fin tip", "tail end", "wing tip", "wing root", "engine"]
    kps = np.array([(1.0, 0.0), (0.8, -fh * 0.5), (-0.9, -fin_h), (-1.0, -0.02), wing_tip + [-0.07, 0],
                    (0.0, 0.02), (-0.02, fh + 0.12)])
    return Template(parts, names, kps)


def fish(rng: np.random.Generator) -> Template:
    rx, ry = _u(rng, 0.6, 0.75), _u(rng, 0.28, 0.42)
    tail_up = np.array([-rx - _u(rng, 0.3, 0.45), -_u(rng, 0.3, 0.5)])
    tail_lo = np.array([tail_up[0] + _u(rng, -0.05, 0.05), _u(rng, 0.3, 0.5)])
    dorsal = np.array([_u(rng, -0.2, 0.1), -ry - _u(rng, 0.2, 0.35)])
    pelvic = np.array([-0.2, ry + _u(rng, 0.12, 0.25)])
    pect = np.array([0.08, 0.16])
    parts = [
        Part("poly", poly((-rx + 0.15, 0), tuple(tail_up), (tail_up[0] + 0.12, 0), tuple(tail_lo)), "body2"),
        Part("poly", poly((-0.35, -ry * 0.8), tuple(dorsal), (0.2, -ry * 0.85)), "body2"),
        Part("poly", poly((-0.3, ry * 0.8), tuple(pelvic), (-0.05, ry * 0.85)), "body2"),
        Part("poly", ellipse(0, 0, rx, ry), "body"),
        Part("line", arc(rx * 0.35, 0, 0.12, ry * 0.75, -1.2, 1.2, 8), "body2", 0.03),
        Part("poly", poly((0.22, 0.05), tuple(pect), (0.25, 0.12)), "accent"),
        Part("poly", ellipse(rx * 0.62, -ry * 0.25, 0.05, 0.05), "light"),
        Part("poly", ellipse(rx * 0.62, -ry * 0.25, 0.025, 0.025), "dark"),
    ]
    names = ["mouth", "eye", "dorsal fin tip", "upper tail tip", "lower tail tip", "pectoral fin tip",
             "pelvic fin tip", "gill"]
    kps = np.array([(rx, 0.02), (rx * 0.62, -ry * 0.25), dorsal, tail_up, tail_lo, pect, pelvic,
                    (rx * 0.35 + 0.12, 0.0)])
    return Template(parts, names, kps)


def bicycle(rng: np.random.Generator) -> Template:
    wr = _u(rng, 0.36, 0.46)
    wx = _u(rng, 0.6, 0.72)
    hy = 0.3
    crank = np.array([_u(rng, -0.08, 0.05), hy])
    seat_top = np.array([-0.2, hy - _u(rng, 0.55, 0.7)])
    head = np.array([wx - 0.2, seat_top[1] + 0.03])
    bar = head + [-0.05, -_u(rng, 0.12, 0.22)]
    fw, rw = np.array([wx, hy]), np.array([-wx, hy])
    fw_ = 0.045
    parts = [
        Part("line", ellipse(*rw, wr, wr, n=28)[list(range(28)) + [0]], "dark", 0.06),
        Part("line", ellipse(*fw, wr, wr, n=28)[list(range(28)) + [0]], "dark", 0.06),
        Part("line", np.stack([rw, crank, seat_top, rw]), "body", fw_),
        Part("line", np.stack([seat_top, head, crank]), "body", fw_),
        Part("line", np.stack([fw, head, bar, bar + [0.14, 0.0]]), "metal", fw_ * 0.9),
        Part("line", np.stack([seat_top, seat_top + [0.0, -0.08]]), "metal", fw_ * 0.8),
        Part("poly", poly(tuple(seat_top + [-0.14, -0.08]), tuple(seat_top + [0.12, -0.1]),
                          tuple(seat_top + [0.1, -0.04]), tuple(seat_top + [-0.12, -0.03])), "dark"),
        Part("poly", ellipse(*crank, 0.06, 0.06), "metal"),
        Part("poly", ellipse(*rw, 0.04, 0.04), "metal"),
        Part("poly", ellipse(*fw, 0.04, 0.04), "metal"),
    ]
    names = ["front hub", "rear hub", "saddle", "handlebar grip", "crank", "head tube", "bottom of front wheel"]
    kps = np.array([fw, rw, seat_top + [0, -0.07], bar + [0.13, 0.0], crank, head, fw + [0, wr]])
    return Template(parts, names, kps)


# name -> (template builder, side view: mirroring changes the pose but not the keypoint names)
CATEGORIES: dict[str, tuple[Callable[[np.random.Generator], Template], bool]] = {
    "quadruped": (quadruped, True),
    "bird": (bird, True),
    "car": (car, True),
    "chair": (chair, True),
    "bottle": (bottle, False),
    "airplane": (airplane, True),
    "fish": (fish, True),
    "bicycle": (bicycle, True),
}


def _background(split: str, rng: np.random.Generator, size: int) -> tuple[Image.Image, dict]:
    """A softened photo crop so the drawn object stands out."""
    bg, src = photo_crop(split, (size, size), rng, frac=(0.25, 0.8))
    grey = Image.new("RGB", bg.size, tuple(int(v) for v in rng.integers(90, 200, 3)))
    return Image.blend(bg, grey, float(rng.uniform(0.2, 0.45))), src


def _instance(split: str, category: str, rng: np.random.Generator, size: int):
    builder, side_view = CATEGORIES[category]
    bg, src = _background(split, rng, size)
    rot = (-35, 35) if side_view else (-20, 20)
    img, kps, pose = render_object(bg, builder(rng), rng, rot_deg=rot, mirror=side_view)
    pose["background"] = src
    return img, kps, pose


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    image_size: int = IMAGE_SIZE,
    min_sep: float = 0.1,
) -> list[dict]:
    """`n` records; `min_sep` is the least distance between candidate points (fraction of size)."""
    question, choices, prompt = build_prompt(TASK)
    answers = balanced_labels(n, 4, rng)
    cats = sorted(CATEGORIES)
    records = []
    for i in range(n):
        category = cats[int(rng.integers(len(cats)))]
        for _ in range(100):  # redraw poses until four candidates are well apart and inside
            img1, kps1, pose1 = _instance(split, category, rng, image_size)
            img2, kps2, pose2 = _instance(split, category, rng, image_size)
            ref = int(rng.integers(len(kps1)))
            others = far_apart(kps2, ref, rng.permutation(len(kps2)), 3, min_sep * image_size)
            inside = np.all((kps2 > 12) & (kps2 < image_size - 12)) and np.all(
                (kps1[ref] > 12) & (kps1[ref] < image_size - 12))
            if others is not None and inside:
                break
        else:
            raise RuntimeError(f"{TASK}: no usable pose pair for {category} (min_sep={min_sep} too large?)")
        cand = list(others)
        cand.insert(int(answers[i]), ref)
        draw_point_mark(img1, kps1[ref], "REF")
        for j, k in enumerate(cand):
            draw_point_mark(img2, kps2[k], choice_letter(j))
        names = list(keypoint_names(category))
        meta = {
            "category": category,
            "keypoint_names": names,
            "keypoints_1": np.round(kps1, 1).tolist(),
            "keypoints_2": np.round(kps2, 1).tolist(),
            "ref_index": ref,
            "candidate_indices": cand,
            "pose_1": pose1,
            "pose_2": pose2,
        }
        records.append(make_record(
            id=f"{TASK}-{split}-{i:06d}", task=TASK, images=[img1, img2], question=question,
            choices=choices, answer=choice_letter(int(answers[i])), prompt=prompt,
            source=f"synthetic:{TASK}", metadata=meta,
        ))
    return records


@functools.cache
def keypoint_names(category: str) -> tuple[str, ...]:
    """Keypoint names of a category (they do not depend on the random shape parameters)."""
    return tuple(CATEGORIES[category][0](np.random.default_rng(0)).names)
