"""Mirage's released VSP data (Visual Spatial Planning, FrozenLake maps) from a local copy:
`livr data build --task vsp --source COPY` and `livr eval --data mirage_vsp:COPY`.

The layout read here (what Mirage's data loaders consume, `text_input` / `text_output` /
`image_input` / `image_output`, plus the map as `map_desc`, as Mirage-derived evaluation code
reads it; see docs/data.md):

    COPY/train.jsonl               one JSON object per line:
        {"text_input": "<Mirage's question>", "text_output": "... Action plan: R, D",
         "image_input": "images/level3/map_0.png",      (a path relative to COPY, or a list of one)
         "image_output": "helper/level3/map_0.png",     (the helper image: the map a later step
                                                          into the plan; optional outside train)
         "map_desc": [[1, 0, -1], [0, 0, 0], [-1, 0, 2]]}  (0 ice, 1 start, 2 goal, -1 hole;
                                                          rows of "SFHG" letters also accepted)
    COPY/test.jsonl                the same, the test split
    COPY/val.jsonl                 optional (also validation.jsonl); otherwise the validation
                                   split is carved from train (10% by default, `--val N`)

The gold plan is read from `text_output`: the actions after its last "Action plan:", else the
letters inside `\\boxed{...}`; it must solve the map (FrozenLake replay) or the line is refused.
Records are livr vsp records: livr's vsp prompt (so that models trained on livr's generator and
on this data answer in one format), `answer` "Action plan: R, D", metadata `grid` (rows of
S/F/H/G, what `simulate_plan` scores against under either VSP scoring), `size`, `plan_length`
and Mirage's own prompt (`mirage_text_input`); `helper_image` is `image_output`.
"""

from __future__ import annotations

import re
from pathlib import Path

from livr.data.build.common import Report, image_from_file, jsonl_rows, record_id, task_rng, take
from livr.data.prompts import build_prompt
from livr.data.schema import make_record
from livr.data.synth.vsp import MOVES, WORDS, format_plan, parse_plan, simulate_plan
from livr.errors import DataError

TASK = "vsp"
SOURCE = "mirage_vsp"
FILES = {"train": ("train.jsonl",), "validation": ("val.jsonl", "validation.jsonl"), "test": ("test.jsonl",)}
FIELDS = ("text_input", "text_output", "image_input", "map_desc")
CELLS = {0: "F", 1: "S", 2: "G", -1: "H"}
VAL_FRACTION = 0.1  # validation carved from train when the copy has no val file
_BOXED = re.compile(r"\\boxed\{([^}]*)\}")


def grid_rows(desc, where: str) -> list[str]:
    """Mirage's `map_desc` (rows of 0 ice / 1 start / 2 goal / -1 hole, or rows of S/F/H/G
    letters) as rows of letters; DataError unless it is a rectangle with one S and one G."""
    if not isinstance(desc, list) or not desc:
        raise DataError(f"{where}: map_desc must be a non-empty list of rows, got {desc!r}")
    rows = []
    for row in desc:
        if isinstance(row, str):
            cells = row
        elif isinstance(row, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in row):
            if any(v not in CELLS for v in row):
                raise DataError(f"{where}: map_desc cells must be 0 (ice), 1 (start), 2 (goal) or -1 "
                                f"(hole), got row {row!r}")
            cells = "".join(CELLS[v] for v in row)
        else:
            raise DataError(f"{where}: map_desc rows must be lists of integers or strings, got {row!r}")
        if set(cells) - set("SFHG"):
            raise DataError(f"{where}: map_desc row {row!r} has cells other than S, F, H, G")
        rows.append(cells)
    if len({len(r) for r in rows}) != 1:
        raise DataError(f"{where}: map_desc rows have different lengths")
    joined = "".join(rows)
    if joined.count("S") != 1 or joined.count("G") != 1:
        raise DataError(f"{where}: map_desc needs exactly one start and one goal, got {rows}")
    return rows


def gold_plan(text: str, where: str) -> list[str]:
    """The gold actions of a `text_output`: after its last "Action plan:", else in \\boxed{...}."""
    plan = parse_plan(text)
    if not plan:
        boxed = _BOXED.findall(text)
        if boxed:
            tokens = [t for t in re.split(r"[,\s]+", boxed[-1].upper()) if t]
            if len(tokens) == 1 and tokens[0] not in WORDS and tokens[0] not in MOVES:
                tokens = list(tokens[0])  # \boxed{RDD}
            letters = tokens
            plan = parse_plan("Action plan: " + ", ".join(letters))
    if not plan:
        raise DataError(f"{where}: no plan in text_output {text[-120:]!r} (expected 'Action plan: R, D' "
                        "or \\boxed{RD})")
    return plan


