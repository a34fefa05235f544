"""Semantic correspondence: the same named keypoint on two different instances of a category.

Offline stand-in for the paper's SPair-71k pairs (Appendix A.6). Each category is a procedural
polygon template (quadruped, bird, car, chair, bottle, airplane, fish, bicycle) with 6-9 named
keypoints. Two instances of one category are drawn with independent shape parameters, pose
(rotation, mirroring for side-view categories), scale, aspect, colours, texture and background (a
crop of one of the split's photos). Image 1 marks one keypoint with REF; image 2 marks the true
keypoint and three other keypoints of the object as A-D, the answer letter balanced.

The category templates are built from, and rendered by, the procedural-template helpers in
`livr.data.synth._common`, which `functional_correspondence` uses too; the photo backgrounds,
balanced labels and REF / A-D point marks come from there as well.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from livr.data.prompts import build_prompt
from livr.data.schema import choice_letter, make_record
from livr.data.synth import record_streams
from livr.data.synth._common import (
    Part,
    Template,
    arc,
    balanced_labels,
    ellipse,
    far_apart,
    limb,
    MARK_RED,
    label_sprite,
    keypoint_pair_metadata,
    mark_keypoint_pair,
    photo_crop,
    poly,
    rects_overlap,
    render_object,
    softened_background,
)
from livr.data.synth._common import uniform as _u

TASK = "semantic_correspondence"
IMAGE_SIZE = 320


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


# Difficulty levels (see livr.data.synth): the paper's rules, then the same question on pairs whose
# two objects share one pose (drawn per record: any rotation up to pose[0] degrees, mirrored if
# pose[1]) give or take pose[2] degrees, at a size of pose[3] of the image and aspect pose[4],
# with larger marks farther apart on a plainer background (pose=None keeps the paper's poses);
# easy also letters the candidates A-D from left to right, each letter in its own colour.
LEVELS: dict[str, dict] = {
    "paper": {},
    "medium": {"pose": (30.0, True, 12.0, (0.7, 0.85), (0.9, 1.1)), "min_sep": 0.2, "mark_scale": 2.0,
               "background_blend": (0.45, 0.6), "texture_prob": 0.0},
    "easy": {"pose": (30.0, True, 0.0, (0.85, 0.9), (1.0, 1.0)), "min_sep": 0.3, "mark_scale": 2.5,
             "background_blend": (0.6, 0.75), "texture_prob": 0.0, "letter_colours": True,
             "reading_order": True},
}

PAPER_BLEND = (0.2, 0.45)  # softened_background's grey blend


def background(split: str, rng: np.random.Generator, size: int, blend=PAPER_BLEND):
    """`softened_background` (the same draws), with the grey blend drawn from `blend`: closer to 1
    is a plainer background."""
    if tuple(blend) == PAPER_BLEND:
        return softened_background(split, rng, size)
    bg, src = photo_crop(split, (size, size), rng, frac=(0.25, 0.8))
    grey = Image.new("RGB", bg.size, tuple(int(v) for v in rng.integers(90, 200, 3)))
    return Image.blend(bg, grey, float(rng.uniform(*blend))), src


# Label colours of the choices at levels with letter_colours (the red of the paper's marks for A)
LETTER_COLOURS = {"A": MARK_RED, "B": (35, 85, 230), "C": (30, 165, 50), "D": (250, 205, 20)}


def draw_big_mark(img: Image.Image, xy, label: str, scale: float, taken: list | None = None,
                  colour=MARK_RED, rings: list | None = None, centred: bool = False) -> None:
    """`draw_point_mark` scaled by `scale`: ring radius, ring widths and label size (the label in
    `colour`, the paper's red by default, with a white stroke). The label goes beside the ring
    (upper right, upper left, lower right, lower left, above or below) inside the image, overlapping
    the fewest rectangles in `taken` (marks drawn so far; this mark's are appended) and then as far
    as possible from the other rings in `rings` (their boxes), so that it reads as this mark's;
    `centred`: right above or below the ring if either fits in the image."""
    x, y = float(xy[0]), float(xy[1])
    r = 9 * scale
    white = 2.5 * scale
    taken = [] if taken is None else taken
    text = label_sprite(label, round(20 * scale), tuple(colour))
    tw, th = text.size
    w, h = img.size
    spots = [(x + r, y - r - th), (x - r - tw, y - r - th), (x + r, y + r), (x - r - tw, y + r),
             (x - tw / 2, y - r - white - th), (x - tw / 2, y + r + white)]
    inside = [(tx, ty) for tx, ty in spots if tx >= 1 and ty >= 1 and tx + tw <= w - 1 and ty + th <= h - 1]
    if centred and any(spot in inside for spot in spots[4:]):
        inside = [spot for spot in spots[4:] if spot in inside]
    inside = inside or spots[:1]
    others = [((t[0] + t[2]) / 2, (t[1] + t[3]) / 2) for t in rings or [] if abs((t[0] + t[2]) / 2 - x) > 1e-6
              or abs((t[1] + t[3]) / 2 - y) > 1e-6]

    def badness(spot):  # overlaps first, then closeness of the label to another mark's ring
        tx, ty = spot
        box = (tx, ty, tx + tw, ty + th)
        near = min((np.hypot(tx + tw / 2 - ox, ty + th / 2 - oy) for ox, oy in others), default=1e9)
        return (sum(rects_overlap(box, t) for t in taken), -min(near, 2 * (r + tw)))

    tx, ty = min(inside, key=badness)
    d = ImageDraw.Draw(img)
    d.ellipse([x - r - white, y - r - white, x + r + white, y + r + white], outline=(255, 255, 255),
              width=max(1, round(6 * scale)))
    d.ellipse([x - r, y - r, x + r, y + r], outline=MARK_RED, width=max(1, round(3 * scale)))
    img.paste(text, (int(round(tx)), int(round(ty))), text)
    taken += [(x - r - white, y - r - white, x + r + white, y + r + white), (tx, ty, tx + tw, ty + th)]


def mark_pair(img1, kps1, pose1, img2, kps2, pose2, ref: int, others, slot: int, scale: float = 1.0,
              letter_colours: bool = False, centred: bool = False) -> dict:
    """`mark_keypoint_pair` with the REF / A-D marks scaled by `scale` (1: exactly the paper's) and,
    with `letter_colours`, each letter in its own colour (LETTER_COLOURS)."""
    if scale == 1.0 and not letter_colours:
        return mark_keypoint_pair(img1, kps1, pose1, img2, kps2, pose2, ref, others, slot)
    cand = list(others)
    cand.insert(slot, ref)
    draw_big_mark(img1, kps1[ref], "REF", scale, centred=centred)
    r = 9 * scale  # rings first, so that no label covers another candidate's ring
    rings = [(x - r, y - r, x + r, y + r) for x, y in (kps2[k] for k in cand)]
    taken = list(rings)
    for j, k in enumerate(cand):
        letter = choice_letter(j)
        draw_big_mark(img2, kps2[k], letter, scale, taken, LETTER_COLOURS[letter] if letter_colours else MARK_RED,
                      rings, centred)
    return keypoint_pair_metadata(kps1, kps2, ref, cand, pose1, pose2)


def in_reading_order(others, kps2, ref: int, answer: int, image_size: int):
    """`others` sorted left to right on image 2 when the true point `ref` then falls at letter
    `answer` and every two candidates are at least 4% of the width apart in x; else None."""
    others = sorted(others, key=lambda k: kps2[k][0])
    xs = np.sort(kps2[others + [ref], 0])
    if (sum(kps2[k][0] < kps2[ref][0] for k in others) != answer
            or np.diff(xs).min() < 0.04 * image_size):  # a clear left-to-right order
        return None
    return others


def region_of(xy, cells, size: int, margin: float):
    """The index of the cell (of a grid of cells = (columns, rows) over the image) holding point
    `xy`, or None when it lies within `margin` pixels of a cell border."""
    out = []
    for v, k in zip(xy, cells):
        step = size / k
        i = int(v // step)
        if not 0 <= i < k or min(v - i * step, (i + 1) * step - v) < margin:
            return None
        out.append(i)
    return out[0] + cells[0] * out[1]


def pick_in_regions(kps1, kps2, ref: int, rng: np.random.Generator, cells, size: int,
                    margin: float = 0.06) -> list[int] | None:
    """Three other keypoints of image 2 for the A-D choices such that the four candidates lie in
    different cells of the grid `cells` (columns, rows), each clear of the cell borders by `margin`
    (a fraction of the size), and REF on image 1 lies in the same cell as its counterpart on
    image 2; None if there are none."""
    m = margin * size
    cell = region_of(kps1[ref], cells, size, m)
    if cell is None or region_of(kps2[ref], cells, size, m) != cell:
        return None
    chosen, used = [], {cell}
    for k in rng.permutation(len(kps2)):
        c = region_of(kps2[k], cells, size, m)
        if k != ref and c is not None and c not in used:
            chosen.append(int(k))
            used.add(c)
            if len(chosen) == 3:
                return chosen
    return None


def shared_pose(rng: np.random.Generator, pose, side_view: bool) -> tuple[float, bool]:
    """An easier level's pose for both objects of a record: (rotation in degrees, mirrored)."""
    angle = float(rng.uniform(-pose[0], pose[0])) if pose[0] else 0.0
    flip = bool(side_view and pose[1] and rng.uniform() < 0.5)
    return angle, flip


def mirrored(tmpl: Template) -> Template:
    """The template mirrored left-right (same parts, names and drawing order)."""
    flip = np.array([-1.0, 1.0])
    return Template([p._replace(pts=p.pts * flip) for p in tmpl.parts], tmpl.names, tmpl.kps * flip)


def pose_knobs(pose, shared) -> dict:
    """render_object's pose arguments for one image of an easier level: the record's shared
    rotation give or take pose[2] degrees, no random mirroring, size and aspect ranges."""
    angle, _ = shared
    return {"rot_deg": (angle - pose[2], angle + pose[2]), "mirror": False, "fill": tuple(pose[3]),
            "aspect": tuple(pose[4])}


def _instance(split: str, category: str, rng: np.random.Generator, size: int, pose=None, shared=None,
              blend=PAPER_BLEND, texture_prob: float = 0.4):
    builder, side_view = CATEGORIES[category]
    bg, src = background(split, rng, size, blend)
    tmpl = builder(rng)
    if pose is None:
        rot = (-35, 35) if side_view else (-20, 20)
        img, kps, pose = render_object(bg, tmpl, rng, rot_deg=rot, mirror=side_view, texture_prob=texture_prob)
    else:
        tmpl = mirrored(tmpl) if shared[1] else tmpl
        img, kps, pose = render_object(bg, tmpl, rng, texture_prob=texture_prob, **pose_knobs(pose, shared))
        pose["mirrored"] = shared[1]
    pose["background"] = src
    return img, kps, pose


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    indices: range | None = None,
    image_size: int = IMAGE_SIZE,
    min_sep: float = 0.1,
    pose: tuple | None = None,
    mark_scale: float = 1.0,
    background_blend: tuple[float, float] = PAPER_BLEND,
    texture_prob: float = 0.4,
    letter_colours: bool = False,
    regions: tuple[int, int] | None = None,
    reading_order: bool = False,
) -> list[dict]:
    """`n` records; `min_sep` is the least distance between candidate points (fraction of size).

    Easier levels: `pose` = (largest rotation of the record's shared pose in degrees, mirroring
    allowed, largest rotation of each object away from it, object size range, aspect range; None:
    the paper's independent poses); `mark_scale` scales the REF / A-D
    marks; `background_blend` is the range of the grey blend over the photo background (nearer 1:
    plainer); `texture_prob` the chance of a striped or spotted body; `letter_colours` draws each
    letter A-D in its own colour (red, blue, green, yellow) beside its red ring; `regions` =
    (columns, rows): the four candidates lie in different cells of that grid over image 2, clear of
    its borders, and REF in the cell of its counterpart (instead of `min_sep`); `reading_order`:
    the letters A-D go to the candidates from left to right, at least 4% of the width apart (poses
    are redrawn until the true one has the balanced answer's place)."""
    question, choices, prompt = build_prompt(TASK)
    answers = balanced_labels(n, 4, rng)
    cats = sorted(CATEGORIES)
    records = []
    for i, rec_rng in record_streams(rng, n, indices):
        category = cats[int(rec_rng.integers(len(cats)))]
        for attempt in range(100 if regions is None and not reading_order else 1000):  # until the candidates fit
            if (regions is not None or reading_order) and attempt % 50 == 49:  # some categories rarely fit
                category = cats[int(rec_rng.integers(len(cats)))]
            shared = None if pose is None else shared_pose(rec_rng, pose, CATEGORIES[category][1])
            img1, kps1, pose1 = _instance(split, category, rec_rng, image_size, pose, shared, background_blend,
                                          texture_prob)
            img2, kps2, pose2 = _instance(split, category, rec_rng, image_size, pose, shared, background_blend,
                                          texture_prob)
            ref = int(rec_rng.integers(len(kps1)))
            if regions is None:
                others = far_apart(kps2, ref, rec_rng.permutation(len(kps2)), 3, min_sep * image_size)
            else:
                others = pick_in_regions(kps1, kps2, ref, rec_rng, regions, image_size)
            inside = np.all((kps2 > 12) & (kps2 < image_size - 12)) and np.all(
                (kps1[ref] > 12) & (kps1[ref] < image_size - 12))
            if others is not None and reading_order:  # A-D left to right: the true one at its letter
                others = in_reading_order(others, kps2, ref, int(answers[i]), image_size)
            if others is not None and inside:
                break
        else:
            raise RuntimeError(f"{TASK}: no usable pose pair for {category} (min_sep={min_sep} too large?)")
        marks = mark_pair(img1, kps1, pose1, img2, kps2, pose2, ref, others, int(answers[i]), mark_scale,
                          letter_colours, centred=regions is not None)
        meta = {"category": category, "keypoint_names": list(keypoint_names(category)), **marks}
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
