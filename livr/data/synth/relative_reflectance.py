"""Relative reflectance: which of two marked points has the darker surface colour (albedo).

Offline stand-in for the paper's MID-based data (Appendix A.8). A scene is an albedo map of flat,
overlapping patches (rectangles, rotated quads, ellipses on a wall colour, some with a fine
stripe or grain texture) multiplied by a smooth shading field: a linear light ramp in a random
direction, a point-light fall-off and usually a soft cast shadow from an object outside the
frame. Two points A and B, each inside one patch, are circled and labelled.

The label follows the paper's rule on the ALBEDO, not on the rendered pixels: the albedo is
converted to linear RGB, the luminance Y is averaged over a disk around each point, and
rel = |YA - YB| / max(YA, YB, 1e-8); rel <= 0.10 gives "About the same" (C), otherwise the
darker point (A or B). About a quarter of the examples are C and A/B are balanced. For a
fraction `mislead` of examples the pair is chosen so that the shading works against the answer
(the darker surface looks brighter or equally bright, or two equal surfaces look different),
so brightness in the image alone does not give the answer.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from livr.data.prompts import build_prompt
from livr.data.schema import choice_letter, make_record
from livr.data.synth.semantic_correspondence import draw_point_mark, random_colour

TASK = "relative_reflectance"
IMAGE_SIZE = 320
SAME_THRESHOLD = 0.10  # the paper's rule
DISK_RADIUS = 4
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # linear-RGB luminance (Rec. 709)


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def rel_difference(ya: float, yb: float) -> float:
    """The paper's relative difference |YA - YB| / max(YA, YB, 1e-8)."""
    return abs(ya - yb) / max(ya, yb, 1e-8)


def label_from_luminance(ya: float, yb: float, threshold: float = SAME_THRESHOLD) -> str:
    """C ("About the same") if rel <= threshold, else the letter of the darker point."""
    if rel_difference(ya, yb) <= threshold:
        return "C"
    return "A" if ya < yb else "B"


@functools.cache
def _srgb_lut() -> np.ndarray:
    """uint8 sRGB -> linear float32."""
    return srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)


@functools.cache
def _encode_lut() -> np.ndarray:
    """Linear value quantised to 4096 levels -> uint8 sRGB."""
    v = np.linspace(0, 1, 4096)
    enc = np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)
    return np.round(enc * 255).astype(np.uint8)


def encode_srgb(lin: np.ndarray) -> np.ndarray:
    idx = np.clip(lin * 4095.0 + 0.5, 0, 4095).astype(np.int32)
    return _encode_lut()[idx]


@functools.cache
def _disk_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    keep = dx * dx + dy * dy <= radius * radius
    return dy[keep], dx[keep]


def disk_mean(values: np.ndarray, xy: np.ndarray, radius: int = DISK_RADIUS) -> np.ndarray:
    """Mean of `values` (H, W[, C]) over a disk around each (x, y) row of `xy`."""
    dy, dx = _disk_offsets(radius)
    ys = xy[:, 1:2].astype(np.int64) + dy[None]
    xs = xy[:, 0:1].astype(np.int64) + dx[None]
    return values[ys, xs].mean(axis=1)


# ----------------------------------------------------------------------------------------------
# Scene: albedo (sRGB palette per patch, with textures) and shading.


def _albedo_scene(rng: np.random.Generator, size: int):
    """(label map, per-label sRGB colour uint8 (L, 3), linear albedo (H, W, 3), patch info)."""
    n = int(rng.integers(6, 12))
    colours = [random_colour(rng, sat=(0.0, 0.6), val=(0.45, 0.95))]  # the wall
    for k in range(1, n + 1):
        if k > 1 and rng.uniform() < 0.3:
            # a patch whose luminance matches an earlier one: hue and saturation may differ
            colours.append(_match_luminance(colours[int(rng.integers(k))], rng))
        else:
            colours.append(random_colour(rng, sat=(0.0, 0.8), val=(0.12, 0.97)))
    lab = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(lab)
    shapes = []
    for k in range(1, n + 1):
        cx, cy = rng.uniform(0, size, 2)
        w, h = rng.uniform(0.15, 0.5, 2) * size
        kind = ("rect", "quad", "ellipse")[int(rng.integers(3))]
        if kind == "ellipse":
            d.ellipse([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=k)
        else:
            a = rng.uniform(-0.6, 0.6) if kind == "quad" else 0.0
            corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            d.polygon([tuple(p) for p in (corners @ rot.T + [cx, cy]).tolist()], fill=k)
        shapes.append(kind)
    labels = np.asarray(lab)
    pal = np.array(colours, np.uint8)
    alb = _srgb_lut()[pal][labels]  # (H, W, 3) linear
    alb *= _textures(rng, labels, n + 1, size)[..., None]
    return labels, pal, alb, shapes


def _match_luminance(c: tuple[int, int, int], rng: np.random.Generator) -> tuple[int, int, int]:
    """A colour of another hue whose linear luminance is within a few percent of `c`'s."""
    y = float(_srgb_lut()[np.array(c)] @ LUMA)
    new = np.array(random_colour(rng, sat=(0.0, 0.5), val=(0.3, 1.0)))
    lin = _srgb_lut()[new]
    lin = lin * (y * rng.uniform(0.97, 1.03) / max(float(lin @ LUMA), 1e-6))
    if lin.max() > 1.0:  # too bright to scale up in this hue: fall back to grey
        lin = np.full(3, y, np.float32)
    enc = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.clip(lin, 0, 1) ** (1 / 2.4) - 0.055)
    return tuple(int(v) for v in np.clip(np.round(enc * 255), 0, 255))


