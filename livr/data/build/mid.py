"""Relative-reflectance questions from the Multi-Illumination Dataset (paper Appendix A.8).

MID ships scene folders of photographs under 25 light directions; the paper attaches albedo from
a derived release whose file names are not confirmed. This builder expects, under `--source`:

    <scene>/dir_<k>_mip<m>.jpg (or .png)   the RGB photographs, one per light direction
    <scene>/albedo*.png (or .jpg/.tif)     the scene's diffuse albedo, sRGB-encoded, any size
                                           (coordinates are scaled to it)

(`--source` may also be a folder holding `train/` with the scenes inside.) Scenes without an
albedo image are skipped and counted.

Scenes are split between train and validation (in proportion to the requested sizes), so no
scene is in both. Each RGB photograph gives at most one question: two points A and B, spatially
separated and away from the border, are drawn on it; their albedo (converted to linear RGB,
luminance Y = 0.2126 R + 0.7152 G + 0.0722 B) is averaged over a disk; with
rel = |Y_A - Y_B| / max(Y_A, Y_B, 1e-8), rel <= 0.10 is "About the same" (C), else the point
with lower Y is darker (A or B). The target label of each question is fixed in advance (a
quarter "About the same", the rest split between A and B) and points are re-drawn until the
albedo agrees. The test split is BLINK's Relative_Reflectance val split, added by the CLI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from livr.data.build.common import (
    IMAGE_SUFFIXES,
    Report,
    draw_points,
    encode_image,
    load_rgb,
    mcq_record,
    require_dir,
    shuffled,
    task_rng,
)
from livr.errors import DataError

TASK = "relative_reflectance"
SOURCE = "mid"
SAME_THRESHOLD = 0.10
SAME_SHARE = 0.25
BORDER = 0.08  # fraction of the shorter side
MIN_SEPARATION = 0.15  # fraction of the image diagonal
DISK_RADIUS = 0.012  # fraction of the albedo's shorter side
TRIES = 200


def find_scenes(source: Path, report: Report) -> list[tuple[Path, list[Path], Path]]:
    """(scene folder, RGB photographs, albedo image) per usable scene, sorted by name."""
    source = require_dir(source, "MID: scene folders with dir_*_mip*.jpg and albedo*.png")
    root = source / "train" if (source / "train").is_dir() else source
    scenes = []
    for scene in sorted(p for p in root.iterdir() if p.is_dir()):
        rgb = sorted(p for p in scene.glob("dir_*") if p.suffix.lower() in IMAGE_SUFFIXES)
        albedo = sorted(p for p in scene.glob("albedo*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not rgb:
            continue
        if not albedo:
            report.skip("mid: scene without an albedo* image")
            continue
        scenes.append((scene, rgb, albedo[0]))
    if not scenes:
        raise DataError(
            f"{root}: expected MID scene folders, each with dir_<k>_mip<m>.jpg photographs and an "
            "albedo*.png image (see livr/data/build/mid.py for the layout)"
        )
    return scenes


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    c = values.astype(np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def luminance_map(albedo: Image.Image) -> np.ndarray:
    lin = srgb_to_linear(np.asarray(albedo.convert("RGB")))
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def disk_mean(lum: np.ndarray, centre: tuple[float, float], radius: float) -> float:
    """Mean of `lum` over the disk at (x, y) = centre."""
    h, w = lum.shape
    x, y = centre
    r = max(1.0, radius)
    y0, y1 = int(max(0, np.floor(y - r))), int(min(h, np.ceil(y + r) + 1))
    x0, x1 = int(max(0, np.floor(x - r))), int(min(w, np.ceil(x + r) + 1))
    yy, xx = np.mgrid[y0:y1, x0:x1]
    inside = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    return float(lum[y0:y1, x0:x1][inside].mean())


def relation(ya: float, yb: float) -> int:
    """0 if A is darker, 1 if B is darker, 2 if about the same (the answer index)."""
    rel = abs(ya - yb) / max(ya, yb, 1e-8)
    if rel <= SAME_THRESHOLD:
        return 2
    return 0 if ya < yb else 1


def target_labels(n: int, rng) -> list[int]:
    """A quarter 2 ("About the same"), the rest alternating 0 / 1, shuffled."""
    n_same = int(round(SAME_SHARE * n))
    labels = [2] * n_same + [i % 2 for i in range(n - n_same)]
    return [labels[i] for i in rng.permutation(n)]


def build(source: Path, sizes: dict, seed: int, report: Report, **_) -> dict[str, list]:
    scenes = find_scenes(Path(source), report)
    order = shuffled(scenes, task_rng(TASK, "scenes", seed))
    want_t, want_v = sizes.get("train") or 0, sizes.get("validation") or 0
    n_val = int(round(len(order) * want_v / max(1, want_t + want_v)))
    if want_v and len(order) >= 2:
        n_val = min(max(1, n_val), len(order) - 1)
    groups = {"train": order[n_val:], "validation": order[:n_val]}
    out = {}
    for split, group in groups.items():
        rng = task_rng(TASK, split, seed)
        # whole scenes in shuffled order (the paper takes a subset of scenes with all their light
        # directions); one albedo in memory at a time
        photos = [(scene, p, alb) for scene, rgbs, alb in group for p in shuffled(rgbs, rng)]
        want = sizes.get(split)
        labels = target_labels(len(photos) if want is None else want, rng)
        out[split] = _build_split(photos, labels, rng, split, report)
        report.short(split, want, len(out[split]), f"{len(group)} MID scenes")
    return out


def _build_split(photos, labels, rng, split, report) -> list[dict]:
    records: list[dict] = []
    lum_cache: dict[Path, np.ndarray] = {}
    for scene, photo, albedo_path in photos:
        if len(records) >= len(labels):
            break
        if albedo_path not in lum_cache:
            lum_cache.clear()
            lum_cache[albedo_path] = luminance_map(load_rgb(albedo_path))
        lum = lum_cache[albedo_path]
        image = load_rgb(photo)
        found = _sample_points(lum, image.size, labels[len(records)], rng)
        if found is None:
            report.skip("mid: photograph with no point pair matching its target label")
            continue
        (pa, pb), (ya, yb) = found
        answer = relation(ya, yb)
        meta = {
            "source_images": [f"mid:{scene.name}/{photo.name}"],
            "scene": scene.name,
            "points": [list(pa), list(pb)],
            "albedo_luminance": [ya, yb],
        }
        drawn = draw_points(image, [pa, pb], ["A", "B"])
        records.append(
            mcq_record(TASK, split, len(records), [encode_image(drawn)], answer, SOURCE, meta)
        )
    return records


def _sample_points(lum: np.ndarray, size: tuple[int, int], target: int, rng):
    w, h = size
    ah, aw = lum.shape
    sx, sy = aw / w, ah / h
    margin = BORDER * min(w, h)
    min_sep = MIN_SEPARATION * float(np.hypot(w, h))
    radius = DISK_RADIUS * min(aw, ah)
    for _ in range(TRIES):
        pts = rng.uniform([margin, margin], [w - margin, h - margin], size=(2, 2))
        if np.hypot(*(pts[0] - pts[1])) < min_sep:
            continue
        ys = [disk_mean(lum, (p[0] * sx, p[1] * sy), radius) for p in pts]
        if relation(*ys) == target:
            return tuple(tuple(map(float, p)) for p in pts), tuple(ys)
    return None
