"""Visual similarity: which of two variants is closer to a reference image.

Offline stand-in for the paper's NIGHTS triplets (Appendix A.9), with the answer given by
construction instead of human votes. A reference is a scene: a background (a crop of one of the
split's photos, or a procedural gradient/stripes) with 2-5 drawn objects. One variant gets a
mild, layout-preserving change (a small shift or zoom, a brightness/contrast or hue change, a
slight blur, objects nudged by a few pixels); the other a structural change (objects moved to new
places, objects replaced, a different background, or a strong recolouring). The mild variant is
the answer. The mild changes are chosen so that they often move many pixels (a shift of a
textured photo, a brightness change) while some structural changes move few (two small objects
swapped places), so a pixel-MSE heuristic is far from perfect although a person sees at once
which variant keeps the scene. `margin` in [0, 1] widens the gap between the two changes; easier
levels (`LEVELS`) also restrict the kinds of change (`mild_kinds`, `structural_kinds`).

Images: [reference, second image (A), third image (B)]; the answer letter is balanced.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from livr.data.prompts import build_prompt
from livr.data.schema import choice_letter, make_record
from livr.data.synth import record_streams
from livr.data.synth._common import balanced_labels, photo_crop, random_colour
from livr.errors import ConfigError

TASK = "visual_similarity"
IMAGE_SIZE = 224
PAD = 32  # the scene is drawn on a canvas this much larger on each side, so shifts stay filled

SHAPES = ("ellipse", "rectangle", "triangle", "star", "hexagon", "diamond")
# Mild changes and how often each is drawn: shifts and zooms of a textured scene change many
# pixels without changing what a person sees, which is what keeps pixel MSE from solving the task.
MILD = ("shift", "zoom", "brightness", "hue", "blur", "nudge")
MILD_P = (0.4, 0.25, 0.15, 0.08, 0.06, 0.06)
STRUCTURAL = ("layout", "objects", "background", "recolour", "layout+objects")
STRUCTURAL_P = (0.37, 0.32, 0.05, 0.08, 0.18)

# Difficulty levels (see livr.data.synth): the paper's mix; then the widest margin with only the
# mild changes that keep nearly every pixel (hue, blur, nudge) against a new background or a strong
# recolouring; then a blur or nudge against a strong recolouring (inverted or false colours).
LEVELS = {
    "paper": {},
    "medium": {"margin": 1.0, "mild_kinds": ["hue", "blur", "nudge"],
               "structural_kinds": ["background", "recolour"]},
    "easy": {"margin": 1.0, "mild_kinds": ["blur", "nudge"], "structural_kinds": ["recolour"]},
}


# ----------------------------------------------------------------------------------------------
# Scenes: a background description plus a list of objects, drawn on a padded canvas.


def _random_object(rng: np.random.Generator, canvas: int) -> dict:
    size = float(rng.uniform(0.12, 0.3) * canvas)
    return {
        "shape": SHAPES[int(rng.integers(len(SHAPES)))],
        "xy": [float(v) for v in rng.uniform(PAD + size / 2, canvas - PAD - size / 2, 2)],
        "size": size,
        "aspect": float(rng.uniform(0.6, 1.5)),
        "angle": float(rng.uniform(0, 2 * np.pi)),
        "colour": list(random_colour(rng, sat=(0.4, 1.0), val=(0.4, 1.0))),
        "outline": bool(rng.uniform() < 0.5),
    }


def _random_background(split: str, rng: np.random.Generator, canvas: int) -> tuple[dict, Image.Image]:
    """A background description (for the metadata) and its image."""
    if rng.uniform() < 0.6:
        im, src = photo_crop(split, (canvas, canvas), rng, frac=(0.35, 0.9))
        return {"kind": "photo", **src}, im
    kind = "gradient" if rng.uniform() < 0.6 else "stripes"
    angle = int(rng.integers(12)) * 15
    colours = (random_colour(rng), random_colour(rng))
    grad = _gradient(canvas, angle)
    if kind == "stripes":
        period = int(rng.integers(3, 9))
        grad = grad.point(lambda v: 255 if (v // period) % 2 else 0)
    desc = {"kind": kind, "colours": [list(c) for c in colours], "angle_deg": angle}
    return desc, ImageOps.colorize(grad, colours[0], colours[1])


@functools.cache
def _gradient(canvas: int, angle: int) -> Image.Image:
    big = Image.linear_gradient("L").resize((2 * canvas, 2 * canvas), Image.BILINEAR)
    rot = big.rotate(angle, resample=Image.BILINEAR)
    return rot.crop((canvas // 2, canvas // 2, canvas // 2 + canvas, canvas // 2 + canvas))


def _polygon(obj: dict) -> list[tuple[float, float]]:
    shape = obj["shape"]
    if shape == "rectangle":
        t = np.array([0.25, 0.75, 1.25, 1.75]) * np.pi
        r = np.full(4, 0.7)
    elif shape == "triangle":
        t, r = np.array([0.5, 7 / 6, 11 / 6]) * np.pi, np.full(3, 0.6)
    elif shape == "star":
        t, r = np.arange(10) * np.pi / 5, np.tile([0.6, 0.25], 5)
    elif shape == "hexagon":
        t, r = np.arange(6) * np.pi / 3, np.full(6, 0.55)
    elif shape == "diamond":
        t, r = np.arange(4) * np.pi / 2, np.array([0.6, 0.4, 0.6, 0.4])
    else:  # ellipse
        t, r = np.linspace(0, 2 * np.pi, 24, endpoint=False), np.full(24, 0.5)
    x = r * np.cos(t + obj["angle"]) * obj["size"] * obj["aspect"]
    y = r * np.sin(t + obj["angle"]) * obj["size"] / obj["aspect"]
    cx, cy = obj["xy"]
    return list(zip((x + cx).tolist(), (y + cy).tolist()))


def render(scene: dict) -> Image.Image:
    im = scene["background_image"].copy()
    d = ImageDraw.Draw(im)
    for obj in scene["objects"]:
        outline = tuple(int(v * 0.4) for v in obj["colour"]) if obj["outline"] else None
        d.polygon(_polygon(obj), fill=tuple(obj["colour"]), outline=outline, width=3 if outline else 0)
    return im


def window(im: Image.Image, size: int, dx: float = 0.0, dy: float = 0.0, zoom: float = 1.0) -> Image.Image:
    """The central size x size view of a padded canvas, shifted by (dx, dy) and zoomed."""
    c = im.width / 2
    half = size / 2 / zoom
    dx = float(np.clip(dx, half - c, c - half))  # keep the view inside the canvas
    dy = float(np.clip(dy, half - c, c - half))
    box = (c - half + dx, c - half + dy, c + half + dx, c + half + dy)
    if zoom == 1.0 and float(dx).is_integer() and float(dy).is_integer():
        return im.crop(tuple(int(v) for v in box))
    return im.resize((size, size), Image.BILINEAR, box=box)


def hue_matrix(degrees: float) -> tuple[float, ...]:
    """An RGB -> RGB matrix rotating hue about the grey axis (for Image.convert)."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    k = 1 / 3
    sq = np.sqrt(k)
    m = np.array([
        [c + (1 - c) * k, k * (1 - c) - sq * s, k * (1 - c) + sq * s],
        [k * (1 - c) + sq * s, c + k * (1 - c), k * (1 - c) - sq * s],
        [k * (1 - c) - sq * s, k * (1 - c) + sq * s, c + k * (1 - c)],
    ])
    return tuple(float(v) for row in m for v in (*row, 0.0))


