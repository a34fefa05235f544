"""Visual-similarity questions from NIGHTS, the DreamSim triplets (paper Appendix A.9).

Expected layout under `--source` (the official `nights` folder, or its parent):

    data.csv    columns id, left_vote, right_vote, votes, ref_path, left_path, right_path,
                split, is_imagenet; image paths are relative to the folder holding data.csv
    ref/..., distort/...   the images

Rows with `votes >= 6` are kept, as DreamSim does; rows whose two candidates got equal votes are
skipped (no majority). NIGHTS' `train` rows make our train split and its `val` rows our
validation split; a validation row that shares an image with a chosen train row is dropped, so
no image crosses splits. image_1 is the reference, image_2 / image_3 the two candidates in random
order, and the answer is the letter of the candidate most voters judged closer. The test split
is BLINK's Visual_Similarity val split, added by the CLI.
"""

from __future__ import annotations

import csv
from pathlib import Path

from livr.data.build.common import (
    Report,
    image_from_file,
    mcq_record,
    place_answer,
    require_dir,
    take,
    task_rng,
)
from livr.errors import DataError

TASK = "visual_similarity"
SOURCE = "nights"
MIN_VOTES = 6
COLUMNS = ("id", "left_vote", "right_vote", "votes", "ref_path", "left_path", "right_path", "split")
SPLIT_NAMES = {"train": "train", "validation": "val"}


def find_csv(source: Path) -> Path:
    source = require_dir(source, "NIGHTS: data.csv with ref/ and distort/ images")
    for root in (source, source / "nights"):
        if (root / "data.csv").is_file():
            return root / "data.csv"
    raise DataError(
        f"{source}: expected the NIGHTS file data.csv (columns {', '.join(COLUMNS)}, ...) "
        "as in the DreamSim release's nights/ folder"
    )


def read_rows(path: Path, report: Report) -> list[dict]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing columns {missing}")
        rows = list(reader)
    keep = []
    for row in rows:
        try:
            votes, left, right = (
                float(row["votes"]),
                float(row["left_vote"]),
                float(row["right_vote"]),
            )
        except ValueError:
            raise DataError(f"{path}: row id={row['id']} has non-numeric votes") from None
        if votes < MIN_VOTES:
            report.skip("nights: triplet with fewer than 6 votes")
        elif left == right:
            report.skip("nights: triplet with tied votes")
        else:
            row["_left_wins"] = left > right
            keep.append(row)
    return keep


def build(source: Path, sizes: dict, seed: int, report: Report, **_) -> dict[str, list]:
    path = find_csv(Path(source))
    rows = read_rows(path, report)
    used: set[str] = set()
    out = {}
    for split, name in SPLIT_NAMES.items():
        rng = task_rng(TASK, split, seed)
        pool = []
        for row in rows:
            if row["split"] != name:
                continue
            if {row["ref_path"], row["left_path"], row["right_path"]} & used:
                report.skip(f"nights: {name} triplet sharing an image with an earlier split")
                continue
            pool.append(row)
        chosen = take(pool, sizes.get(split), rng)
        used |= {row[k] for row in chosen for k in ("ref_path", "left_path", "right_path")}
        out[split] = [_example(path.parent, row, rng, split, i) for i, row in enumerate(chosen)]
        report.short(
            split, sizes.get(split), len(out[split]), f"NIGHTS '{name}' triplets with >= 6 votes"
        )
    return out


def _example(root: Path, row: dict, rng, split: str, index: int) -> dict:
    closer, other = (
        ("left_path", "right_path") if row["_left_wins"] else ("right_path", "left_path")
    )
    options, answer = place_answer(row[closer], [row[other]], rng)
    paths = [row["ref_path"], *options]
    for p in paths:
        if not (root / p).is_file():
            raise DataError(
                f"{(root / p).parent}: expected the NIGHTS image {Path(p).name} "
                f"(row id={row['id']})"
            )
    meta = {
        "source_images": [f"nights:{p}" for p in paths],
        "nights_id": row["id"],
        "votes": [float(row["left_vote"]), float(row["right_vote"]), float(row["votes"])],
    }
    return mcq_record(
        TASK, split, index, [image_from_file(root / p) for p in paths], answer, SOURCE, meta
    )
