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
so brightness in the image alone does not give the answer. Easier levels (`LEVELS`) drop the
misleading shading, the textures and (easy) the shading itself, and use fewer, larger patches,
larger albedo differences and larger marks, A left of B.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from livr.data.prompts import build_prompt
from livr.data.schema import make_record
from livr.data.synth import record_streams
from livr.data.synth._common import draw_point_mark, random_colour
from livr.errors import ConfigError

TASK = "relative_reflectance"
IMAGE_SIZE = 256
SAME_THRESHOLD = 0.10  # the paper's rule
DISK_RADIUS = 4
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # linear-RGB luminance (Rec. 709)

# Difficulty levels (see livr.data.synth): the paper's scenes; then, with the three answers equally
# frequent, no misleading shading, flat patches and clearer albedo differences; then even light, a
# few large flat patches, albedo differences of at least 75%, larger marks, A left and B right.
LEVELS = {
    "paper": {},
    "medium": {"same_fraction": 1 / 3, "mislead": 0.0, "textures": False, "diff_min": 0.35},
    "easy": {"same_fraction": 1 / 3, "mislead": 0.0, "shading": "flat", "textures": False, "diff_min": 0.75,
             "patches": [2, 4], "patch_size": [0.5, 1.0], "mark_radius": 16, "mark_font": 30, "a_left": True},
}


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
    """Linear float32 in [0, 1] -> uint8 sRGB (overwrites `lin`)."""
    np.multiply(lin, np.float32(4095.0), out=lin)
    np.add(lin, np.float32(0.5), out=lin)
    np.clip(lin, 0, 4095, out=lin)
    return np.take(_encode_lut(), lin.astype(np.uint16))