# ----------------------------------------------------------------------------------------------
# The two kinds of change.


def _restricted(names, probs, allowed):
    """(names, probabilities) restricted to `allowed` (None: all), renormalised."""
    if allowed is None:
        return names, probs
    keep = [k for k, name in enumerate(names) if name in allowed]
    p = np.array([probs[k] for k in keep])
    return tuple(names[k] for k in keep), tuple((p / p.sum()).tolist())


def mild_variant(scene, canvas_im, split, rng, size, strength, allowed=None):
    """A layout-preserving change of one or two kinds; returns (image, transforms)."""
    if allowed is None:
        kinds = list(rng.choice(MILD, size=int(rng.integers(1, 3)), replace=False, p=MILD_P))
    else:
        names, p = _restricted(MILD, MILD_P, allowed)
        kinds = list(rng.choice(names, size=int(rng.integers(1, min(2, len(names)) + 1)), replace=False, p=p))
    ops, dx, dy, zoom = [], 0.0, 0.0, 1.0
    im = canvas_im
    if "nudge" in kinds:
        moved = {"background_image": scene["background_image"], "objects": copy.deepcopy(scene["objects"])}
        for obj in moved["objects"]:
            obj["xy"] = [v + float(rng.uniform(-6, 6) * strength) for v in obj["xy"]]
        im = render(moved)
        ops.append({"op": "nudge", "max_px": round(6 * strength, 1)})
    if "shift" in kinds:
        dx, dy = (float(v) for v in np.round(rng.uniform(4, 10, 2) * strength * rng.choice([-1, 1], 2)))
        ops.append({"op": "shift", "dx": dx, "dy": dy})
    if "zoom" in kinds:
        zoom = float(1 + rng.choice([-1, 1]) * rng.uniform(0.04, 0.08) * strength)
        ops.append({"op": "zoom", "factor": round(zoom, 3)})
    out = window(im, size, dx, dy, zoom)
    if "brightness" in kinds:
        gain = float(1 + rng.choice([-1, 1]) * rng.uniform(0.1, 0.22) * strength)
        lift = float(rng.uniform(-0.05, 0.05) * strength)
        out = out.point(lambda v: v * gain + 255 * lift)
        ops.append({"op": "brightness", "gain": round(gain, 3), "lift": round(lift, 3)})
    if "hue" in kinds:
        deg = float(rng.choice([-1, 1]) * rng.uniform(10, 25) * strength)
        out = out.convert("RGB", hue_matrix(deg))
        ops.append({"op": "hue", "degrees": round(deg, 1)})
    if "blur" in kinds:
        r = float(rng.uniform(0.8, 1.6) * strength)
        out = out.filter(ImageFilter.BoxBlur(r))
        ops.append({"op": "blur", "radius": round(r, 2)})
    return out, ops


