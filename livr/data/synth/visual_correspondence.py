"""Offline BLINK-style visual correspondence (paper appendix A.4), with a synthetic "second shot"
instead of HPatches.

The source is a crop of a split photo; the target is the same scene under a random homography
(rotation, zoom, shift and perspective; `strength` scales them all) plus a photometric change
(brightness, contrast, gamma, colour cast). The target is rendered from a larger view around the
source so it has no empty borders. A REF point is sampled away from the borders on a textured spot
and mapped through the homography; it is kept only if it lands safely inside the target. The three
distractors are other textured source points mapped the same way, so true and false candidates
come from one distribution; they are at least `min_sep` of the image diagonal from the true point
and from each other. The answer letter is exactly balanced over A-D.

Difficulty levels (`LEVELS`, hardest first): `paper` is the rule above; `medium` scales the
viewpoint and photometric change to 30%, keeps candidates 0.3 of the diagonal apart, draws
2.5x larger rings and labels on a softened photo and letters the candidates A-D from left to
right; `easy` is the same with almost no change (10%), so the REF position and the letters
survive the shrink to 112 px.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from livr.data.prompts import build_prompt
from livr.data.schema import choice_letter, make_record
from livr.data.synth import record_streams
from livr.data.synth._common import balanced, label_sprite, pick_photo, random_view, rects_overlap, soften_photo

TASK = "visual_correspondence"
MARK_RED = (255, 20, 20)  # brighter than the REF / A-D marks of _common.draw_point_mark
WHITE = (255, 255, 255)

LEVELS: dict[str, dict] = {
    "paper": {},
    "medium": {"strength": 0.3, "min_sep": 0.3, "mark_scale": 2.5, "soften": 0.6, "reading_order": True},
    "easy": {"strength": 0.1, "min_sep": 0.3, "mark_scale": 2.5, "soften": 0.6, "reading_order": True},
}


def homography_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 matrix H with H @ [x, y, 1] ~ [u, v, 1] for four point pairs (DLT, exact)."""
    (x, y), (u, v) = np.asarray(src, float).T, np.asarray(dst, float).T
    one, zero = np.ones(4), np.zeros(4)
    a = np.empty((8, 8))
    a[0::2] = np.stack([x, y, one, zero, zero, zero, -u * x, -u * y], axis=1)
    a[1::2] = np.stack([zero, zero, zero, x, y, one, -v * x, -v * y], axis=1)
    h = np.linalg.solve(a, np.stack([u, v], axis=1).reshape(-1))
    return np.append(h, 1.0).reshape(3, 3)


def apply_homography(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, float)
    q = np.c_[pts, np.ones(len(pts))] @ h.T
    return q[:, :2] / q[:, 2:3]


def random_homography(width: int, height: int, strength: float, rng) -> np.ndarray:
    """Source-to-target homography: rotation, zoom and shift about the centre, then each corner
    moved independently (perspective), all scaled by `strength`."""
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], float)
    centre = np.array([width, height]) / 2
    angle = np.deg2rad(rng.uniform(-20, 20) * strength)
    zoom = np.exp(rng.uniform(-0.2, 0.2) * strength)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    size = np.array([width, height])
    shift = rng.uniform(-0.08, 0.08, size=2) * size * strength
    dst = (corners - centre) @ rot.T * zoom + centre + shift
    dst += rng.uniform(-0.1, 0.1, size=(4, 2)) * size * strength
    return homography_from_points(corners, dst)


def photometric_lut(rng, strength: float) -> tuple[list[int], dict]:
    """A per-channel 256-entry lookup table for brightness, contrast, gamma and colour cast."""
    params = {
        "brightness": float(rng.uniform(-0.15, 0.15) * strength),
        "contrast": float(np.exp(rng.uniform(-0.3, 0.3) * strength)),
        "gamma": float(np.exp(rng.uniform(-0.35, 0.35) * strength)),
        "gains": [float(g) for g in np.exp(rng.uniform(-0.08, 0.08, size=3) * strength)],
    }
    x = np.linspace(0, 1, 256) ** params["gamma"]
    y = (x - 0.5) * params["contrast"] + 0.5 + params["brightness"]
    lut = np.concatenate([np.clip(np.round(y * g * 255), 0, 255) for g in params["gains"]])
    return lut.astype(int).tolist(), {k: np.round(v, 4).tolist() for k, v in params.items()}


def covered_homography(width, height, mx, my, strength, rng, tries: int = 50):
    """A random homography whose target frame maps back inside the source frame grown by
    (mx, my) on each side, so the target can be rendered without empty borders; or None."""
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], float)
    for _ in range(tries):
        h = random_homography(width, height, strength, rng)
        back = apply_homography(np.linalg.inv(h), corners)
        if np.all((back >= [-mx, -my]) & (back <= [width + mx, height + my])):
            return h
    return None


def sample_scene(photo, width: int, height: int, strength: float, rng):
    """(view, source, homography, view box) or None: the source is the middle of a view 40%
    larger, so the target can later be rendered from the view without empty borders."""
    mx, my = int(0.2 * width), int(0.2 * height)
    h = covered_homography(width, height, mx, my, strength, rng)
    if h is None:
        return None
    view, view_box = random_view(photo, width + 2 * mx, height + 2 * my, rng)
    return view, view.crop((mx, my, mx + width, my + height)), h, view_box


