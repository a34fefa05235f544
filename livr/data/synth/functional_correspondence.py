"""Functional correspondence: points that serve the same function for an action on two tools.

Offline stand-in for the paper's FunKPoint pairs (Appendix A.7). Each action (Cut, Pour, Scoop,
Mash Pound, Stab, Sweep, Stir) has five functional roles in a fixed order, like FunKPoint's five
keypoints per action (e.g. for Cut: handle end, middle of handle, blade heel, middle of the
cutting edge, blade tip), and three procedurally drawn tools that each place those five roles on
their own geometry (a knife's edge vs the inner edge of a scissor blade vs a saw's teeth). Image 1
shows one tool with REF on role k; image 2 a different tool of the same action with A-D on role k
and three other roles. Tools vary in shape parameters, pose (any rotation for long tools, upright
for vessels), mirroring, scale, colours and background (a softened crop of a split photo).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

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
    poly,
    render_object,
)
from livr.data.synth._common import uniform as _u
from livr.data.synth.semantic_correspondence import (
    PAPER_BLEND,
    background,
    in_reading_order,
    mark_pair,
    mirrored,
    pick_in_regions,
    pose_knobs,
    shared_pose,
)

TASK = "functional_correspondence"
IMAGE_SIZE = 320

# Difficulty levels (see livr.data.synth): the paper's rules, then the same question on pairs whose
# two tools share one pose (drawn per record: any rotation up to pose[0] degrees, 25 for vessels,
# mirrored if pose[1]) give or take pose[2] degrees, at a size of pose[3] of the image and aspect
# pose[4], with larger marks farther apart on a plainer background (pose=None: the paper's poses);
# easy lays both tools level (mirrored alike) and letters the candidates A-D from left to right,
# each letter in its own colour.
LEVELS: dict[str, dict] = {
    "paper": {},
    "medium": {"pose": (180.0, True, 15.0, (0.7, 0.85), (0.9, 1.1)), "min_sep": 0.14, "mark_scale": 1.6,
               "background_blend": (0.45, 0.6)},
    "easy": {"pose": (0.0, True, 0.0, (0.85, 0.9), (1.0, 1.0)), "min_sep": 0.16, "mark_scale": 2.0,
             "background_blend": (0.6, 0.75), "letter_colours": True, "reading_order": True},
}

Builder = Callable[[np.random.Generator], tuple[list[Part], np.ndarray]]


def _handle(x0: float, x1: float, w: float) -> Part:
    return Part("poly", limb((x0, 0.0), (x1, 0.0), w, w * 1.05), "handle")


# --- Cut: handle end, middle of handle, blade heel, middle of cutting edge, blade tip ---------


def knife(rng):
    hx = _u(rng, -0.35, -0.15)
    hw = _u(rng, 0.11, 0.16)
    bw = _u(rng, 0.14, 0.24)
    tip = (1.0, -0.03)
    blade = poly((hx + 0.03, -bw / 2), (hx + 0.03, bw / 2 + 0.04), (0.45, bw / 2 + 0.02), (0.8, bw / 4), tip)
    parts = [Part("poly", blade, "metal"), _handle(-1.0, hx + 0.03, hw),
             Part("poly", ellipse(-0.75, 0, 0.025, 0.025), "metal"),
             Part("poly", ellipse((hx - 0.75) / 2 + 0.1, 0, 0.025, 0.025), "metal")]
    kps = np.array([(-0.98, 0.0), ((-1 + hx) / 2, 0.0), (hx + 0.07, bw / 2 + 0.03),
                    (0.45, bw / 2 + 0.02), (0.98, -0.02)])
    return parts, kps


def scissors(rng):
    piv = np.array([_u(rng, -0.2, 0.0), 0.0])
    spread = _u(rng, 0.05, 0.12)
    ring_c1, ring_c2 = np.array([-0.75, -0.22]), np.array([-0.75, 0.22])
    tip1, tip2 = np.array([1.0, -spread]), np.array([1.0, spread])
    parts = [
        Part("line", ellipse(*ring_c2, 0.2, 0.14, n=16)[list(range(16)) + [0]], "handle", 0.07),
        Part("poly", limb(tuple(ring_c2 + [0.18, -0.03]), tuple(piv), 0.08, 0.1), "handle"),
        Part("poly", poly(tuple(piv + [-0.05, -0.06]), tuple(tip2), tuple(piv + [0.05, 0.08])), "metal"),
        Part("line", ellipse(*ring_c1, 0.2, 0.14, n=16)[list(range(16)) + [0]], "handle", 0.07),
        Part("poly", limb(tuple(ring_c1 + [0.18, 0.03]), tuple(piv), 0.08, 0.1), "handle"),
        Part("poly", poly(tuple(piv + [-0.05, 0.06]), tuple(tip1), tuple(piv + [0.05, -0.08])), "metal"),
        Part("poly", ellipse(*piv, 0.035, 0.035), "dark"),
    ]
    kps = np.array([ring_c1 + [-0.2, 0.0], ring_c1 + [0.17, 0.06], piv + [0.12, -0.02],
                    (piv + tip1) / 2 + [0, 0.02], tip1])
    return parts, kps


def cleaver(rng):
    hx = _u(rng, -0.3, -0.1)
    bh = _u(rng, 0.45, 0.6)
    parts = [
        Part("poly", poly((hx, -0.12), (1.0, -0.12), (1.0, bh - 0.12), (hx + 0.05, bh - 0.12)), "metal"),
        Part("poly", ellipse(0.78, 0.0, 0.05, 0.05), "dark"),
        _handle(-1.0, hx + 0.02, _u(rng, 0.12, 0.16)),
    ]
    edge = bh - 0.12
    kps = np.array([(-0.98, 0.0), ((-1 + hx) / 2, 0.0), (hx + 0.08, edge), ((hx + 1) / 2, edge), (0.99, edge)])
    return parts, kps


def saw(rng):
    hx = _u(rng, -0.45, -0.3)
    bh0, bh1 = _u(rng, 0.35, 0.5), _u(rng, 0.12, 0.2)
    n_teeth = 14
    xs = np.linspace(hx, 1.0, n_teeth * 2 + 1)
    ys = np.where(np.arange(xs.size) % 2 == 0, 0.0, 0.05) + np.interp(xs, [hx, 1.0], [bh0, bh1]) - 0.15
    teeth = np.stack([xs, ys], 1)
    blade = np.concatenate([[(hx, -0.15), (1.0, -0.15)], teeth[::-1]])
    parts = [
        Part("poly", blade, "metal"),
        Part("poly", poly((hx + 0.05, -0.35), (-1.0, -0.3), (-1.0, 0.35), (hx + 0.05, 0.4)), "handle"),
        Part("poly", ellipse(-0.62, 0.03, 0.14, 0.2), "light"),
    ]
    kps = np.array([(-0.98, 0.0), (-0.62, 0.25), (hx + 0.08, bh0 - 0.13), ((hx + 1) / 2, (bh0 + bh1) / 2 - 0.13),
                    (0.99, bh1 - 0.15)])
    return parts, kps


# --- Pour (upright vessels, spout to the right): top of handle, bottom of handle, base,
# opening, spout ------------------------------------------------------------------------------


def mug(rng):
    w, h = _u(rng, 0.35, 0.5), _u(rng, 0.55, 0.8)
    parts = [
        Part("line", arc(-w, 0.0, 0.25, h * 0.35, 0.5 * np.pi, 1.5 * np.pi, 12), "body2", 0.09),
        Part("poly", poly((-w, -h / 2), (w, -h / 2), (w * 0.92, h / 2), (-w * 0.92, h / 2)), "body"),
        Part("poly", ellipse(0, -h / 2, w, 0.06), "dark"),
    ]
    kps = np.array([(-w - 0.05, -h * 0.3), (-w - 0.05, h * 0.3), (0, h / 2), (0, -h / 2), (w, -h / 2)])
    return parts, kps


def kettle(rng):
    w, h = _u(rng, 0.45, 0.6), _u(rng, 0.5, 0.7)
    spout_tip = np.array([w + _u(rng, 0.3, 0.45), -h / 2 - _u(rng, 0.05, 0.2)])
    parts = [
        Part("line", np.stack([(-w + 0.1, -h / 2 + 0.05), (-w - 0.2, -h / 2 + 0.05), (-w - 0.3, 0.0),
                               (-w - 0.2, h / 3), (-w + 0.05, h / 3)]), "handle", 0.1),
        Part("poly", limb((w - 0.1, h / 6), tuple(spout_tip), 0.22, 0.08), "body"),
        Part("poly", ellipse(0, 0.0, w, h / 2), "body"),
        Part("poly", ellipse(0, -h / 2 + 0.02, w * 0.45, 0.07), "body2"),
        Part("poly", ellipse(0, -h / 2 - 0.07, 0.06, 0.05), "dark"),
    ]
    kps = np.array([(-w - 0.15, -h / 2 + 0.05), (-w - 0.12, h / 3), (0, h / 2), (0, -h / 2 - 0.02), spout_tip])
    return parts, kps


def pitcher(rng):
    w, h = _u(rng, 0.35, 0.45), _u(rng, 0.75, 0.95)
    lip = np.array([w + 0.15, -h / 2 - 0.06])
    body = poly((-w, -h / 2), (w, -h / 2), tuple(lip), (w + 0.02, -h / 2 + 0.15), (w + 0.08, h / 2),
                (-w - 0.05, h / 2))
    parts = [
        Part("line", np.stack([(-w, -h / 2 + 0.08), (-w - 0.3, -h / 2 + 0.1), (-w - 0.3, 0.1),
                               (-w - 0.02, h / 4)]), "body2", 0.09),
        Part("poly", body, "body"),
        Part("poly", poly((-w + 0.02, -h / 2 + 0.01), (w - 0.02, -h / 2 + 0.01), (w - 0.04, -h / 2 + 0.06),
                          (-w + 0.04, -h / 2 + 0.06)), "dark"),
    ]
    kps = np.array([(-w - 0.25, -h / 2 + 0.1), (-w - 0.25, 0.05), (0.02, h / 2), (0, -h / 2 + 0.03), lip])
    return parts, kps


def watering_can(rng):
    w, h = _u(rng, 0.45, 0.55), _u(rng, 0.5, 0.7)
    rose = np.array([w + _u(rng, 0.45, 0.6), -h / 2 - _u(rng, 0.15, 0.35)])
    parts = [
        Part("poly", limb((w - 0.05, h / 4), tuple(rose), 0.12, 0.08), "body2"),
        Part("poly", ellipse(*rose, 0.05, 0.1, rot=0.5), "body2"),
        Part("line", np.stack([(-w + 0.02, -h / 2 + 0.02), (-w - 0.25, -h / 4), (-w - 0.25, h / 5),
                               (-w + 0.02, h / 4)]), "body2", 0.08),
        Part("poly", poly((-w, -h / 2), (w, -h / 2), (w, h / 2), (-w, h / 2)), "body"),
        Part("poly", ellipse(-w * 0.4, -h / 2, w * 0.35, 0.05), "dark"),
    ]
    kps = np.array([(-w - 0.2, -h / 3), (-w - 0.25, h / 6), (0, h / 2), (-w * 0.4, -h / 2), rose + [0.03, -0.05]])
    return parts, kps


# --- Scoop and Stir: handle end, middle of handle, neck, centre of the head, tip of the head ---


def spoon(rng):
    br, bh = _u(rng, 0.25, 0.35), _u(rng, 0.14, 0.2)
    neck = 1.0 - 2 * br
    parts = [Part("poly", limb((-1.0, 0.0), (neck + 0.02, 0.0), _u(rng, 0.08, 0.12), 0.04), "metal"),
             Part("poly", ellipse(1.0 - br, 0.0, br, bh), "metal"),
             Part("poly", ellipse(1.0 - br * 0.95, 0.0, br * 0.7, bh * 0.6), "light")]
    kps = np.array([(-0.98, 0.0), ((-1 + neck) / 2, 0.0), (neck, 0.0), (1 - br, 0.0), (0.99, 0.0)])
    return parts, kps


def ladle(rng):
    r = _u(rng, 0.3, 0.38)
    c = np.array([1.0 - r, _u(rng, 0.05, 0.15)])
    start = np.array([-1.0, -_u(rng, 0.3, 0.5)])
    neck = c + [-r * 0.8, -r * 0.55]
    parts = [Part("poly", limb(tuple(start), tuple(neck), 0.07, 0.05), "handle"),
             Part("poly", ellipse(*start, 0.06, 0.06), "handle"),
             Part("poly", arc(*c, r, r, 0, np.pi, 14), "metal"),
             Part("poly", ellipse(c[0], c[1], r, 0.05), "dark")]
    kps = np.array([start, (start + neck) / 2, neck, c + [0, r * 0.5], c + [r, 0]])
    return parts, kps


def trowel(rng):
    hx = _u(rng, -0.3, -0.15)
    bw = _u(rng, 0.22, 0.32)
    parts = [_handle(-1.0, hx, _u(rng, 0.12, 0.16)),
             Part("poly", limb((hx - 0.02, 0), (hx + 0.12, 0), 0.1), "metal"),
             Part("poly", poly((hx + 0.1, 0), (hx + 0.25, -bw), (0.75, -bw * 0.8), (1.0, 0.0), (0.75, bw * 0.8),
                               (hx + 0.25, bw)), "metal")]
    kps = np.array([(-0.98, 0), ((-1 + hx) / 2, 0), (hx + 0.1, 0), ((hx + 1) / 2 + 0.05, 0), (0.99, 0)])
    return parts, kps


def ice_cream_scoop(rng):
    r = _u(rng, 0.3, 0.36)
    hx = _u(rng, -0.2, 0.0)
    parts = [_handle(-1.0, hx, _u(rng, 0.14, 0.2)),
             Part("poly", limb((hx - 0.02, 0), (1 - 2 * r + 0.04, 0), 0.08, 0.06), "metal"),
             Part("poly", ellipse(1 - r, 0, r, r), "metal"),
             Part("poly", ellipse(1 - r * 0.9, 0, r * 0.6, r * 0.7), "dark")]
    kps = np.array([(-0.98, 0), ((-1 + hx) / 2, 0), (hx + 0.1, 0), (1 - r * 0.9, 0), (0.99, 0)])
    return parts, kps


def whisk(rng):
    hx = _u(rng, -0.2, 0.0)
    hw = _u(rng, 0.12, 0.16)
    loops = [Part("line", _wire_loop(hx, s), "metal", 0.025) for s in (0.05, 0.12, 0.19)]
    parts = loops + [_handle(-1.0, hx + 0.02, hw)]
    kps = np.array([(-0.98, 0), ((-1 + hx) / 2, 0), (hx + 0.05, 0), ((hx + 1) / 2 + 0.1, 0), (0.99, 0)])
    return parts, kps


def _wire_loop(hx: float, s: float) -> np.ndarray:
    """One whisk wire: from the handle out to the rounded tip and back."""
    t = np.linspace(0, 1, 9)
    x = hx + (1.0 - hx) * t
    y = (0.08 + s * 1.6) * np.sin(np.pi * t**0.7) * 0.9
    upper = np.stack([x, -y], 1)
    lower = np.stack([x, y], 1)[::-1]
    return np.concatenate([upper, lower])


def spatula(rng):
    hx = _u(rng, -0.2, 0.0)
    bw = _u(rng, 0.2, 0.28)
    parts = [_handle(-1.0, hx, _u(rng, 0.12, 0.16)),
             Part("poly", limb((hx - 0.02, 0), (hx + 0.3, 0), 0.07, 0.09), "metal"),
             Part("poly", poly((hx + 0.28, -bw * 0.7), (1.0, -bw), (1.0, bw), (hx + 0.28, bw * 0.7)), "metal")]
    for yy in (-bw * 0.4, 0.0, bw * 0.4):
        parts.append(Part("poly", limb((hx + 0.45, yy), (0.85, yy), 0.04), "dark"))
    kps = np.array([(-0.98, 0), ((-1 + hx) / 2, 0), (hx + 0.3, 0), ((hx + 1.3) / 2, bw * 0.2), (0.99, 0)])
    return parts, kps


# --- Mash Pound: handle end, middle of handle, top of handle (at the head), centre of head,
# striking face ------------------------------------------------------------------------------


def hammer(rng):
    hx = _u(rng, 0.5, 0.65)
    hh = _u(rng, 0.8, 1.0)
    parts = [_handle(-1.0, hx, _u(rng, 0.1, 0.14)),
             Part("poly", poly((hx - 0.12, -hh / 2), (hx + 0.12, -hh / 2), (hx + 0.1, hh / 2), (hx - 0.08, hh / 2),
                               (hx - 0.14, hh / 2 + 0.14), (hx - 0.2, hh / 2 + 0.12)), "metal"),
             Part("poly", poly((hx - 0.15, -hh / 2 - 0.1), (hx + 0.15, -hh / 2 - 0.1), (hx + 0.15, -hh / 2),
                               (hx - 0.15, -hh / 2)), "metal")]
    kps = np.array([(-0.98, 0), ((-1 + hx) / 2, 0), (hx - 0.3, 0), (hx, -0.05), (hx, -hh / 2 - 0.1)])
    return parts, kps


def mallet(rng):
    hx = _u(rng, 0.3, 0.45)
    hw, hh = _u(rng, 0.35, 0.45), _u(rng, 0.8, 1.0)
    parts = [_handle(-1.0, hx + 0.05, _u(rng, 0.09, 0.13)),
             Part("poly", poly((hx, -hh / 2), (hx + hw, -hh / 2), (hx + hw, hh / 2), (hx, hh / 2)), "body"),
             Part("poly", ellipse(hx + hw / 2, -hh / 2, hw / 2, 0.05), "body2")]
    kps = np.array([(-0.98, 0), ((-1 + hx) / 2, 0), (hx - 0.1, 0), (hx + hw / 2, 0), (hx + hw / 2, -hh / 2)])
    return parts, kps


def pestle(rng):
    r = _u(rng, 0.28, 0.34)
    parts = [Part("poly", np.concatenate([[(-1.0, -0.06)], [(0.2, -r * 0.85)],
                                          arc(1 - r, 0, r, r, -0.5 * np.pi, 0.5 * np.pi, 10),
                                          [(0.2, r * 0.85), (-1.0, 0.06)]]), "body"),
             Part("poly", ellipse(-1.0, 0, 0.07, 0.08), "body")]
    kps = np.array([(-0.98, 0), (-0.6, 0), (-0.05, 0), (1 - r, 0), (0.995, 0)])
    return parts, kps


def masher(rng):
    hx = _u(rng, -0.3, -0.1)
    hh = _u(rng, 0.65, 0.85)
    zig = np.stack([np.full(9, 0.98) + np.where(np.arange(9) % 2 == 0, 0.0, -0.15),
                    np.linspace(-hh / 2, hh / 2, 9)], 1)
    parts = [_handle(-1.0, hx, _u(rng, 0.12, 0.16)),
             Part("line", np.stack([(hx, 0), (0.82, -hh / 2 + 0.05)]), "metal", 0.045),
             Part("line", np.stack([(hx, 0), (0.82, hh / 2 - 0.05)]), "metal", 0.045),
             Part("line", zig, "metal", 0.05)]
    kps = np.array([(-0.98, 0), ((-1 + hx) / 2, 0), (hx + 0.02, 0), (0.55, 0), (0.96, 0)])
    return parts, kps


# --- Stab: handle end, middle of handle, guard / base of the point, middle of shaft, point ----


def fork(rng):
    tx = _u(rng, 0.2, 0.35)
    tw = _u(rng, 0.08, 0.12)
    parts = [Part("poly", limb((-1.0, 0), (tx - 0.05, 0), _u(rng, 0.1, 0.13), 0.06), "metal"),
             Part("poly", poly((tx - 0.1, -0.04), (tx + 0.05, -tw * 1.6), (tx + 0.05, tw * 1.6), (tx - 0.1, 0.04)),
                  "metal")]
    for k in range(4):
        y = -tw * 1.35 + k * tw * 0.9
        parts.append(Part("poly", limb((tx, y), (1.0, y), 0.045, 0.03), "metal"))
    kps = np.array([(-0.98, 0), ((-1 + tx) / 2 - 0.1, 0), (tx + 0.02, 0), ((tx + 1) / 2, -tw * 0.45),
                    (1.0, -tw * 0.45)])
    return parts, kps


def dagger(rng):
    gx = _u(rng, -0.35, -0.2)
    bw = _u(rng, 0.12, 0.18)
    parts = [_handle(-0.95, gx, _u(rng, 0.1, 0.13)),
             Part("poly", ellipse(-0.97, 0, 0.07, 0.07), "accent"),
             Part("poly", poly((gx, -bw / 2), (0.7, -bw / 2), (1.0, 0), (0.7, bw / 2), (gx, bw / 2)), "metal"),
             Part("poly", limb((gx, -0.22), (gx, 0.22), 0.07), "accent")]
    kps = np.array([(-0.98, 0), ((-0.95 + gx) / 2, 0), (gx + 0.06, 0), ((gx + 1) / 2, 0), (0.99, 0)])
    return parts, kps


def ice_pick(rng):
    hx = _u(rng, -0.3, -0.1)
    parts = [Part("poly", ellipse((-1 + hx) / 2, 0, (hx + 1) / 2 + 0.02, _u(rng, 0.1, 0.14)), "handle"),
             Part("poly", limb((hx - 0.02, 0), (hx + 0.08, 0), 0.09), "metal"),
             Part("poly", poly((hx + 0.05, -0.025), (1.0, 0.0), (hx + 0.05, 0.025)), "metal")]
    kps = np.array([(-0.98, 0), ((-1 + hx) / 2, 0), (hx + 0.06, 0), ((hx + 1) / 2, 0), (0.99, 0)])
    return parts, kps


# --- Sweep: handle end, middle of handle, head joint, centre of the head, bristle edge --------


def broom(rng):
    jx = _u(rng, 0.05, 0.2)
    hw = _u(rng, 0.4, 0.55)
    parts = [Part("poly", poly((jx - 0.05, -0.12), (jx + 0.1, -0.14), (1.0, -hw), (1.0, hw), (jx + 0.1, 0.14),
                               (jx - 0.05, 0.12)), "accent"),
             Part("poly", limb((jx - 0.05, 0), (jx + 0.12, 0), 0.3), "body2"),
             Part("poly", limb((-1.0, 0), (jx, 0), 0.07), "handle")]
    for t in np.linspace(-0.8, 0.8, 6):
        parts.append(Part("line", np.stack([(jx + 0.2, t * 0.16), (0.98, t * hw * 0.9)]), "dark", 0.012))
    kps = np.array([(-0.98, 0), ((-1 + jx) / 2, 0), (jx + 0.03, 0), ((jx + 1) / 2 + 0.05, 0), (0.99, 0)])
    return parts, kps


def push_broom(rng):
    hx = _u(rng, 0.4, 0.5)
    hl = _u(rng, 0.75, 0.95)
    parts = [Part("poly", limb((-1.0, 0), (hx, 0), 0.07), "handle"),
             Part("poly", poly((hx - 0.12, -0.04), (hx, -0.2), (hx, 0.2), (hx - 0.12, 0.04)), "metal"),
             Part("poly", poly((hx, -hl / 2), (hx + 0.25, -hl / 2), (hx + 0.25, hl / 2), (hx, hl / 2)), "body2"),
             Part("poly", poly((hx + 0.25, -hl / 2), (1.0, -hl / 2), (1.0, hl / 2), (hx + 0.25, hl / 2)), "accent")]
    for t in np.linspace(-0.45, 0.45, 7):
        parts.append(Part("line", np.stack([(hx + 0.27, t * hl), (0.99, t * hl)]), "dark", 0.012))
    kps = np.array([(-0.98, 0), (-0.3, 0), (hx - 0.12, 0), (hx + 0.17, 0.0), (0.995, 0)])
    return parts, kps


def hand_brush(rng):
    bx = _u(rng, -0.1, 0.1)
    bt = _u(rng, 0.2, 0.28)
    parts = [Part("poly", poly((-1.0, -0.08), (bx, -0.1), (bx, 0.1), (-1.0, 0.08)), "handle"),
             Part("poly", ellipse(-0.9, 0, 0.04, 0.04), "dark"),
             Part("poly", poly((bx, -bt), (1.0, -bt), (1.0, 0.05), (bx, 0.05)), "handle"),
             Part("poly", poly((bx + 0.03, 0.05), (0.97, 0.05), (1.0, bt + 0.2), (bx, bt + 0.2)), "accent")]
    kps = np.array([(-0.97, 0), ((-1 + bx) / 2, 0), (bx, 0), ((bx + 1) / 2, -bt / 2), ((bx + 1) / 2, bt + 0.19)])
    return parts, kps


# action -> (role names, tools, long tool: rotate freely instead of staying upright)
ACTIONS: dict[str, tuple[list[str], dict[str, Builder], bool]] = {
    "Cut": (["handle end", "middle of handle", "blade heel", "middle of cutting edge", "blade tip"],
            {"knife": knife, "scissors": scissors, "cleaver": cleaver, "saw": saw}, True),
    "Pour": (["top of handle", "bottom of handle", "base", "opening", "spout"],
             {"mug": mug, "kettle": kettle, "pitcher": pitcher, "watering can": watering_can}, False),
    "Scoop": (["handle end", "middle of handle", "neck", "centre of scoop", "tip of scoop"],
              {"spoon": spoon, "ladle": ladle, "trowel": trowel, "ice cream scoop": ice_cream_scoop}, True),
    "Mash Pound": (["handle end", "middle of handle", "top of handle", "centre of head", "striking face"],
                   {"hammer": hammer, "mallet": mallet, "pestle": pestle, "potato masher": masher}, True),
    "Stab": (["handle end", "middle of handle", "base of the point", "middle of shaft", "point"],
             {"fork": fork, "dagger": dagger, "ice pick": ice_pick}, True),
    "Sweep": (["handle end", "middle of handle", "head joint", "centre of head", "bristle edge"],
              {"broom": broom, "push broom": push_broom, "hand brush": hand_brush}, True),
    "Stir": (["handle end", "middle of handle", "neck", "centre of head", "head tip"],
             {"spoon": spoon, "whisk": whisk, "spatula": spatula}, True),
}


def _tool_image(split: str, action: str, tool: str, rng: np.random.Generator, size: int, pose=None,
                shared=None, blend=PAPER_BLEND):
    roles, tools, long_tool = ACTIONS[action]
    parts, kps = tools[tool](rng)
    bg, src = background(split, rng, size, blend)
    tmpl = Template(parts, roles, kps)
    if pose is None:
        kw = {"rot_deg": (-180, 180) if long_tool else (-25, 25), "fill": (0.6, 0.88), "aspect": (0.85, 1.18)}
    else:
        tmpl = mirrored(tmpl) if shared[1] else tmpl
        kw = pose_knobs(pose, shared)
    img, kps_img, pose_out = render_object(bg, tmpl, rng, texture_prob=0.0, **kw)
    if pose is not None:
        pose_out["mirrored"] = shared[1]
    pose_out["background"] = src
    return img, kps_img, pose_out


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
    letter_colours: bool = False,
    regions: tuple[int, int] | None = None,
    reading_order: bool = False,
) -> list[dict]:
    """`n` records; `min_sep` is the least distance between candidate points (fraction of size).

    Easier levels: `pose` = (largest rotation of the record's shared pose in degrees, 25 at most
    for vessels; mirroring allowed; largest rotation of each tool away from it; tool size range;
    aspect range. None: the paper's independent poses, any rotation for long tools, upright
    vessels); `mark_scale` scales the REF / A-D marks; `background_blend` is the range of the grey
    blend over the photo background (nearer 1: plainer); `letter_colours` draws each letter A-D in
    its own colour (red, blue, green, yellow) beside its red ring; `regions` = (columns, rows): the
    four candidates lie in different cells of that grid over image 2, clear of its borders, and REF
    in the cell of its counterpart (instead of `min_sep`); `reading_order`: the letters A-D go to the
    candidates from left to right, at least 4% of the width apart (poses are redrawn until the true
    one has the balanced answer's place)."""
    answers = balanced_labels(n, 4, rng)
    actions = sorted(ACTIONS)
    records = []
    for i, rec_rng in record_streams(rng, n, indices):
        action = actions[int(rec_rng.integers(len(actions)))]
        roles, tools, _ = ACTIONS[action]
        names = sorted(tools)
        t1, t2 = (names[j] for j in rec_rng.choice(len(names), 2, replace=False))
        ref = int(rec_rng.integers(5))
        for attempt in range(100 if regions is None and not reading_order else 1000):  # until the candidates fit
            if pose is not None and attempt % 10 == 9:  # easier levels: some roles may be too close
                ref = int(rec_rng.integers(5))
            if (regions is not None or reading_order) and attempt % 50 == 49:  # ... or the tools never fit
                action = actions[int(rec_rng.integers(len(actions)))]
                roles, tools, _ = ACTIONS[action]
                names = sorted(tools)
                t1, t2 = (names[j] for j in rec_rng.choice(len(names), 2, replace=False))
            shared = None
            if pose is not None:  # long tools: any shared rotation up to pose[0]; vessels: up to 25 degrees
                shared = shared_pose(rec_rng, pose if ACTIONS[action][2] else (min(pose[0], 25.0), *pose[1:]), True)
            img1, kps1, pose1 = _tool_image(split, action, t1, rec_rng, image_size, pose, shared, background_blend)
            img2, kps2, pose2 = _tool_image(split, action, t2, rec_rng, image_size, pose, shared, background_blend)
            if regions is None:
                others = far_apart(kps2, ref, rec_rng.permutation(5), 3, min_sep * image_size)
            else:
                others = pick_in_regions(kps1, kps2, ref, rec_rng, regions, image_size, 0.04)
            inside = np.all((kps2 > 10) & (kps2 < image_size - 10)) and np.all(
                (kps1[ref] > 10) & (kps1[ref] < image_size - 10))
            if others is not None and reading_order:  # A-D left to right: the true one at its letter
                others = in_reading_order(others, kps2, ref, int(answers[i]), image_size)
            if others is not None and inside:
                break
        else:
            raise RuntimeError(f"{TASK}: no usable pose pair for {t1}/{t2} (min_sep={min_sep} too large?)")
        marks = mark_pair(img1, kps1, pose1, img2, kps2, pose2, ref, others, int(answers[i]), mark_scale,
                          letter_colours, centred=regions is not None)
        question, choices, prompt = build_prompt(TASK, action=action)
        meta = {"action": action, "tools": [t1, t2], "keypoint_names": roles, **marks}
        records.append(make_record(
            id=f"{TASK}-{split}-{i:06d}", task=TASK, images=[img1, img2], question=question,
            choices=choices, answer=choice_letter(int(answers[i])), prompt=prompt,
            source=f"synthetic:{TASK}", metadata=meta,
        ))
    return records