def structural_variant(scene, split, rng, size, strength, allowed=None):
    """A change of the scene's structure; returns (image, transforms)."""
    canvas = size + 2 * PAD
    names, p = _restricted(STRUCTURAL, STRUCTURAL_P, allowed)
    kind = names[int(rng.choice(len(names), p=p))]
    new = copy.deepcopy({k: v for k, v in scene.items() if k != "background_image"})
    new["background_image"] = scene["background_image"]
    ops = []
    if kind in ("layout", "layout+objects"):
        min_move = 0.25 * size * strength
        for obj in new["objects"]:
            for _ in range(20):  # a new place, clearly away from the old one
                xy = rng.uniform(PAD + obj["size"] / 2, canvas - PAD - obj["size"] / 2, 2)
                if np.hypot(*(xy - obj["xy"])) >= min_move:
                    break
            obj["xy"] = [float(v) for v in xy]
        ops.append({"op": "layout", "min_move_px": round(min_move, 1)})
    if kind in ("objects", "layout+objects"):
        k = len(new["objects"])
        n_new = max(1, int(np.ceil(k * min(1.0, 0.5 * strength + 0.25))))
        for j in rng.choice(k, n_new, replace=False):
            old = new["objects"][j]
            repl = _random_object(rng, canvas)
            while repl["shape"] == old["shape"]:
                repl["shape"] = SHAPES[int(rng.integers(len(SHAPES)))]
            repl["xy"] = old["xy"]
            new["objects"][j] = repl
        ops.append({"op": "objects", "replaced": n_new})
    if kind == "background":
        for _ in range(10):
            bg, bg_im = _random_background(split, rng, canvas)
            if bg != new["background"]:
                break
        new["background"], new["background_image"] = bg, bg_im
        ops.append({"op": "background", "background": bg})
    im = window(render(new), size)
    if kind == "recolour":
        # strong whatever the scene's saturation (a hue rotation alone barely changes a grey photo)
        if rng.uniform() < 0.5:
            im = ImageOps.invert(im)
            ops.append({"op": "recolour", "how": "invert"})
        else:
            dark = random_colour(rng, val=(0.0, 0.35))
            light = random_colour(rng, val=(0.7, 1.0))
            im = ImageOps.colorize(im.convert("L"), dark, light)
            ops.append({"op": "recolour", "how": "false colour", "dark": list(dark), "light": list(light)})
    return im, ops