def render_target(view: Image.Image, source_size, h: np.ndarray, strength: float, rng):
    """The second shot: the view warped by `h` into the source frame's size, then the
    photometric change. Returns (target, photometric params)."""
    width, height = source_size
    mx, my = (view.width - width) // 2, (view.height - height) // 2
    # PIL wants the target-to-view map: undo h, then shift source pixels into the view.
    to_view = np.array([[1, 0, mx], [0, 1, my], [0, 0, 1]], float) @ np.linalg.inv(h)
    coeffs = (to_view / to_view[2, 2]).reshape(-1)[:8]
    target = view.transform((width, height), Image.Transform.PERSPECTIVE, tuple(coeffs),
                            Image.Resampling.BILINEAR)
    lut, photometric = photometric_lut(rng, strength)
    return target.point(lut), photometric


def make_pair(photo, width: int, height: int, strength: float, rng):
    """(source, target, homography, view box, photometric params), or None (unmarked images)."""
    scene = sample_scene(photo, width, height, strength, rng)
    if scene is None:
        return None
    view, source, h, view_box = scene
    target, photometric = render_target(view, source.size, h, strength, rng)
    return source, target, h, view_box, photometric


def texture(grey: np.ndarray, pts: np.ndarray, half: int = 5) -> np.ndarray:
    """Standard deviation of the (2*half+1)^2 grey patch around each point."""
    off = np.arange(-half, half + 1)
    xs = np.clip(pts[:, 0].astype(int)[:, None, None] + off[None, None, :], 0, grey.shape[1] - 1)
    ys = np.clip(pts[:, 1].astype(int)[:, None, None] + off[None, :, None], 0, grey.shape[0] - 1)
    return grey[ys, xs].astype(np.float32).std(axis=(1, 2))


def pick_points(source, h, rng, min_sep: float, min_texture: float, slot: int | None = None,
                min_dx: float = 0.0):
    """(ref point in the source, 4 target points with the true one first) or None; with `slot`,
    see `_pick_in_reading_order`."""
    width, height = source.size
    border = 0.12 * min(width, height)
    src = rng.uniform([border, border], [width - border, height - border], size=(160, 2))
    dst = apply_homography(h, src)
    far_from_edge = (dst >= border) & (dst <= np.array([width, height]) - border)
    inside = np.flatnonzero(far_from_edge.all(axis=1))
    grey = np.asarray(source.convert("L"))
    ok = inside[texture(grey, src[inside]) >= min_texture]
    if len(ok) < 4:
        return None
    sep = min_sep * float(np.hypot(width, height))
    far = (np.linalg.norm(dst[ok][:, None] - dst[ok][None], axis=2) >= sep).tolist()
    if slot is not None:
        return _pick_in_reading_order(src[ok], dst[ok], far, slot, min_dx * width)
    chosen = [0]
    for k in range(1, len(ok)):
        if all(far[k][j] for j in chosen):
            chosen.append(k)
            if len(chosen) == 4:
                return src[ok[0]], dst[ok[chosen]]
    return None


def _pick_in_reading_order(src, dst, far, slot: int, min_dx: float):
    """Like pick_points, but the 3 distractors are chosen so that exactly `slot` of them lie left
    of the true point (dst[0]), every two candidates at least `min_dx` apart in x, and returned
    sorted left to right: labelled A-D with the true point inserted at `slot`, the letters run
    left to right."""
    xs = dst[:, 0]
    chosen = [0]
    left = 0
    for k in range(1, len(dst)):
        if not all(far[k][j] for j in chosen) or np.min(np.abs(xs[chosen] - xs[k])) < min_dx:
            continue
        is_left = xs[k] < xs[0]
        if is_left and left == slot or not is_left and len(chosen) - 1 - left == 3 - slot:
            continue
        chosen.append(k)
        left += int(is_left)
        if len(chosen) == 4:
            others = sorted(chosen[1:], key=lambda j: xs[j])
            return src[0], dst[[0, *others]]
    return None


def _ring(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, width: int = 3) -> None:
    draw.ellipse([x - r - 2, y - r - 2, x + r + 2, y + r + 2], outline=WHITE, width=2)
    draw.ellipse([x - r, y - r, x + r, y + r], outline=MARK_RED, width=width)


def _label_spot(x, y, r, tw, th, width, height, taken):
    """Top-left of a tw x th label beside the circle at (x, y), inside the image and clear of
    the rectangles in `taken`; the first spot of right, left, above, below that fits."""
    gap = r + 4
    spots = [(x + gap, y - th / 2), (x - gap - tw, y - th / 2),
             (x - tw / 2, y - gap - th), (x - tw / 2, y + gap)]
    best = None
    for sx, sy in spots:
        sx, sy = min(max(sx, 0), width - tw), min(max(sy, 0), height - th)
        rect = (sx, sy, sx + tw, sy + th)
        if not any(rects_overlap(rect, t) for t in taken):
            return rect
        best = best or rect
    return best


