"""Semantic-correspondence questions from SPair-71k (paper Appendix A.6).

Expected layout under `--source` (the official `SPair-71k` folder, or its parent):

    JPEGImages/<category>/<name>.jpg
    PairAnnotation/trn/<id>-<src>-<trg>:<category>.json   with src_imname, trg_imname,
        category, src_kps, trg_kps (lists of [x, y], aligned), kps_ids, ...

Only the official training pairs (`trn`) are used; both our train and validation splits come
from them and no image is in both (pairs are assigned greedily to the split whose images they
share, and skipped when their two images already sit in different splits). A pair needs at least
four valid correspondences (finite, non-negative coordinates in both images). The reference is
one annotated keypoint drawn as "REF" on the source image; the candidates on the target are its
true match plus three other annotated keypoints, all drawn on the original-resolution images.
So that the four circles are distinct, candidates are at least two circle radii apart
(reference keypoints without three such distractors are not used; a pair with none is skipped).
The test split is BLINK's Semantic_Correspondence val split, added by the CLI.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from livr.data.build.common import (
    Report,
    draw_points,
    encode_image,
    letters,
    load_rgb,
    mark_style,
    mcq_record,
    place_answer,
    require_dir,
    separated_subset,
    shuffled,
    task_rng,
)
from livr.errors import DataError

TASK = "semantic_correspondence"
SOURCE = "spair-71k"
MIN_VALID = 4


def find_root(source: Path) -> Path:
    source = require_dir(source, "SPair-71k: JPEGImages/ and PairAnnotation/trn/")
    for root in (source, source / "SPair-71k"):
        if (root / "PairAnnotation" / "trn").is_dir():
            require_dir(root / "JPEGImages", "SPair-71k images, JPEGImages/<category>/*.jpg")
            return root
    raise DataError(
        f"{source}: expected the SPair-71k folder PairAnnotation/trn/ (pair JSON files) next to "
        "JPEGImages/<category>/ (the official SPair-71k layout)"
    )


def pair_files(root: Path) -> list[Path]:
    files = sorted((root / "PairAnnotation" / "trn").glob("*.json"))
    if not files:
        raise DataError(
            f"{root / 'PairAnnotation' / 'trn'}: expected pair annotation *.json files, found none"
        )
    return files


def read_pair(f: Path) -> dict:
    try:
        pair = json.loads(f.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{f}: not valid JSON ({err})") from None
    missing = [
        k for k in ("src_imname", "trg_imname", "category", "src_kps", "trg_kps") if k not in pair
    ]
    if missing:
        raise DataError(f"{f}: missing SPair-71k pair fields {missing}")
    pair["_file"] = f.name
    return pair


def valid_correspondences(pair: dict) -> list[int]:
    """Indices k where both src_kps[k] and trg_kps[k] are finite and non-negative."""
    keep = []
    for k, (s, t) in enumerate(zip(pair["src_kps"], pair["trg_kps"])):
        pts = [s, t]
        if all(p is not None and len(p) >= 2 for p in pts):
            vals = [float(v) for p in pts for v in p[:2]]
            if all(math.isfinite(v) and v >= 0 for v in vals):
                keep.append(k)
    return keep


def build(source: Path, sizes: dict, seed: int, report: Report, **_) -> dict[str, list]:
    root = find_root(source)
    files = shuffled(pair_files(root), task_rng(TASK, "pool", seed))
    rngs = {s: task_rng(TASK, s, seed) for s in ("train", "validation")}
    out: dict[str, list] = {"train": [], "validation": []}
    owner: dict[str, str] = {}  # image key -> split
    for f in files:  # read lazily: the full trn set is ~53k files
        pair = read_pair(f)
        split = _choose_split(pair, owner, out, sizes, report)
        if split is None:
            if all(_full(out, sizes, s) for s in out):
                break
            continue
        valid = valid_correspondences(pair)
        if len(valid) < MIN_VALID:
            report.skip("spair: pair with fewer than 4 valid keypoint correspondences")
            continue
        rec = _example(root, pair, valid, rngs[split], split, len(out[split]))
        if rec is None:
            report.skip("spair: no keypoint with 3 distinct distractor keypoints")
            continue
        for key in _keys(pair):
            owner[key] = split
        out[split].append(rec)
    for split in out:
        report.short(split, sizes.get(split), len(out[split]), "SPair-71k trn pairs")
    return out


def _keys(pair: dict) -> tuple[str, str]:
    return f"{pair['category']}/{pair['src_imname']}", f"{pair['category']}/{pair['trg_imname']}"


def _full(out, sizes, split) -> bool:
    want = sizes.get(split)
    return want is not None and len(out[split]) >= want


def _choose_split(pair, owner, out, sizes, report) -> str | None:
    """The split this pair may join: the one its images already belong to, else the neediest."""
    taken = {owner[k] for k in _keys(pair) if k in owner}
    if len(taken) > 1:
        report.skip("spair: pair whose images are already in different splits")
        return None
    open_splits = [s for s in out if not _full(out, sizes, s) and (not taken or s in taken)]
    if not open_splits:
        return None

    def need(s):
        want = sizes.get(s)
        return 1.0 if want is None else (want - len(out[s])) / want

    return max(open_splits, key=need)


def _example(root: Path, pair: dict, valid: list[int], rng, split: str, index: int):
    cat = pair["category"]
    src = load_rgb(root / "JPEGImages" / cat / pair["src_imname"])
    trg = load_rgb(root / "JPEGImages" / cat / pair["trg_imname"])
    radius = mark_style(trg.size)[0]
    trg_pts = np.array([pair["trg_kps"][k][:2] for k in valid], dtype=float)
    for pos in rng.permutation(len(valid)):
        others = separated_subset(trg_pts, int(pos), 2 * radius, rng)
        if others is None:
            continue
        k = valid[int(pos)]
        truth = tuple(map(float, trg_pts[pos]))
        points, answer = place_answer(truth, [tuple(map(float, trg_pts[o])) for o in others], rng)
        ref = tuple(float(v) for v in pair["src_kps"][k][:2])
        meta = {
            "source_images": [
                f"spair:{cat}/{pair['src_imname']}",
                f"spair:{cat}/{pair['trg_imname']}",
            ],
            "pair_file": pair["_file"],
            "category": cat,
            "ref_keypoint": pair.get("kps_ids", list(range(len(pair["src_kps"]))))[k],
            "ref_point": list(ref),
            "candidate_points": [list(p) for p in points],
        }
        images = [
            encode_image(draw_points(src, [ref], ["REF"])),
            encode_image(draw_points(trg, points, letters(4))),
        ]
        return mcq_record(TASK, split, index, images, answer, SOURCE, meta)
    return None
