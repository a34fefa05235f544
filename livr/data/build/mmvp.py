"""MMVP (Tong et al., "Eyes Wide Shut? Exploring the Visual Shortcomings of Multimodal LLMs") as
test records for `livr eval --data mmvp:PATH`.

Published layout (the hub dataset `MMVP/MMVP`; `mmvp` or `mmvp:hub` downloads it):

    <PATH>/Questions.csv           columns Index, Question, Options, Correct Answer; 300 rows,
                                   e.g. 1, "Are the butterfly's wings closer to being open or closed?",
                                   "(a) Open (b) Closed", "(a)"
    <PATH>/MMVP Images/<Index>.jpg the image of each row (1.jpg ... 300.jpg)

Rows 1-2, 3-4, ... are the 150 "CLIP-blind" pairs: two images CLIP embeds alike, asked the same
question with opposite answers. Each row becomes a record of task `mmvp` with choices from
Options ("(a) Open (b) Closed" -> ["Open", "Closed"]), answer "(a)" -> "A", and metadata `pair`
(0-149) and `index`. Scoring (`livr.evaluation.benchmarks`): per-question accuracy (the usual
option-letter match) and pair accuracy, MMVP's headline number: a pair counts only if both of
its questions are right.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from livr.data.build.common import image_from_bytes, record_id
from livr.data.build.vstar import resolve_source
from livr.data.prompts import format_mcq
from livr.data.schema import make_record
from livr.errors import DataError

HUB_REPO = "MMVP/MMVP"
SOURCE = "mmvp"
QUESTIONS_FILE = "Questions.csv"
IMAGE_FOLDER = "MMVP Images"
COLUMNS = ("Index", "Question", "Options", "Correct Answer")
_OPTIONS = re.compile(r"\(([a-h])\)\s*(.*?)\s*(?=\([a-h]\)|$)", re.IGNORECASE | re.DOTALL)


def split_options(text: str, where: str) -> list[str]:
    """'(a) Open (b) Closed' -> ['Open', 'Closed'] (letters in order, at least two)."""
    found = _OPTIONS.findall(text.strip())
    letters = [f[0].lower() for f in found]
    if len(found) < 2 or letters != list("abcdefgh"[:len(found)]):
        raise DataError(f"{where}: options {text!r} are not '(a) ... (b) ...'")
    return [f[1].strip() for f in found]


def load_mmvp(source: str | Path) -> list[dict]:
    """The 300 MMVP questions as records, in Index order (see the module docstring)."""
    root = resolve_source(source, HUB_REPO, QUESTIONS_FILE, "MMVP")
    path = root / QUESTIONS_FILE
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in fields]
        if missing:
            raise DataError(f"{path}: missing MMVP columns {missing} (has {fields})")
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    rows.sort(key=lambda r: int(r["Index"]))
    indices = [int(r["Index"]) for r in rows]
    if indices != list(range(1, len(rows) + 1)) or len(rows) % 2:
        raise DataError(f"{path}: MMVP rows must be Index 1..N with N even (consecutive pairs); "
                        f"got {len(rows)} rows")
    records = []
    for i, row in enumerate(rows):
        where = f"{path} Index {row['Index']}"
        choices = split_options(row["Options"], where)
        answer = row["Correct Answer"].strip().strip("()").strip().upper()
        if len(answer) != 1 or answer not in "ABCDEFGH"[:len(choices)]:
            raise DataError(f"{where}: Correct Answer {row['Correct Answer']!r} is not one of the options")
        image_path = root / IMAGE_FOLDER / f"{row['Index']}.jpg"
        if not image_path.is_file():
            raise DataError(f"{where}: image {IMAGE_FOLDER}/{row['Index']}.jpg not found under {root}")
        image = image_from_bytes(image_path.read_bytes(), str(image_path))
        records.append(make_record(
            id=record_id("mmvp", "test", i), task="mmvp", images=[image], question=row["Question"],
            choices=choices, answer=answer, prompt=format_mcq(row["Question"], choices), source=SOURCE,
            metadata={"index": int(row["Index"]), "pair": i // 2, "mmvp_options": row["Options"]},
        ))
    return records