def draw_marks(image: Image.Image, points, labels, radius: float, font_size: int,
               ring_width: int = 3) -> Image.Image:
    """Red rings (white rim) at `points` with red labels (white stroke) beside them."""
    image = image.copy()
    draw = ImageDraw.Draw(image)
    taken = [(x - radius - 2, y - radius - 2, x + radius + 2, y + radius + 2) for x, y in points]
    for (x, y), label in zip(points, labels):
        _ring(draw, x, y, radius, ring_width)
        sprite = label_sprite(label, font_size, MARK_RED)
        rect = _label_spot(x, y, radius, sprite.width, sprite.height, *image.size, taken)
        taken.append(rect)
        image.paste(sprite, (int(round(rect[0])), int(round(rect[1]))), sprite)
    return image


def _one_example(split, rng, strength, min_sep, min_texture, soften=0.0, slot=None, min_dx=0.0):
    for _ in range(200):
        photo = pick_photo(split, rng)
        width, height = int(rng.integers(288, 353)), int(rng.integers(224, 289))
        scene = sample_scene(photo, width, height, strength, rng)
        if scene is None:
            continue
        view, source, h, view_box = scene
        points = pick_points(source, h, rng, min_sep, min_texture, slot, min_dx)
        if points is None:
            continue
        if soften > 0:  # after picking the points, so texture is measured on the photo itself
            view = soften_photo(view, soften)
            mx, my = (view.width - width) // 2, (view.height - height) // 2
            source = view.crop((mx, my, mx + width, my + height))
        target, photometric = render_target(view, source.size, h, strength, rng)
        return photo, source, target, h, view_box, photometric, points
    raise RuntimeError(f"could not build a visual correspondence example from the {split} photos")


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    indices: range | None = None,
    strength: float = 1.0,
    min_sep: float = 0.15,
    min_texture: float = 10.0,
    mark_scale: float = 1.0,
    soften: float = 0.0,
    reading_order: bool = False,
) -> list[dict]:
    """`n` visual correspondence records: images = [source with REF, target with A-D].

    strength: scales the homography (rotation up to 20 degrees, zoom up to 1.22x, shift up to
    8%, corner moves up to 10%) and the photometric change; min_sep: smallest distance between
    candidate points, as a fraction of the image diagonal; min_texture: smallest grey standard
    deviation (0-255) around a sampled point, so points are not on flat, ambiguous regions;
    mark_scale: scales the rings' radius and line and the labels' size; soften: how far (0-1) the
    photo is blurred and faded towards its mean colour (texture is measured before softening);
    reading_order: letter the candidates A-D from left to right (each two at least 8% of the width
    apart in x) instead of in random order; the true point's letter stays exactly balanced.
    """
    if not (0 <= strength <= 1.5 and 0 < min_sep < 0.4 and 0.5 <= mark_scale <= 4 and 0 <= soften < 1):
        from livr.errors import ConfigError

        raise ConfigError(
            f"visual_correspondence needs 0 <= strength <= 1.5, 0 < min_sep < 0.4, 0.5 <= mark_scale <= 4 "
            f"and 0 <= soften < 1, got strength={strength}, min_sep={min_sep}, mark_scale={mark_scale}, "
            f"soften={soften}"
        )
    question, choices, prompt = build_prompt(TASK)
    records = []
    answers = balanced([0, 1, 2, 3], n, rng)
    for i, rec_rng in record_streams(rng, n, indices):
        answer = answers[i]
        photo, source, target, h, view_box, photometric, (ref, pts) = _one_example(
            split, rec_rng, strength, min_sep, min_texture, soften,
            answer if reading_order else None, 0.08 if reading_order else 0.0,
        )
        # pts[0] is the true point: move it to slot `answer`, keep the distractors' order.
        order = [1, 2, 3]
        order.insert(answer, 0)
        candidates = pts[order]
        size = min(source.size)
        radius, font_size = max(7.0, 0.03 * size), max(16, int(0.07 * size))
        ring_width = 3
        if mark_scale != 1.0:
            radius, font_size = radius * mark_scale, int(font_size * mark_scale)
            ring_width = max(3, round(3 * mark_scale))
        images = [
            draw_marks(source, [ref], ["REF"], radius, font_size, ring_width),
            draw_marks(target, candidates, ["A", "B", "C", "D"], radius, font_size, ring_width),
        ]
        records.append(
            make_record(
                id=f"{TASK}-{split}-{i:06d}",
                task=TASK,
                images=images,
                question=question,
                choices=choices,
                answer=choice_letter(answer),
                prompt=prompt,
                source=f"synthetic:{TASK}",
                metadata={
                    "photo": photo.name,
                    "flipped": photo.flipped,
                    "view_box": view_box,
                    "image_size": list(source.size),
                    "homography": np.round(h / h[2, 2], 8).tolist(),
                    "ref_point": np.round(ref, 2).tolist(),
                    "candidate_points": np.round(candidates, 2).tolist(),
                    "photometric": photometric,
                },
            )
        )
    return records
