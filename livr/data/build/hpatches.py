"""Visual-correspondence questions from HPatches sequences (paper Appendix A.4).

Expected layout under `--source` (the official `hpatches-sequences-release`, or its parent):

    i_<name>/1.ppm .. 6.ppm, H_1_2 .. H_1_6     illumination sequences
    v_<name>/1.ppm .. 6.ppm, H_1_2 .. H_1_6     viewpoint sequences

`H_1_k` is a 3 x 3 whitespace-separated homography taking image-1 pixels to image k.

Illumination and viewpoint sequences are shuffled separately, split 80/10/10 into train /
validation / test, and merged, so every sequence (and every image pair) is in one split. Pairs
are (i, j) with 1 <= i < j <= 6 and j - i >= 2, mapped by H_i_j = H_1_j @ inv(H_1_i). For each
pair, reference points are drawn away from the border and from earlier references of the pair,
warped to image j and kept only if they land inside it (with a margin); the three distractors
are far from the true point and from each other. Pairs are visited round-robin so the examples
spread over all pairs of a split. All three splits come from HPatches (the paper evaluates on
this held-out split, not on BLINK).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from livr.data.build.common import (
    Report,
    draw_points,
    encode_image,
    far_points,
    image_size,
    letters,
    load_rgb,
    mcq_record,
    partition,
    place_answer,
    require_dir,
    require_file,
    shuffled,
    task_rng,
)
from livr.errors import DataError

TASK = "visual_correspondence"
SOURCE = "hpatches"
FRACTIONS = (0.8, 0.1, 0.1)
MIN_GAP = 2
BORDER = 0.10  # margin, as a fraction of the image's shorter side
REF_SPACING = 0.10  # references of one pair at least this far apart (fraction of shorter side)
DISTRACTOR_DIST = (
    0.15  # distractors this far from the truth and each other (fraction of shorter side)
)


def find_sequences(source: Path) -> list[Path]:
    source = require_dir(source, "HPatches: i_*/ and v_*/ sequence folders")
    root = source
    if not _has_sequences(root) and (source / "hpatches-sequences-release").is_dir():
        root = source / "hpatches-sequences-release"
    seqs = sorted(p for p in root.iterdir() if p.is_dir() and p.name[:2] in ("i_", "v_"))
    if not seqs:
        raise DataError(
            f"{source}: expected HPatches sequence folders i_*/ and v_*/ (each with 1.ppm..6.ppm "
            "and H_1_2..H_1_6), as in hpatches-sequences-release/"
        )
    for seq in seqs:
        for k in range(1, 7):
            require_file(seq / f"{k}.ppm", f"image {k} of the HPatches sequence")
        for k in range(2, 7):
            require_file(seq / f"H_1_{k}", "homography from image 1, 3 x 3 text")
    return seqs


def _has_sequences(folder: Path) -> bool:
    return any(p.is_dir() and p.name[:2] in ("i_", "v_") for p in folder.iterdir())


def read_homography(path: Path) -> np.ndarray:
    try:
        H = np.loadtxt(path, dtype=np.float64)
    except ValueError as err:
        raise DataError(f"{path}: not a 3 x 3 homography ({err})") from None
    if H.shape != (3, 3):
        raise DataError(f"{path}: expected a 3 x 3 homography, got shape {H.shape}")
    return H


def pair_homography(seq: Path, i: int, j: int) -> np.ndarray:
    """H_i_j = H_1_j @ inv(H_1_i), mapping image-i pixels to image j."""
    h1j = np.eye(3) if j == 1 else read_homography(seq / f"H_1_{j}")
    h1i = np.eye(3) if i == 1 else read_homography(seq / f"H_1_{i}")
    return h1j @ np.linalg.inv(h1i)


def warp(H: np.ndarray, point: tuple[float, float]) -> tuple[float, float]:
    x, y, w = H @ np.array([point[0], point[1], 1.0])
    return float(x / w), float(y / w)


def split_sequences(seqs: list[Path], seed: int) -> dict[str, list[Path]]:
    """80/10/10 of illumination and of viewpoint sequences, separately, then merged."""
    out = {"train": [], "validation": [], "test": []}
    for kind in ("i_", "v_"):
        group = [s for s in seqs if s.name.startswith(kind)]
        parts = partition(group, FRACTIONS, task_rng(TASK, f"sequences/{kind}", seed))
        for split, part in zip(out, parts):
            out[split] += part
    return {k: sorted(v) for k, v in out.items()}


def build(source: Path, sizes: dict, seed: int, report: Report, **_) -> dict[str, list]:
    by_split = split_sequences(find_sequences(source), seed)
    out = {}
    for split, seqs in by_split.items():
        want = sizes.get(split)
        out[split] = _build_split(split, seqs, want, task_rng(TASK, split, seed), report)
        report.short(split, want, len(out[split]), f"{len(seqs)} HPatches sequences")
    return out


@functools.lru_cache(maxsize=16)
def _image(path: Path) -> Image.Image:
    return load_rgb(path)


def _build_split(split, seqs, want, rng, report) -> list[dict]:
    pairs = [(s, i, j) for s in seqs for i in range(1, 7) for j in range(i + MIN_GAP, 7)]
    pairs = shuffled(pairs, rng)
    refs: dict[int, list] = {k: [] for k in range(len(pairs))}
    alive = list(range(len(pairs)))
    records: list[dict] = []
    limit = len(pairs) if want is None else want  # None: one example per pair
    while alive and len(records) < limit:
        still = []
        for k in alive:
            if len(records) >= limit:
                break
            rec = _example(pairs[k], refs[k], rng, split, len(records))
            if rec is None:
                report.skip(f"{split}: HPatches pair with no further valid reference point")
                continue
            records.append(rec)
            still.append(k)
        alive = still
    _image.cache_clear()
    return records


def _example(pair, used_refs, rng, split, index, tries: int = 100):
    seq, i, j = pair
    src_size, dst_size = image_size(seq / f"{i}.ppm"), image_size(seq / f"{j}.ppm")
    H = pair_homography(seq, i, j)
    s_short, d_short = min(src_size), min(dst_size)
    for _ in range(tries):
        ref = (
            float(rng.uniform(BORDER * s_short, src_size[0] - BORDER * s_short)),
            float(rng.uniform(BORDER * s_short, src_size[1] - BORDER * s_short)),
        )
        if any(np.hypot(ref[0] - q[0], ref[1] - q[1]) < REF_SPACING * s_short for q in used_refs):
            continue
        true = warp(H, ref)
        m = BORDER * d_short
        if not (m <= true[0] <= dst_size[0] - m and m <= true[1] <= dst_size[1] - m):
            continue
        distractors = far_points(rng, dst_size, [true], 3, DISTRACTOR_DIST * d_short, m / 2)
        if distractors is None:
            continue
        used_refs.append(ref)
        points, answer = place_answer(true, distractors, rng)
        first = draw_points(_image(seq / f"{i}.ppm"), [ref], ["REF"])
        second = draw_points(_image(seq / f"{j}.ppm"), points, letters(4))
        meta = {
            "source_images": [f"hpatches:{seq.name}/{i}", f"hpatches:{seq.name}/{j}"],
            "sequence": seq.name,
            "pair": [i, j],
            "ref_point": list(ref),
            "candidate_points": [list(p) for p in points],
            "homography": H.tolist(),
        }
        images = [encode_image(first), encode_image(second)]
        return mcq_record(TASK, split, index, images, answer, SOURCE, meta)
    return None
