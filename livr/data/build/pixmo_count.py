"""Counting from PixMo-Count (paper Appendix A.1): open-ended "How many ...?" questions.

Expected layout under `--source` (a local copy of the hub repository `allenai/pixmo-count`):

    data/train-*.parquet, data/validation-*.parquet, data/test-*.parquet
    (the `data/` level is optional) with columns image_url, image_sha256, count, label (points
    in train only)

PixMo-Count stores image URLs, not images, and nothing here downloads. Give the images you
fetched in a folder (`--images`, default `<source>/images`), each file named by its sha256
(`<sha256>`, `<sha256>.jpg`, ...) or by the URL's file name. A file named by the URL is checked
against `image_sha256`; an example whose image is missing or fails the check is skipped and
counted, like the paper's "discarding any examples whose remote image URLs no longer resolve".

Train: counts 2..10 only, sampled round-robin over the counts so they are about uniform
(de-duplication against the test images is `livr data dedup`'s job). Validation and test: the
official splits minus missing images (all of them unless a size is given). Train records keep
PixMo's `points` (x, y in pixels) in their metadata: the counting ROI of `livr.data.roi`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.parquet as pq

from livr.data.build.common import (
    Report,
    image_from_bytes,
    record_id,
    require_dir,
    shuffled,
    take,
    task_rng,
)
from livr.data.prompts import build_prompt
from livr.data.schema import make_record
from livr.errors import DataError

TASK = "counting"
SOURCE = "pixmo-count"
COUNT_RANGE = range(2, 11)
COLUMNS = ("image_url", "image_sha256", "count", "label")
OFFICIAL_SPLITS = {"train": "train", "validation": "validation", "test": "test"}


def read_split(source: Path, split: str) -> list[dict]:
    """Rows of one official split, in file order."""
    source = require_dir(source, "PixMo-Count: data/<split>-*.parquet")
    name = OFFICIAL_SPLITS[split]
    files = sorted((source / "data").glob(f"{name}-*.parquet")) or sorted(
        source.glob(f"{name}-*.parquet")
    )
    if not files:
        raise DataError(
            f"{source}: expected the PixMo-Count parquet file data/{name}-00000-of-0000N.parquet "
            "(a local copy of the hub repository allenai/pixmo-count)"
        )
    rows = []
    for f in files:
        table = pq.read_table(f)
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise DataError(f"{f}: missing PixMo-Count columns {missing}")
        extra = ["points"] if "points" in table.column_names else []  # train only (pixels)
        rows += table.select(list(COLUMNS) + extra).to_pylist()
    return rows


class ImageFolder:
    """Images the user downloaded, found by sha256 or by the URL's file name."""

    def __init__(self, folder: Path) -> None:
        self.folder = require_dir(
            folder,
            "PixMo-Count images, each named <sha256>[.ext] or by its URL's file name (--images)",
        )
        self.by_name: dict[str, Path] = {}
        self.by_stem: dict[str, Path] = {}
        for p in sorted(self.folder.iterdir()):
            if p.is_file():
                self.by_name.setdefault(p.name, p)
                self.by_stem.setdefault(p.stem, p)

    def find(self, url: str, sha256: str | None) -> Path | None:
        if sha256 and (sha256 in self.by_stem or sha256 in self.by_name):
            return self.by_name.get(sha256) or self.by_stem[sha256]
        base = Path(urlparse(url).path).name
        return self.by_name.get(base) if base else None

    def load(self, row: dict, report: Report):
        """The row's image as a record image, or None (skipped and counted) if unusable."""
        path = self.find(row["image_url"], row.get("image_sha256"))
        if path is None:
            report.skip("pixmo-count: image not in the images folder (dead URL or not downloaded)")
            return None
        data = path.read_bytes()
        if row.get("image_sha256") and hashlib.sha256(data).hexdigest() != row["image_sha256"]:
            report.skip("pixmo-count: image file fails its sha256 check")
            return None
        try:
            return image_from_bytes(data, str(path))
        except DataError:
            report.skip("pixmo-count: image file is not a readable image")
            return None


def count_record(row: dict, image, split: str, index: int) -> dict:
    question, choices, prompt = build_prompt(TASK, object=row["label"])
    return make_record(
        id=record_id(TASK, split, index),
        task=TASK,
        images=[image],
        question=question,
        choices=choices,
        answer=str(int(row["count"])),
        prompt=prompt,
        source=SOURCE,
        metadata={
            "source_images": [f"pixmo:{row['image_sha256'] or row['image_url']}"],
            "image_url": row["image_url"],
            "label": row["label"],
            "count": int(row["count"]),
            **_points(row.get("points")),
        },
    )


def _points(value) -> dict:
    """`{"points": [[x, y], ...]}` (pixels; the ROI of livr.data.roi) from PixMo-Count's points,
    stored as a list of {x, y} or as {x: [...], y: [...]}; {} when absent (eval splits)."""
    if isinstance(value, dict) and value.get("x") is not None:
        value = [{"x": x, "y": y} for x, y in zip(value["x"], value["y"])]
    if not value:
        return {}
    return {"points": [[float(p["x"]), float(p["y"])] for p in value]}


def _official(
    source: Path, split: str, n: int | None, images: ImageFolder, seed: int, report: Report
):
    """An official split minus unusable images; a random subset of `n` if given."""
    rows = read_split(source, split)
    kept = []
    for row in rows:
        image = images.load(row, report)
        if image is not None:
            kept.append((row, image))
    kept = take(kept, n, task_rng(TASK, split, seed))
    report.short(split, n, len(kept), f"PixMo-Count {split} with images")
    return [count_record(row, image, split, i) for i, (row, image) in enumerate(kept)]


def load_pixmo_count_test(
    source, images=None, seed: int = 0, n: int | None = None, report: Report | None = None
) -> list[dict]:
    """The official PixMo-Count test split as counting records (missing images skipped)."""
    source = Path(source)
    folder = ImageFolder(Path(images) if images else source / "images")
    return _official(source, "test", n, folder, seed, report or Report())


def build(
    source: Path, sizes: dict, seed: int, report: Report, images=None, **_
) -> dict[str, list]:
    source = Path(source)
    folder = ImageFolder(Path(images) if images else source / "images")
    return {
        "train": _train(source, sizes.get("train"), folder, seed, report),
        "validation": _official(
            source, "validation", sizes.get("validation"), folder, seed, report
        ),
        "test": _official(source, "test", sizes.get("test"), folder, seed, report),
    }


def _train(
    source: Path, n: int | None, images: ImageFolder, seed: int, report: Report
) -> list[dict]:
    """Counts 2..10, drawn round-robin over the counts so they are about equally represented."""
    rng = task_rng(TASK, "train", seed)
    buckets = {c: [] for c in COUNT_RANGE}
    for row in read_split(source, "train"):
        if int(row["count"]) in buckets:
            buckets[int(row["count"])].append(row)
        else:
            report.skip("pixmo-count: train count outside 2..10")
    queues = {c: shuffled(rows, rng) for c, rows in buckets.items()}
    records: list[dict] = []
    while (n is None or len(records) < n) and any(queues.values()):
        for c in COUNT_RANGE:
            if n is not None and len(records) >= n:
                break
            while queues[c]:
                row = queues[c].pop()
                image = images.load(row, report)
                if image is not None:
                    records.append(count_record(row, image, "train", len(records)))
                    break
    report.short("train", n, len(records), "PixMo-Count train (counts 2..10) with images")
    return records