def _image(root: Path, value, field: str, where: str):
    if isinstance(value, list):
        if len(value) != 1:
            raise DataError(f"{where}: {field} must name one image, got {len(value)}")
        value = value[0]
    if not isinstance(value, str) or not value:
        raise DataError(f"{where}: {field} must be a path, got {value!r}")
    path = Path(value) if Path(value).is_absolute() else root / value
    if not path.is_file():
        raise DataError(f"{where}: {field} {value} not found under {root}")
    return image_from_file(path)


def load_file(root: Path, path: Path, split: str) -> list[dict]:
    """Every line of one jsonl file as a vsp record of `split` (DataError naming file and line)."""
    records = []
    for n, where, row in jsonl_rows(path, FIELDS, "Mirage VSP"):
        grid = grid_rows(row["map_desc"], where)
        plan = gold_plan(str(row["text_output"]), where)
        answer = format_plan(plan)
        if not simulate_plan(grid, answer):
            raise DataError(f"{where}: the gold plan {answer!r} does not solve its map {grid}")
        helper = row.get("image_output")
        question, choices, prompt = build_prompt(TASK, size=str(len(grid)))
        records.append(make_record(
            id=record_id(TASK, split, len(records)), task=TASK,
            images=[_image(root, row["image_input"], "image_input", where)],
            question=question, choices=choices, answer=answer, prompt=prompt, source=SOURCE,
            metadata={"grid": grid, "size": len(grid), "plan_length": len(plan),
                      "mirage_text_input": row["text_input"], "mirage_line": f"{path.name}:{n}"},
            helper_image=None if helper in (None, "", []) else _image(root, helper, "image_output", where),
        ))
    return records


def _file(root: Path, split: str) -> Path | None:
    return next((root / name for name in FILES[split] if (root / name).is_file()), None)


def check_copy(source: str | Path) -> Path:
    root = Path(source)
    if not root.is_dir():
        raise DataError(f"{source}: no such folder; give a local copy of Mirage's VSP data "
                        "(train.jsonl, test.jsonl and their images)")
    if not any(_file(root, s) for s in FILES):
        raise DataError(f"{root}: expected Mirage's VSP files here ({', '.join(n for v in FILES.values() for n in v)})")
    return root


def load_mirage_vsp(source: str | Path, split: str = "test") -> list[dict]:
    """One split of a local copy as vsp records (`val` names the validation split)."""
    root = check_copy(source)
    split = "validation" if split == "val" else split
    if split not in FILES:
        raise DataError(f"Mirage's VSP data has splits train, validation (val) and test; got {split!r}")
    path = _file(root, split)
    if path is None:
        raise DataError(f"{root}: no {' or '.join(FILES[split])} for split {split!r}")
    records = load_file(root, path, split)
    if not records:
        raise DataError(f"{path} holds no examples")
    return records


def build(source: Path, sizes: dict, seed: int, report: Report) -> dict[str, list]:
    """`livr data build --task vsp`: train, validation and test from the copy; sizes cap each
    split (a reproducible random choice); without a val file, validation is carved from train."""
    root = check_copy(source)
    train_file = _file(root, "train")
    if train_file is None:
        raise DataError(f"{root}: no train.jsonl (Mirage's VSP training data)")
    train = load_file(root, train_file, "train")
    val_file = _file(root, "validation")
    if val_file is not None:
        validation = load_file(root, val_file, "validation")
    else:
        wanted = sizes.get("validation")
        n_val = max(1, round(VAL_FRACTION * len(train))) if wanted is None else wanted
        if n_val >= len(train):
            raise DataError(f"{train_file}: {len(train)} examples cannot give {n_val} validation examples "
                            "and a train split")
        picked = set(task_rng(TASK, "carve-validation", seed).choice(len(train), size=n_val, replace=False).tolist())
        validation = [r for i, r in enumerate(train) if i in picked]
        train = [r for i, r in enumerate(train) if i not in picked]
        report.note(f"validation: {n_val} examples carved from {train_file.name} (no val.jsonl)")
    test_file = _file(root, "test")
    test = load_file(root, test_file, "test") if test_file is not None else []
    if test_file is None:
        report.note("test: no test.jsonl in the copy; the test split is empty")
    out = {}
    for split, records in (("train", train), ("validation", validation), ("test", test)):
        kept = take(records, sizes.get(split), task_rng(TASK, split, seed))
        report.short(split, sizes.get(split), len(kept), f"{SOURCE} {split}")
        out[split] = [dict(r, id=record_id(TASK, split, i)) for i, r in enumerate(kept)]
    missing = sum(r["helper_image"] is None for r in out["train"])
    if missing:
        report.note(f"train: {missing} examples without image_output (Mirage training refuses them)")
    return out
