"""Art style: which of two candidate paintings shares the reference painting's style.

Offline stand-in for the paper's ArtBench-10 triplets (Appendix A.5). Eight procedural painting
styles (pointillism, directional brush strokes, cubist facets, watercolour, ukiyo-e woodblock,
mosaic, cross-hatching, impasto) each turn a content image into a painting, with the style's
parameters (dot size, stroke direction, number of planes, palette, tile size, ink colours ...)
randomised within the style. Contents are crops of the split's photos or procedural scenes
(landscapes, still lifes); the three images of an example always have three different contents
(different photos, or fresh procedural scenes), so matching content is no shortcut. Every image
also gets a random colour grade (gain, channel balance, gamma) so that global colour statistics
say little about the style: a mean-colour nearest-neighbour heuristic scores near chance.

Images: [reference, second image (A), third image (B)]; the answer letter is balanced. Easier levels
(`LEVELS`) draw from three strongly different styles and drop or replace the random colour grade.

Speed: a painting must cost about a millisecond, so the styles lean on PIL's C routines (lookup
tables, palettes, masked paste), do smooth work at half resolution, and cut their fine textures
(dot screens, hatch lines, stroke streaks, paint relief) from a small texture bank built once.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from livr.data.prompts import build_prompt
from livr.data.schema import choice_letter, make_record
from livr.data.synth import record_streams
from livr.data.synth._common import balanced_labels, photo_crop, random_colour, split_photo_pyramid
from livr.errors import ConfigError

TASK = "art_style"

# Difficulty levels (see livr.data.synth): the paper's eight colour-graded styles; then three
# styles that differ strongly in texture (soft washes, tiles, hatch lines), left in their own
# colours; then the same three, each graded to a colour of its own.
LEVELS = {
    "paper": {},
    "medium": {"styles": ["watercolour", "mosaic", "cross-hatching"], "grade": "none"},
    "easy": {"styles": ["watercolour", "mosaic", "cross-hatching"], "grade": "by style"},
}
IMAGE_SIZE = 224
BANK_SIZE = 288  # bank textures are cut to the image size at a random offset
BANK_ANGLES = 12  # stroke and hatch directions in the bank, every 15 degrees

F32 = np.float32


# ----------------------------------------------------------------------------------------------
# Small helpers.


def to_u8(a: np.ndarray) -> np.ndarray:
    return (np.clip(a, 0, 1) * F32(255) + F32(0.5)).astype(np.uint8)


def to_f32(a) -> np.ndarray:
    return np.asarray(a, np.float32) * F32(1 / 255)


def level_lut(levels: float, gain: float = 1.0, lift: float = 0.0) -> list[int]:
    """A 3-channel lookup table: posterise to `levels` (0: no posterising), then v * gain + lift."""
    v = np.arange(256) / 255
    if levels:
        v = np.round(v * levels) / levels
    v = np.clip(v * gain + lift, 0, 1)
    return np.round(v * 255).astype(np.int64).tolist() * 3


def saturate(im: Image.Image, k: float) -> Image.Image:
    return ImageEnhance.Color(im).enhance(float(k))


def paletted(labels: np.ndarray, colours: np.ndarray) -> Image.Image:
    """RGB image of `labels` (< 256) coloured by `colours` (L, 3) in [0, 1]."""
    return Image.fromarray(np.take(to_u8(np.asarray(colours, np.float32)), labels, axis=0))


def mask_image(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(mask.view(np.uint8) * np.uint8(255))


def fill_where(im: Image.Image, mask: np.ndarray, colour) -> None:
    im.paste(Image.new("RGB", im.size, tuple(int(v) for v in colour)), (0, 0), mask_image(mask))


def modulate(im: Image.Image, factor: np.ndarray, add: np.ndarray | None = None) -> Image.Image:
    """im * factor (+ add), with per-pixel (H, W) float32 factor and offset, clipped.

    Band by band: broadcasting an (H, W) map over a trailing axis of 3 is several times slower.
    """
    bands = []
    for band in im.split():
        v = np.asarray(band).astype(np.float32)
        v *= factor
        if add is not None:
            v += add
        np.clip(v, 0, 255, out=v)
        bands.append(Image.fromarray(v.astype(np.uint8)))
    return Image.merge("RGB", bands)


def boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has another label."""
    e = np.zeros(labels.shape, bool)
    e[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    e[:-1, :] |= labels[1:, :] != labels[:-1, :]
    return e


def double(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour x2 upsampling of a half-resolution map, cut to (h, w)."""
    return a.repeat(2, 0).repeat(2, 1)[:h, :w]


def half_smooth(c: Image.Image, radius: float = 0.0) -> Image.Image:
    """`c` at half resolution, optionally blurred (blurring at full resolution costs 5x more)."""
    half = c.reduce(2)
    return half.filter(ImageFilter.BoxBlur(radius)) if radius > 0 else half


def cell_means(c: Image.Image, cell: int, gh: int, gw: int) -> np.ndarray:
    """Mean colour (uint8) of each cell x cell block, on a (gh, gw) grid; cells past the image
    edge repeat the last full ones."""
    w, h = c.size
    fh, fw = h // cell, w // cell
    full = np.asarray(c.reduce(cell, box=(0, 0, fw * cell, fh * cell)))
    return np.pad(full, ((0, gh - fh), (0, gw - fw), (0, 0)), mode="edge")


def _axes(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]


# ----------------------------------------------------------------------------------------------
# Texture bank: fixed textures built once from a fixed seed. Like a font they are constants, not
# per-example randomness; examples pick a texture and a crop offset with their own rng.


@functools.cache
def texture_bank() -> dict:
    g = np.random.default_rng(20240611)
    s = BANK_SIZE
    angles = np.arange(BANK_ANGLES) * (180.0 / BANK_ANGLES)
    yy, xx = _axes(s, s)
    streak, hatch = [], []
    for ang in angles:
        small = g.integers(0, 256, (s // 3, s // 30), dtype=np.uint8)
        big = Image.fromarray(small).resize((int(s * 1.5), int(s * 1.5)), Image.BILINEAR)
        rot = big.rotate(float(ang), resample=Image.BILINEAR)
        off = (rot.width - s) // 2
        streak.append(to_f32(rot.crop((off, off, off + s, off + s))))
        wob = to_f32(Image.fromarray(g.integers(0, 256, (s // 40, s // 40), dtype=np.uint8))
                     .resize((s, s), Image.BICUBIC)) * 4
        a = np.deg2rad(ang)
        for period in (4.5, 6.5):
            ph = (xx * np.cos(a) + yy * np.sin(a) + wob) / period
            hatch.append(ph - np.floor(ph) < 0.35)
    dots = {}
    for cell in range(5, 9):
        gc = s // cell + 1
        for k, frac in enumerate((0.4, 0.47, 0.54)):
            jit = g.uniform(-0.22, 0.22, (2, gc, gc)) * cell
            jx = jit[0].repeat(cell, 0).repeat(cell, 1)[:s, :s]
            jy = jit[1].repeat(cell, 0).repeat(cell, 1)[:s, :s]
            dx = xx % cell - cell / 2 - jx
            dy = yy % cell - cell / 2 - jy
            dots[cell, k] = dx * dx + dy * dy < (frac * cell) ** 2
    blotch, grain, relief = [], [], []
    for _ in range(4):
        blotch.append(to_f32(Image.fromarray(g.integers(0, 256, (s // 40, s // 40), dtype=np.uint8))
                             .resize((s, s), Image.BICUBIC)))
        grain.append(to_f32(Image.fromarray(g.integers(0, 256, (s, s), dtype=np.uint8))
                            .filter(ImageFilter.BoxBlur(0.7))))
        relief.append(_relief(g, s))
    return {"streak": streak, "hatch": hatch, "dots": dots, "blotch": blotch, "grain": grain,
            "relief": relief, "angles": angles.tolist()}


def _relief(g: np.random.Generator, s: int) -> np.ndarray:
    """Shading (mean ~0.5) of a height field of short thick paint dabs lit from the upper left."""
    h = Image.new("L", (s, s), 128)
    d = ImageDraw.Draw(h)
    for _ in range(s * s // 100):
        x, y = g.uniform(0, s, 2)
        a = g.uniform(0, np.pi)
        ln = g.uniform(6, 16)
        d.line([(x, y), (x + ln * np.cos(a), y + ln * np.sin(a))], fill=int(g.integers(60, 255)),
               width=int(g.integers(3, 7)))
    hf = to_f32(h.filter(ImageFilter.BoxBlur(1.5)))
    gy, gx = np.gradient(hf)
    return np.clip(0.5 + 6.0 * (-gx - gy), 0, 1).astype(np.float32)


def cut(tile: np.ndarray, rng: np.random.Generator, h: int, w: int, step: int = 1, flip: bool = True):
    """A random (h, w) window of a bank texture (offset a multiple of `step`), maybe flipped."""
    y = int(rng.integers(0, (tile.shape[0] - h) // step + 1)) * step
    x = int(rng.integers(0, (tile.shape[1] - w) // step + 1)) * step
    t = tile[y : y + h, x : x + w]
    if flip and rng.uniform() < 0.5:
        t = t[::-1]
    if flip and rng.uniform() < 0.5:
        t = t[:, ::-1]
    return t


def bank_tile(kind: str, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    tiles = texture_bank()[kind]
    return cut(tiles[int(rng.integers(len(tiles)))], rng, h, w)


# ----------------------------------------------------------------------------------------------
# Styles: content (PIL RGB) -> painting (PIL RGB), plus the parameters used.


def pointillism(c, rng):
    w, h = c.size
    s = int(rng.integers(5, 9))
    k = int(rng.integers(3))
    gh, gw = h // s + 1, w // s + 1
    cells = cell_means(c, s, gh, gw).astype(F32)
    grey = cells.mean(axis=2, keepdims=True)
    cells = grey + (cells - grey) * F32(rng.uniform(1.3, 1.9)) + rng.normal(0, 18, cells.shape).astype(F32)
    big = np.clip(cells, 0, 255).astype(np.uint8).repeat(s, 0).repeat(s, 1)[:h, :w]
    dots = cut(texture_bank()["dots"][s, k], rng, h, w, step=s, flip=False)
    paper = np.array(random_colour(rng, sat=(0, 0.2), val=(0.75, 1.0)), np.uint8)
    out = Image.fromarray((big >> 2) + (paper >> 1) + (paper >> 2))  # the canvas, thinly washed
    out.paste(Image.fromarray(big), (0, 0), mask_image(dots))
    return out, {"dot_spacing": s, "dot_size": ("small", "medium", "large")[k]}


SMEAR_PAD = 10  # pixels of edge padding for the stroke smear (> the largest displacement)


@functools.cache
def _smear_offsets(k: int, w: int) -> np.ndarray:
    """For bank direction k: flat-index offsets (in an image of width w + 2 * SMEAR_PAD) that move
    each pixel by up to 9 px along the stroke direction, scaled by the streak texture."""
    ang = np.deg2rad(texture_bank()["angles"][k])
    disp = (texture_bank()["streak"][k] - F32(0.5)) * F32(2 * 9)
    # rotate() turned the bank's horizontal streaks counter-clockwise: with y down, (cos, -sin)
    ox = np.round(disp * np.cos(ang)).astype(np.int32)
    oy = np.round(-disp * np.sin(ang)).astype(np.int32)
    return oy * (w + 2 * SMEAR_PAD) + ox


@functools.cache
def _padded_grid(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy + SMEAR_PAD) * (w + 2 * SMEAR_PAD) + xx + SMEAR_PAD).astype(np.int32)


def brush_strokes(c, rng):
    w, h = c.size
    bank = texture_bank()
    k = int(rng.integers(BANK_ANGLES))
    y = int(rng.integers(0, BANK_SIZE - h + 1))
    x = int(rng.integers(0, BANK_SIZE - w + 1))
    # smear the colours along the stroke direction (a nearest-pixel warp) ...
    idx = _padded_grid(h, w) + _smear_offsets(k, w)[y : y + h, x : x + w]
    base = np.asarray(c.point(level_lut(rng.uniform(5, 9))))
    base = np.pad(base, ((SMEAR_PAD, SMEAR_PAD), (SMEAR_PAD, SMEAR_PAD), (0, 0)), mode="edge")
    smeared = Image.fromarray(np.take(base.reshape(-1, 3), idx, axis=0))
    # ... and give each stroke its own light and dark streaks
    shade = F32(0.72) + F32(0.56) * bank["streak"][k][y : y + h, x : x + w]
    return modulate(smeared, shade), {"stroke_angle_deg": bank["angles"][k]}


def cubist(c, rng):
    w, h = c.size
    hw, hh = (w + 1) // 2, (h + 1) // 2
    n = int(rng.integers(6, 10))
    yy, xx = _axes(hh, hw)
    bits = np.zeros((hh, hw), np.int32)
    lines = []
    for b in range(n):  # planes cut by straight lines, computed at half resolution
        px, py = rng.uniform(0.15, 0.85, 2) * (hw, hh)
        a = rng.uniform(0, np.pi)
        side = xx * F32(np.cos(a)) + (yy * F32(np.sin(a)) - F32(px * np.cos(a) + py * np.sin(a))) > 0
        bits |= side.astype(np.int32) << b
        ux, uy = -np.sin(a) * 2 * (w + h), np.cos(a) * 2 * (w + h)  # along the line, far past the edges
        lines.append([(2 * px - ux, 2 * py - uy), (2 * px + ux, 2 * py + uy)])
    present = np.flatnonzero(np.bincount(bits.ravel(), minlength=1 << n))  # at most ~50 planes
    remap = np.zeros(1 << n, np.uint8)
    remap[present] = np.arange(len(present))
    labels = np.take(remap, bits)
    m = len(present)
    flat = labels.ravel()
    half = c.reduce(2) if (hw, hh) == (w // 2, h // 2) else c.resize((hw, hh), Image.BOX)
    small = np.asarray(half).reshape(-1, 3)
    cnt = np.bincount(flat, minlength=m).astype(F32) + F32(1e-6)
    means = np.stack([np.bincount(flat, small[:, ch].astype(F32), minlength=m) for ch in range(3)], 1)
    means = means / cnt[:, None] / 255
    lv = rng.uniform(3, 5)
    means = np.round(means * lv) / lv * 0.6 + means * 0.4
    means = np.clip(means * rng.uniform(0.75, 1.25, (m, 1)), 0, 1)  # planes lit differently
    planes = paletted(double(labels, h, w), means)
    mix = float(rng.uniform(0.15, 0.4))  # a little posterised content shows through the planes
    out = Image.blend(planes, c.point(level_lut(lv)), mix)
    draw = ImageDraw.Draw(out)
    ink = random_colour(rng, sat=(0, 0.5), val=(0.05, 0.3))
    width = int(rng.integers(2, 4))
    for seg in lines:  # every point of every cut line separates two planes
        draw.line(seg, fill=ink, width=width)
    return out, {"planes": m, "levels": round(float(lv), 2)}


def watercolour(c, rng):
    w, h = c.size
    pale = rng.uniform(0.5, 0.8)  # transparent, pale washes: 1 - (1 - v) * pale
    half = half_smooth(c, rng.uniform(1, 2)).point(level_lut(0, pale, 1 - pale))
    k = rng.uniform(3, 6)
    q = (np.asarray(half.convert("L"), np.float32) * F32(k / 256)).astype(np.int32)
    edge = Image.fromarray(boundaries(q).view(np.uint8) * np.uint8(255)).filter(ImageFilter.BoxBlur(0.6))
    hh, hw = q.shape
    factor = F32(1) - F32(rng.uniform(0.6, 1.2) / 255) * np.asarray(edge, np.float32)
    factor *= F32(0.85) + F32(0.3) * bank_tile("blotch", rng, hh, hw)
    factor *= F32(0.93) + F32(0.1) * bank_tile("grain", rng, hh, hw)
    return modulate(half, factor).resize((w, h), Image.BILINEAR), {"wash_levels": round(float(k), 2)}


UKIYO_PALETTE = np.array([
    (0.14, 0.22, 0.42), (0.20, 0.20, 0.32), (0.80, 0.30, 0.20), (0.82, 0.66, 0.36), (0.94, 0.89, 0.76),
    (0.50, 0.60, 0.44), (0.90, 0.70, 0.64), (0.12, 0.11, 0.10), (0.58, 0.56, 0.52), (0.30, 0.50, 0.52),
    (0.62, 0.20, 0.22), (0.36, 0.42, 0.26),
], np.float32)


def ukiyo_e(c, rng):
    w, h = c.size
    k = int(rng.integers(4, 7))
    pal = UKIYO_PALETTE[rng.choice(len(UKIYO_PALETTE), k, replace=False)]
    pal = np.clip(pal + rng.normal(0, 0.04, pal.shape), 0, 1)
    pal = pal[np.argsort(pal @ np.array([0.299, 0.587, 0.114]))]
    lum = np.asarray(half_smooth(c, 1.5).convert("L"))
    cuts = np.quantile(lum[::2, ::2], np.linspace(0, 1, k + 1)[1:-1])
    q = np.take(np.searchsorted(cuts, np.arange(256)).astype(np.uint8), lum)  # flat areas by tone
    half = paletted(q, pal)
    fill_where(half, boundaries(q), to_u8(pal[0] * 0.6))  # dark key-block outlines
    half = modulate(half, F32(0.92) + F32(0.12) * bank_tile("grain", rng, *q.shape))
    return half.resize((w, h), Image.NEAREST), {"palette_size": k}


@functools.cache
def _mosaic_layout(t: int, g: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell index of each pixel on a (h // t + 2, w // t + 2) grid, with alternate rows offset by
    half a tile like bricks, and the grout mask (g px lines between tiles)."""
    gw = w // t + 2
    yy, xx = np.mgrid[0:h, 0:w]
    row = yy // t
    xs = xx + (t // 2) * (row % 2)
    idx = (row * gw + xs // t).astype(np.int32)
    grout = ((yy % t) < g) | ((xs % t) < g)
    return idx, grout


def mosaic(c, rng):
    w, h = c.size
    t = int(rng.integers(7, 14))
    g = int(rng.integers(1, 3))
    gh, gw = h // t + 2, w // t + 2
    lv = rng.uniform(4, 8)
    cells = cell_means(c, t, gh, gw).astype(np.int16)
    cells = np.clip(cells + rng.normal(0, 15, cells.shape).astype(np.int16), 0, 255).astype(np.uint8)
    cells = np.asarray(Image.fromarray(cells).point(level_lut(lv)))
    idx, grout = _mosaic_layout(t, g, h, w)
    res = Image.fromarray(np.take(cells.reshape(-1, 3), idx, axis=0))
    fill_where(res, grout, random_colour(rng, sat=(0, 0.2), val=(0.1, 0.9)))
    return res, {"tile_px": t, "grout_px": g}


def cross_hatching(c, rng):
    w, h = c.size
    lum = np.asarray(c.reduce(2).convert("L"), np.float32)
    lo, hi = np.quantile(lum[::2, ::2], [0.03, 0.97])
    lum = double((lum - F32(lo)) * F32(1 / max(hi - lo, 1.0)), h, w)
    bank = texture_bank()
    a0, period = int(rng.integers(BANK_ANGLES)), int(rng.integers(2))
    dirs = (a0, (a0 + BANK_ANGLES // 2 + int(rng.integers(-1, 2))) % BANK_ANGLES, (a0 + BANK_ANGLES // 4) % BANK_ANGLES)
    mode = ("ink", "chalk", "coloured pencil")[int(rng.choice(3, p=[0.45, 0.2, 0.35]))]
    # chalk draws light lines on dark paper, so it hatches where the content is bright
    layers = ((0.25, 0.5, 0.75) if mode == "chalk" else (0.8, 0.55, 0.3))
    ink = np.zeros((h, w), bool)
    for d, thr in zip(dirs, layers):
        lines = cut(bank["hatch"][2 * d + period], rng, h, w, flip=False)
        ink |= lines & ((lum > F32(thr)) if mode == "chalk" else (lum < F32(thr)))
    if mode == "ink":
        paper = random_colour(rng, sat=(0, 0.25), val=(0.8, 1.0))
        pen = Image.new("RGB", c.size, random_colour(rng, sat=(0.2, 0.8), val=(0.05, 0.35)))
    elif mode == "chalk":
        paper = random_colour(rng, sat=(0.1, 0.6), val=(0.1, 0.35))
        pen = Image.new("RGB", c.size, random_colour(rng, sat=(0, 0.3), val=(0.8, 1.0)))
    else:  # coloured pencil: strokes in the content's own, darkened colours
        paper = random_colour(rng, sat=(0, 0.15), val=(0.85, 1.0))
        pen = saturate(c, 1.4).point(level_lut(0, 0.75))
    out = Image.new("RGB", c.size, paper)
    out.paste(pen, (0, 0), mask_image(ink))
    return out, {"mode": mode, "hatch_angle_deg": bank["angles"][a0], "period_px": (4.5, 6.5)[period]}


def impasto(c, rng):
    w, h = c.size
    lv = rng.uniform(5, 9)
    half = saturate(half_smooth(c).point(level_lut(lv)), rng.uniform(1.2, 1.7))
    col = half.resize((w, h), Image.NEAREST)
    shade = bank_tile("relief", rng, h, w)
    highlight = np.maximum(shade - F32(0.75), 0) * F32(0.35 * 255)
    return modulate(col, F32(0.55) + F32(0.9) * shade, highlight), {"levels": round(float(lv), 2)}


STYLES: dict[str, Callable] = {
    "pointillism": pointillism,
    "brush strokes": brush_strokes,
    "cubism": cubist,
    "watercolour": watercolour,
    "ukiyo-e": ukiyo_e,
    "mosaic": mosaic,
    "cross-hatching": cross_hatching,
    "impasto": impasto,
}


# Mean colours of the "by style" grade (easier levels): one clearly different colour per style.
STYLE_TINTS = {
    "pointillism": (0.85, 0.75, 0.25),
    "brush strokes": (0.75, 0.3, 0.2),
    "cubism": (0.6, 0.6, 0.6),
    "watercolour": (0.35, 0.6, 0.85),
    "ukiyo-e": (0.8, 0.45, 0.6),
    "mosaic": (0.25, 0.7, 0.35),
    "cross-hatching": (0.2, 0.2, 0.35),
    "impasto": (0.9, 0.55, 0.15),
}
GRADES = ("random", "by style", "none")


def colour_grade(im: Image.Image, rng: np.random.Generator, tint=None) -> tuple[Image.Image, dict]:
    """A random gamma, then per-channel gains that move the image's mean colour to a random
    target drawn independently of the style, so the mean colour does not tell the style (each
    style left alone has its typical colours: paper white for hatching, saturated impasto ...).
    With `tint` (easier levels) the target is that colour, give or take a little."""
    gamma = rng.uniform(0.8, 1.25)
    if tint is None:
        target = np.clip(rng.uniform(0.3, 0.7) + rng.normal(0, 0.07, 3), 0.08, 0.92)
    else:
        target = np.clip(np.asarray(tint) + rng.normal(0, 0.03, 3), 0.08, 0.92)
    v = (np.arange(256) / 255) ** gamma
    hist = np.asarray(im.histogram(), np.float64).reshape(3, 256)
    mean = (hist @ v) / hist.sum(axis=1)
    gains = np.clip(target / np.maximum(mean, 1e-3), 0.35, 3.0)
    lut = np.clip(v[None, :] * gains[:, None], 0, 1)
    out = im.point(np.round(lut * 255).astype(np.int64).ravel().tolist())
    return out, {"gamma": round(float(gamma), 3), "target_mean": np.round(target, 3).tolist()}


# ----------------------------------------------------------------------------------------------
# Contents: photo crops and procedural scenes.


@functools.cache
def _gradient(size: int) -> Image.Image:
    """A top-to-bottom ramp 0..255 in all three bands."""
    return Image.linear_gradient("L").resize((size, size), Image.BILINEAR).convert("RGB")


def procedural_scene(rng: np.random.Generator, size: int) -> tuple[Image.Image, dict]:
    kind = "landscape" if rng.uniform() < 0.55 else "still life"
    im = Image.new("RGB", (size, size))
    d = ImageDraw.Draw(im)
    top, bottom = random_colour(rng, val=(0.5, 1.0)), random_colour(rng, val=(0.2, 0.8))
    t = np.arange(256) / 255
    lut = np.round(np.outer(1 - t, top) + np.outer(t, bottom)).astype(np.int64).T.ravel().tolist()
    im.paste(_gradient(size).point(lut))
    if kind == "landscape":
        r = rng.uniform(10, 28)
        sx, sy = rng.uniform(0.1, 0.9) * size, rng.uniform(0.1, 0.35) * size
        d.ellipse([sx - r, sy - r, sx + r, sy + r], fill=random_colour(rng, sat=(0.2, 0.8), val=(0.8, 1.0)))
        xs = np.linspace(0, size, 24)
        for layer in range(int(rng.integers(2, 4))):
            base = size * (0.45 + 0.15 * layer + rng.uniform(-0.05, 0.05))
            ys = base + np.sin(xs / size * rng.uniform(3, 9) + rng.uniform(0, 6)) * size * rng.uniform(0.03, 0.1)
            d.polygon([(0, size)] + list(zip(xs.tolist(), ys.tolist())) + [(size, size)], fill=random_colour(rng))
        for _ in range(int(rng.integers(1, 5))):
            x, y = rng.uniform(0.05, 0.95) * size, rng.uniform(0.6, 0.9) * size
            hgt = rng.uniform(18, 45)
            d.rectangle([x - 2, y - hgt * 0.3, x + 2, y], fill=random_colour(rng, val=(0.1, 0.4)))
            d.ellipse([x - hgt * 0.3, y - hgt, x + hgt * 0.3, y - hgt * 0.25], fill=random_colour(rng))
        if rng.uniform() < 0.5:
            x, y, s = rng.uniform(0.2, 0.8) * size, rng.uniform(0.65, 0.85) * size, rng.uniform(20, 40)
            d.rectangle([x - s / 2, y - s * 0.6, x + s / 2, y], fill=random_colour(rng))
            d.polygon([(x - s * 0.65, y - s * 0.6), (x, y - s * 1.15), (x + s * 0.65, y - s * 0.6)],
                      fill=random_colour(rng))
    else:
        ty = rng.uniform(0.55, 0.75) * size
        d.rectangle([0, ty, size, size], fill=random_colour(rng))
        for _ in range(int(rng.integers(3, 7))):
            x = rng.uniform(0.1, 0.9) * size
            wdt, hgt = rng.uniform(14, 40), rng.uniform(14, 80)
            col = random_colour(rng)
            y = ty + rng.uniform(5, 25)
            if rng.uniform() < 0.5:
                d.ellipse([x - wdt / 2, y - wdt, x + wdt / 2, y], fill=col)
            else:
                d.rectangle([x - wdt / 4, y - hgt, x + wdt / 4, y], fill=col)
                d.ellipse([x - wdt / 2, y - hgt * 0.6, x + wdt / 2, y], fill=col)
    return im, {"kind": "scene", "scene": kind}


def pick_contents(split: str, rng: np.random.Generator, size: int, k: int = 3) -> list[tuple[Image.Image, dict]]:
    """k contents, no two from the same photo (procedural scenes are always new)."""
    free = list(range(len(split_photo_pyramid(split))))
    out = []
    for _ in range(k):
        if free and rng.uniform() < 0.65:
            idx = free.pop(int(rng.integers(len(free))))
            img, src = photo_crop(split, (size, size), rng, frac=(0.3, 0.9), photo_index=idx)
            out.append((img, {"kind": "photo", **src}))
        else:
            out.append(procedural_scene(rng, size))
    return out


def paint(content: Image.Image, style: str, rng: np.random.Generator,
          grade: str = "random") -> tuple[Image.Image, dict]:
    out, params = STYLES[style](content, rng)
    if grade == "none":
        return out, {**params, "grade": None}
    out, g = colour_grade(out, rng, STYLE_TINTS[style] if grade == "by style" else None)
    return out, {**params, "grade": g}


def generate(split: str, n: int, rng: np.random.Generator, *, indices: range | None = None,
             image_size: int = IMAGE_SIZE, styles: list[str] | tuple[str, ...] | None = None,
             grade: str = "random") -> list[dict]:
    """`n` records. styles: the styles drawn from (default all eight; at least two). grade:
    "random" (the default: each image's mean colour moved to a random target, so colour says
    nothing about the style), "by style" (moved to a colour of its own per style, STYLE_TINTS),
    or "none" (each style keeps its own typical colours)."""
    if not 128 <= image_size <= BANK_SIZE:
        raise ConfigError(f"art_style image_size must be in [128, {BANK_SIZE}] (the texture bank's size), "
                          f"got {image_size}")
    names = list(STYLES) if styles is None else list(styles)
    if len(set(names)) != len(names) or len(names) < 2 or not set(names) <= set(STYLES):
        raise ConfigError(f"art_style styles must be at least two distinct names of {list(STYLES)}, "
                          f"got {styles}")
    if grade not in GRADES:
        raise ConfigError(f"art_style grade must be one of {GRADES}, got {grade!r}")
    question, choices, prompt = build_prompt(TASK)
    answers = balanced_labels(n, 2, rng)
    records = []
    for i, rec_rng in record_streams(rng, n, indices):
        s_ref, s_neg = (names[j] for j in rec_rng.choice(len(names), 2, replace=False))
        contents = pick_contents(split, rec_rng, image_size)
        pos = int(answers[i])
        styles = [s_ref, s_ref, s_neg] if pos == 0 else [s_ref, s_neg, s_ref]
        images, params = [], []
        for (content, _), style in zip(contents, styles):
            img, p = paint(content, style, rec_rng, grade)
            images.append(img)
            params.append(p)
        meta = {
            "styles": styles,
            "contents": [src for _, src in contents],
            "style_params": params,
        }
        records.append(make_record(
            id=f"{TASK}-{split}-{i:06d}", task=TASK, images=images, question=question, choices=choices,
            answer=choice_letter(pos), prompt=prompt, source=f"synthetic:{TASK}", metadata=meta,
        ))
    return records
