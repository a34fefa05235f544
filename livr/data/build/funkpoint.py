"""Functional-correspondence questions from FunKPoint (paper Appendix A.7).

FunKPoint's release layout is not confirmed, so this parser reads one generic annotation file
under `--source` (convert the release to it once):

    annotations.json    a list of {"image": "<path relative to --source>", "action": "pour",
                        "keypoints": [[x1, y1], ..., [x5, y5]]}
    or annotations.csv  columns image, action, x1, y1, x2, y2, x3, y3, x4, y4, x5, y5

Keypoint coordinates are normalised to [0, 1] (x by width, y by height), in the dataset's fixed
order of the five functional keypoints. An entry with a missing or out-of-range keypoint is
skipped and counted.

Images are split 80/10/10 into train / validation / test per action (so per-action counts are
kept across splits); an image listed under two actions stays in the split it got first. Within a
split and action, images are shuffled and paired without reuse; each pair gives one question:
reference keypoint k on the left image ("REF"), and on the right image keypoint k plus three of
the other four keypoints (A-D, kept at least two circle radii apart). `--train N` subsamples the
train pairs; validation and test keep every pair unless a size is given. All three splits come
from FunKPoint (the paper evaluates on this held-out split, not on BLINK).
"""

from __future__ import annotations

import csv
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
    partition,
    place_answer,
    require_dir,
    separated_subset,
    shuffled,
    take,
    task_rng,
)
from livr.errors import DataError

TASK = "functional_correspondence"
SOURCE = "funkpoint"
SPLITS = ("train", "validation", "test")
FRACTIONS = (0.8, 0.1, 0.1)
NUM_KEYPOINTS = 5


def read_entries(source: Path, report: Report) -> list[dict]:
    source = require_dir(source, "FunKPoint: annotations.json or annotations.csv plus images")
    if (source / "annotations.json").is_file():
        rows = _read_json(source / "annotations.json")
    elif (source / "annotations.csv").is_file():
        rows = _read_csv(source / "annotations.csv")
    else:
        raise DataError(
            f"{source}: expected annotations.json or annotations.csv listing image, action and "
            "five normalised keypoints per image (see livr/data/build/funkpoint.py for the layout)"
        )
    entries, seen = [], set()
    for row in rows:
        kps = row["keypoints"]
        ok = len(kps) == NUM_KEYPOINTS and all(
            p is not None and len(p) == 2 and all(_finite(v) and 0 <= float(v) <= 1 for v in p)
            for p in kps
        )
        if not ok:
            report.skip("funkpoint: entry without five keypoints in [0, 1]")
            continue
        key = (row["image"], row["action"])
        if key in seen:
            report.skip("funkpoint: duplicate (image, action) entry")
            continue
        seen.add(key)
        entries.append(
            {
                "image": row["image"],
                "action": row["action"],
                "keypoints": [[float(v) for v in p] for p in kps],
            }
        )
    if not entries:
        raise DataError(
            f"{source}: no usable FunKPoint entries (each needs five keypoints in [0, 1])"
        )
    return entries


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _read_json(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of {{image, action, keypoints}} objects")
    for i, row in enumerate(data):
        missing = [k for k in ("image", "action", "keypoints") if k not in row]
        if missing:
            raise DataError(f"{path}: entry {i} lacks {missing}")
    return data


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = ["image", "action"] + [f"{a}{k}" for k in range(1, 6) for a in "xy"]
        missing = [c for c in cols if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing columns {missing} (expected {', '.join(cols)})")
        return [
            {
                "image": r["image"],
                "action": r["action"],
                "keypoints": [[_num(r[f"x{k}"]), _num(r[f"y{k}"])] for k in range(1, 6)],
            }
            for r in reader
        ]


def _num(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def split_images(entries: list[dict], seed: int) -> dict[str, str]:
    """image -> split: 80/10/10 per action; an image keeps the split it got first."""
    owner: dict[str, str] = {}
    for action in sorted({e["action"] for e in entries}):
        images = sorted({e["image"] for e in entries if e["action"] == action} - owner.keys())
        parts = partition(images, FRACTIONS, task_rng(TASK, f"split/{action}", seed))
        for split, part in zip(SPLITS, parts):
            owner.update({im: split for im in part})
    return owner


def build(source: Path, sizes: dict, seed: int, report: Report, **_) -> dict[str, list]:
    source = Path(source)
    entries = read_entries(source, report)
    owner = split_images(entries, seed)
    out = {}
    for split in SPLITS:
        rng = task_rng(TASK, split, seed)
        pairs = []
        for action in sorted({e["action"] for e in entries}):
            group = [e for e in entries if e["action"] == action and owner[e["image"]] == split]
            group = shuffled(group, rng)
            pairs += [(group[i], group[i + 1]) for i in range(0, len(group) - 1, 2)]
        pairs = take(pairs, sizes.get(split), rng)
        records = []
        for left, right in pairs:
            rec = _example(source, left, right, rng, split, len(records))
            if rec is None:
                report.skip("funkpoint: pair whose keypoints are too close for 4 distinct circles")
            else:
                records.append(rec)
        report.short(split, sizes.get(split), len(records), "FunKPoint same-action image pairs")
        out[split] = records
    return out


def _example(source: Path, left: dict, right: dict, rng, split: str, index: int):
    limg, rimg = load_rgb(source / left["image"]), load_rgb(source / right["image"])
    lpts = np.array(left["keypoints"]) * np.array(limg.size)
    rpts = np.array(right["keypoints"]) * np.array(rimg.size)
    radius = mark_style(rimg.size)[0]
    for k in rng.permutation(NUM_KEYPOINTS):
        k = int(k)
        others = separated_subset(rpts, k, 2 * radius, rng)
        if others is None:
            continue
        truth = tuple(map(float, rpts[k]))
        points, answer = place_answer(truth, [tuple(map(float, rpts[o])) for o in others], rng)
        ref = tuple(map(float, lpts[k]))
        action = left["action"]
        meta = {
            "source_images": [f"funkpoint:{left['image']}", f"funkpoint:{right['image']}"],
            "action": action,
            "ref_keypoint": k,
            "ref_point": list(ref),
            "candidate_points": [list(p) for p in points],
        }
        images = [
            encode_image(draw_points(limg, [ref], ["REF"])),
            encode_image(draw_points(rimg, points, letters(4))),
        ]
        return mcq_record(
            TASK, split, index, images, answer, SOURCE, meta, action=action_text(action)
        )
    return None


def action_text(action: str) -> str:
    """'mash_pound' -> 'Mash Pound' (BLINK writes actions title-cased)."""
    return " ".join(w.capitalize() for w in action.replace("_", " ").split())