def _mse(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a, np.float32) - np.asarray(b, np.float32)
    return float(np.mean(x * x)) / 255**2


def _layout_mse(a: Image.Image, b: Image.Image) -> float:
    """MSE of 14 x 14 grey thumbnails: a coarse layout distance, blind to fine texture."""
    ta, tb = (np.asarray(im.convert("L").reduce(16), np.float32) for im in (a, b))
    return float(np.mean((ta - tb) ** 2)) / 255**2


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    indices: range | None = None,
    image_size: int = IMAGE_SIZE,
    margin: float = 0.5,
    mild_kinds: list[str] | tuple[str, ...] | None = None,
    structural_kinds: list[str] | tuple[str, ...] | None = None,
) -> list[dict]:
    """`n` records; `margin` in [0, 1]: 0 = strongest mild changes and weakest structural ones.
    `mild_kinds` / `structural_kinds`: draw the changes only from these kinds (of MILD /
    STRUCTURAL, in their relative frequencies); None = all of them (the paper's mix)."""
    if not 0.0 <= margin <= 1.0:
        raise ConfigError(f"visual_similarity margin must be in [0, 1], got {margin}")
    for name, kinds, known in (("mild_kinds", mild_kinds, MILD),
                               ("structural_kinds", structural_kinds, STRUCTURAL)):
        if kinds is not None and (not kinds or not set(kinds) <= set(known)):
            raise ConfigError(f"visual_similarity {name} must be a non-empty subset of {known}, got {kinds}")
    question, choices, prompt = build_prompt(TASK)
    answers = balanced_labels(n, 2, rng)
    canvas = image_size + 2 * PAD
    mild_strength = 1.25 - 0.5 * margin
    structural_strength = 0.75 + 0.5 * margin
    records = []
    for i, rec_rng in record_streams(rng, n, indices):
        bg, bg_im = _random_background(split, rec_rng, canvas)
        scene = {
            "background": bg,
            "background_image": bg_im,
            "objects": [_random_object(rec_rng, canvas) for _ in range(int(rec_rng.integers(2, 6)))],
        }
        canvas_im = render(scene)
        ref = window(canvas_im, image_size)
        near, near_ops = mild_variant(scene, canvas_im, split, rec_rng, image_size, mild_strength, mild_kinds)
        far, far_ops = structural_variant(scene, split, rec_rng, image_size, structural_strength,
                                          structural_kinds)
        pos = int(answers[i])
        cands = [near, far] if pos == 0 else [far, near]
        meta = {
            "closer": choice_letter(pos),
            "transforms": {"mild": near_ops, "structural": far_ops},
            "pixel_mse": [round(_mse(ref, c), 6) for c in cands],
            "layout_mse": [round(_layout_mse(ref, c), 6) for c in cands],
            "strengths": {"mild": round(mild_strength, 3), "structural": round(structural_strength, 3)},
            "scene": {"background": scene["background"], "objects": len(scene["objects"])},
            "margin": margin,
        }
        records.append(make_record(
            id=f"{TASK}-{split}-{i:06d}", task=TASK, images=[ref, *cands], question=question, choices=choices,
            answer=choice_letter(pos), prompt=prompt, source=f"synthetic:{TASK}", metadata=meta,
        ))
    return records