def _unit_axes(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates divided by the size as a column (y) and a row (x), for broadcasting."""
    v = (np.arange(size, dtype=np.float32) + np.float32(0.5)) / np.float32(size)
    return v[:, None], v[None, :]


@functools.cache
def _disk_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    keep = dx * dx + dy * dy <= radius * radius
    return dy[keep], dx[keep]


def disk_values(values: np.ndarray, xy: np.ndarray, radius: int) -> np.ndarray:
    """The values (N, D[, C]) of `values` (H, W[, C]) on a disk around each (x, y) row of `xy`."""
    dy, dx = _disk_offsets(radius)
    h, w = values.shape[:2]
    flat = (xy[:, 1:2].astype(np.int64) + dy[None]) * w + (xy[:, 0:1].astype(np.int64) + dx[None])
    got = np.take(values.reshape(h * w, -1), flat, axis=0)
    return got[..., 0] if values.ndim == 2 else got


def disk_mean(values: np.ndarray, xy: np.ndarray, radius: int = DISK_RADIUS, lut=None) -> np.ndarray:
    """Mean of `values` (H, W[, C]) over a disk around each (x, y) row of `xy`, after mapping the
    gathered values through `lut` if given (e.g. uint8 sRGB -> linear)."""
    got = disk_values(values, xy, radius)
    if lut is not None:
        got = np.take(lut, got)
    return got.mean(axis=1)


# ----------------------------------------------------------------------------------------------
# Scene: albedo (sRGB palette per patch, with textures) and shading.


def _albedo_scene(rng: np.random.Generator, size: int, patches=(6, 12), patch_size=(0.15, 0.5),
                  textures: bool = True):
    """(label map, per-label sRGB colour uint8 (L, 3), linear albedo (H, W, 3), patch info)."""
    n = int(rng.integers(*patches))
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
        w, h = rng.uniform(*patch_size, 2) * size
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
    alb = np.take(_srgb_lut()[pal], labels, axis=0)  # (H, W, 3) linear
    if textures:
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
    yy, xx = _unit_axes(size)
    freq = np.float32(size / rng.uniform(5, 10))
    phase = (xx * np.float32(np.cos(a)) + yy * np.float32(np.sin(a))) * freq
    stripes = np.where(phase - np.floor(phase) < 0.5, np.float32(1), np.float32(-1))
    small = rng.integers(0, 256, (size // 4, size // 4), dtype=np.uint8)
    grain = np.asarray(Image.fromarray(small).resize((size, size), Image.BILINEAR), np.float32)
    grain = grain * np.float32(2 / 255) - np.float32(1)
    tex = np.take(np.where(kinds == 1, amp, 0).astype(np.float32), labels) * stripes
    tex += np.take(np.where(kinds == 2, amp, 0).astype(np.float32), labels) * grain
    tex += np.float32(1)
    return tex


def _shading(rng: np.random.Generator, size: int):
    """A smooth shading field (H, W) in about [0.1, 1.1] and its description."""
    yy, xx = _unit_axes(size)
    ang = rng.uniform(0, 2 * np.pi)
    c, s = np.float32(np.cos(ang)), np.float32(np.sin(ang))
    rx, ry = (xx - 0.5) * c, (yy - 0.5) * s  # separable: ramp = rx + ry
    r0, r1 = rx.min() + ry.min(), rx.max() + ry.max()
    lo, hi = rng.uniform(0.25, 0.6), rng.uniform(0.95, 1.1)
    k = np.float32((hi - lo) / (r1 - r0 + 1e-6))
    shade = (rx * k + np.float32(lo - r0 * k)) + ry * k
    lx, ly = rng.uniform(-0.2, 1.2, 2)
    spot = np.float32(rng.uniform(0.0, 0.5))
    d2 = ((xx - np.float32(lx)) ** 2 / np.float32(0.15)) + (((yy - np.float32(ly)) ** 2) / np.float32(0.15) + 1)
    shade *= np.float32(1) - spot + spot / d2
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


def _candidates(labels: np.ndarray, rng: np.random.Generator, size: int, n: int = 300) -> np.ndarray:
    """Random points whose disk (and a margin for the circle) lies inside one patch."""
    pad = 24
    xy = rng.integers(pad, size - pad, (n, 2))
    lab = disk_values(labels, xy, DISK_RADIUS + 3)
    return xy[lab.min(axis=1) == lab.max(axis=1)]


def _choose_pair(ya, yo, xy, target, mislead, rng, size, same_max, diff_min, a_left=False):
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
    if a_left:  # A in the left part of the image, B in the right part
        ok = ok & (xy[order[0], 0] < 0.4 * size) & (xy[order[1], 0] > 0.6 * size)
    hits = np.flatnonzero(ok)
    if not len(hits):
        return None
    k = hits[0]
    return int(order[0][k]), int(order[1][k])


def _flat_shading(size: int):
    """Even white light: the image shows the albedo itself (easier levels)."""
    return np.ones((size, size), np.float32), np.ones(3, np.float32), {"flat": True}


def _one_example(rng, size, target, mislead, same_max, diff_min, scene=None, shading="paper", a_left=False):
    for _ in range(100):
        labels, pal, alb, _ = _albedo_scene(rng, size, **(scene or {}))
        shade, tint, sdesc = _shading(rng, size) if shading == "paper" else _flat_shading(size)
        xy = _candidates(labels, rng, size)
        if len(xy) < 2:
            continue
        lin = alb * shade[..., None]
        lin *= tint
        img = encode_srgb(lin)
        ya = disk_mean(alb, xy) @ LUMA
        yo = disk_mean(img, xy, lut=_srgb_lut()) @ LUMA
        pair = _choose_pair(ya, yo, xy, target, mislead, rng, size, same_max, diff_min, a_left)
        if pair is not None:
            return img, labels, pal, sdesc, xy, ya, yo, pair
    raise RuntimeError(f"relative_reflectance: no pair for target {target} after 100 scenes")


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    indices: range | None = None,
    image_size: int = IMAGE_SIZE,
    same_fraction: float = 0.25,
    mislead: float = 0.45,
    same_max: float = 0.07,
    diff_min: float = 0.18,
    shading: str = "paper",
    textures: bool = True,
    patches: tuple[int, int] | list[int] = (6, 12),
    patch_size: tuple[float, float] | list[float] = (0.15, 0.5),
    mark_radius: int = 10,
    mark_font: int = 20,
    a_left: bool = False,
) -> list[dict]:
    """`n` records. `same_fraction` of answers are C; `mislead` is the fraction whose shading
    works against the answer; `same_max` / `diff_min` keep the albedo rel away from the 0.10
    threshold (<= same_max for C, > diff_min for A/B) so labels are not borderline.
    Easier levels: `shading` "flat" (even white light instead of ramps, point lights and cast
    shadows), `textures` False (flat patches), `patches` [lo, hi) patches per scene of
    `patch_size` (fractions of the image side), `mark_radius` / `mark_font` (pixels) of the marks,
    `a_left` (A always in the left 40% of the image, B in the right 40%).

    The scenes are procedural (no photos), drawn from the split's own random stream."""
    for name, v in (("same_fraction", same_fraction), ("mislead", mislead)):
        if not 0.0 <= v <= 1.0:
            raise ConfigError(f"relative_reflectance {name} must be in [0, 1], got {v}")
    if not 0.0 <= same_max <= SAME_THRESHOLD < diff_min:
        raise ConfigError(
            f"relative_reflectance needs 0 <= same_max <= {SAME_THRESHOLD} < diff_min, got "
            f"same_max={same_max}, diff_min={diff_min}")
    if shading not in ("paper", "flat"):
        raise ConfigError(f"relative_reflectance shading must be 'paper' or 'flat', got {shading!r}")
    if not (1 <= patches[0] < patches[1] and 0 < patch_size[0] <= patch_size[1] <= 1.5
            and 4 <= mark_radius <= 40 and 8 <= mark_font <= 60):
        raise ConfigError(f"relative_reflectance needs 1 <= patches[0] < patches[1], 0 < patch_size[0] <= "
                          f"patch_size[1] <= 1.5, mark_radius in [4, 40] and mark_font in [8, 60], got "
                          f"patches={patches}, patch_size={patch_size}, mark_radius={mark_radius}, "
                          f"mark_font={mark_font}")
    scene = {"patches": tuple(patches), "patch_size": tuple(patch_size), "textures": bool(textures)}
    question, choices, prompt = build_prompt(TASK)
    n_same = int(round(n * same_fraction))
    targets = np.array(["C"] * n_same + ["A"] * ((n - n_same) // 2) + ["B"] * (n - n_same - (n - n_same) // 2))
    targets = rng.permutation(targets)
    misleads = rng.uniform(size=n) < mislead
    records = []
    for i, rec_rng in record_streams(rng, n, indices):
        target, misl = str(targets[i]), bool(misleads[i])
        img, labels, pal, sdesc, xy, ya, yo, (a, b) = _one_example(
            rec_rng, image_size, target, misl, same_max, diff_min, scene, shading, a_left)
        ya_a, ya_b = float(ya[a]), float(ya[b])
        answer = label_from_luminance(ya_a, ya_b)
        assert answer == target, (answer, target)  # the pair search guarantees it
        pil = Image.fromarray(img)
        draw_point_mark(pil, xy[a], "A", radius=mark_radius, font_size=mark_font)
        draw_point_mark(pil, xy[b], "B", radius=mark_radius, font_size=mark_font)
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