def _textures(rng: np.random.Generator, labels: np.ndarray, n_labels: int, size: int) -> np.ndarray:
    """A multiplicative texture per patch (mean about 1): none, stripes or grain."""
    kinds = rng.integers(0, 3, n_labels)  # 0 none, 1 stripes, 2 grain
    amp = rng.uniform(0.05, 0.18, n_labels).astype(np.float32)
    a = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    phase = (xx * np.float32(np.cos(a)) + yy * np.float32(np.sin(a))) * np.float32(1 / rng.uniform(5, 10))
    stripes = (phase - np.floor(phase) < 0.5).astype(np.float32) * 2 - 1
    small = rng.uniform(-1, 1, (size // 4, size // 4)).astype(np.float32)
    grain = np.asarray(Image.fromarray(small, mode="F").resize((size, size), Image.BILINEAR))
    k = kinds[labels]
    patt = np.where(k == 1, stripes, np.where(k == 2, grain, np.float32(0)))
    return 1.0 + amp[labels] * patt


def _shading(rng: np.random.Generator, size: int):
    """A smooth shading field (H, W) in about [0.1, 1.1] and its description."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (xx - 0.5) * np.float32(np.cos(ang)) + (yy - 0.5) * np.float32(np.sin(ang))
    lo, hi = rng.uniform(0.25, 0.6), rng.uniform(0.95, 1.1)
    shade = lo + (hi - lo) * (ramp - ramp.min()) / (ramp.max() - ramp.min() + 1e-6)
    lx, ly = rng.uniform(-0.2, 1.2, 2)
    spot = rng.uniform(0.0, 0.5)
    shade = shade * (1 - spot + spot / (1 + ((xx - lx) ** 2 + (yy - ly) ** 2) / 0.15))
    desc = {"ramp_direction_deg": round(float(np.rad2deg(ang)), 1), "ramp_min": round(float(lo), 3),
            "ramp_max": round(float(hi), 3), "point_light_xy": [round(float(lx), 3), round(float(ly), 3)],
            "point_light_weight": round(float(spot), 3), "shadow": None}
    if rng.uniform() < 0.8:
        # A cast shadow: a quadrilateral entering from one side, with a soft edge.
        pts = _shadow_polygon(rng, size)
        m = Image.new("L", (size, size), 0)
        ImageDraw.Draw(m).polygon([tuple(p) for p in pts.tolist()], fill=255)
        soft = float(rng.uniform(2, 8))
        m = np.asarray(m.filter(ImageFilter.BoxBlur(soft)), np.float32) / 255.0
        factor = float(rng.uniform(0.25, 0.5))
        shade = shade * (1 - (1 - factor) * m)
        desc["shadow"] = {"polygon": np.round(pts, 1).tolist(), "factor": round(factor, 3),
                          "softness_px": round(soft, 1)}
    tint = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    tint /= tint.mean()
    desc["light_colour"] = np.round(tint, 3).tolist()
    return shade.astype(np.float32), tint, desc


def _shadow_polygon(rng: np.random.Generator, size: int) -> np.ndarray:
    """A simple quadrilateral with two corners just outside one image side, two inside."""
    along = np.sort(rng.uniform(-0.1, 1.1, 2)) * size  # where it crosses the side
    inner_along = np.sort(rng.uniform(0.0, 1.0, 2)) * size
    depth = rng.uniform(0.3, 0.9, 2) * size
    outside = -20.0
    # built for the left side, then rotated onto the chosen side
    pts = np.array([[outside, along[0]], [outside, along[1]], [depth[1], inner_along[1]],
                    [depth[0], inner_along[0]]])
    side = int(rng.integers(4))
    for _ in range(side):  # rotate 90 degrees about the image centre
        pts = np.stack([size - pts[:, 1], pts[:, 0]], axis=1)
    return pts


# ----------------------------------------------------------------------------------------------
# Point pairs.


def _candidates(labels: np.ndarray, rng: np.random.Generator, size: int, n: int = 400) -> np.ndarray:
    """Random points whose disk (and a margin for the circle) lies inside one patch."""
    pad = 24
    xy = rng.integers(pad, size - pad, (n, 2))
    lab = disk_mean(labels.astype(np.float32), xy, DISK_RADIUS + 4)
    pure = lab == labels[xy[:, 1], xy[:, 0]]
    return xy[pure]


def _choose_pair(ya, yo, xy, target, mislead, rng, size, same_max, diff_min):
    """Indices (a, b) of a pair meeting the target label and the misleading condition, or None."""
    m = len(xy)
    if m < 2:
        return None
    i = rng.integers(0, m, 3000)
    j = rng.integers(0, m, 3000)
    far = np.hypot(*(xy[i] - xy[j]).T) >= 0.2 * size
    rel_alb = np.abs(ya[i] - ya[j]) / np.maximum(np.maximum(ya[i], ya[j]), 1e-8)
    rel_obs = np.abs(yo[i] - yo[j]) / np.maximum(np.maximum(yo[i], yo[j]), 1e-8)
    if target == "C":
        ok = far & (rel_alb <= same_max)
        # misleading: the two equal surfaces look clearly different in the image
        ok &= (rel_obs > 0.3) if mislead else (rel_obs <= SAME_THRESHOLD)
        order = (i, j) if rng.uniform() < 0.5 else (j, i)
    else:
        # orient so that i is the darker surface; it becomes A for target A, B for target B
        swap = ya[i] > ya[j]
        i, j = np.where(swap, j, i), np.where(swap, i, j)
        ok = far & (rel_alb > diff_min)
        brighter_looking = yo[i] >= yo[j] * 0.95  # the darker surface looks as bright or brighter
        looks_right = yo[i] < yo[j] * (1 - 0.15)
        ok &= brighter_looking if mislead else looks_right
        order = (i, j) if target == "A" else (j, i)
    hits = np.flatnonzero(ok)
    if not len(hits):
        return None
    k = hits[0]
    return int(order[0][k]), int(order[1][k])


def _one_example(split, rng, size, target, mislead, same_max, diff_min):
    for _ in range(100):
        labels, pal, alb, shapes = _albedo_scene(rng, size)
        shade, tint, sdesc = _shading(rng, size)
        lin = alb * shade[..., None] * tint
        lin += rng.normal(0, 0.004, lin.shape).astype(np.float32)
        img = encode_srgb(lin)
        xy = _candidates(labels, rng, size)
        if len(xy) < 2:
            continue
        ya = disk_mean(alb, xy) @ LUMA
        yo = disk_mean(_srgb_lut()[img], xy) @ LUMA
        pair = _choose_pair(ya, yo, xy, target, mislead, rng, size, same_max, diff_min)
        if pair is not None:
            return img, labels, pal, shapes, sdesc, xy, ya, yo, pair
    raise RuntimeError(f"relative_reflectance: no pair for target {target} after 100 scenes")


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    image_size: int = IMAGE_SIZE,
    same_fraction: float = 0.25,
    mislead: float = 0.45,
    same_max: float = 0.07,
    diff_min: float = 0.18,
) -> list[dict]:
    """`n` records. `same_fraction` of answers are C; `mislead` is the fraction whose shading
    works against the answer; `same_max` / `diff_min` keep the albedo rel away from the 0.10
    threshold (<= same_max for C, > diff_min for A/B) so labels are not borderline."""
    question, choices, prompt = build_prompt(TASK)
    n_same = int(round(n * same_fraction))
    targets = np.array(["C"] * n_same + ["A"] * ((n - n_same) // 2) + ["B"] * (n - n_same - (n - n_same) // 2))
    targets = rng.permutation(targets)
    misleads = rng.uniform(size=n) < mislead
    records = []
    for i in range(n):
        target, misl = str(targets[i]), bool(misleads[i])
        img, labels, pal, shapes, sdesc, xy, ya, yo, (a, b) = _one_example(
            None, rng, image_size, target, misl, same_max, diff_min)
        ya_a, ya_b = float(ya[a]), float(ya[b])
        answer = label_from_luminance(ya_a, ya_b)
        assert answer == target, (answer, target)  # the pair search guarantees it
        pil = Image.fromarray(img)
        draw_point_mark(pil, xy[a], "A", radius=10)
        draw_point_mark(pil, xy[b], "B", radius=10)
        la, lb = int(labels[xy[a][1], xy[a][0]]), int(labels[xy[b][1], xy[b][0]])
        meta = {
            "points": [xy[a].tolist(), xy[b].tolist()],
            "disk_radius": DISK_RADIUS,
            "YA": round(ya_a, 6),
            "YB": round(ya_b, 6),
            "rel": round(rel_difference(ya_a, ya_b), 6),
            "observed_YA": round(float(yo[a]), 6),
            "observed_YB": round(float(yo[b]), 6),
            "albedo_srgb": [pal[la].tolist(), pal[lb].tolist()],
            "same_patch": la == lb,
            "shading_misleads": misl,
            "shading": sdesc,
        }
        records.append(make_record(
            id=f"{TASK}-{split}-{i:06d}", task=TASK, images=[pil], question=question,
            choices=choices, answer=answer, prompt=prompt, source=f"synthetic:{TASK}", metadata=meta,
        ))
    return records
