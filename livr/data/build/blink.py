"""BLINK val questions as test records (the paper's test split for six tasks).

`load_blink(task, source, split="val")` reads one BLINK config, from either

- a local copy of the hub repository `BLINK-Benchmark/BLINK`:
  `<source>/<Config>/val-00000-of-00001.parquet` (or `source` may be the `<Config>` folder
  itself), images stored as the `datasets` Image struct {bytes, path}; or
- the hub, when `source` is `hub` or a repository id such as `BLINK-Benchmark/BLINK` and no such
  local folder exists (needs a network; offline it fails with a DataError saying so).

`task` is one of our task names (mapped to its BLINK config, e.g. jigsaw -> Jigsaw) or a BLINK
config name. Each row becomes a record: images image_1..image_4 (non-null, in order), BLINK's
question and choices, answer "(A)" -> "A", and a prompt re-formatted with
`livr.data.prompts.format_mcq` so train and test prompts share one layout. The record id is
BLINK's own `idx` (e.g. `val_Jigsaw_1`), so predictions join with other tools' outputs; BLINK's
`prompt`, `idx`, `sub_task` and `explanation` go to metadata. BLINK's Counting config is
multiple choice (its records carry choices and a letter); our counting test set is PixMo-Count.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq

from livr.data.build.common import image_from_bytes
from livr.data.prompts import format_mcq
from livr.data.schema import make_record
from livr.data.tasks import TASKS
from livr.errors import DataError

HUB_REPO = "BLINK-Benchmark/BLINK"
SOURCE = "blink"
IMAGE_COLUMNS = ("image_1", "image_2", "image_3", "image_4")
COLUMNS = ("idx", "question", "choices", "answer", *IMAGE_COLUMNS)
CONFIG_TO_TASK = {t.blink_config: t.name for t in TASKS.values() if t.blink_config}


def resolve(task: str) -> tuple[str, str]:
    """(our task name, BLINK config) for a task name or a BLINK config name."""
    if task in TASKS and TASKS[task].blink_config:
        return task, TASKS[task].blink_config
    if task in CONFIG_TO_TASK:
        return CONFIG_TO_TASK[task], task
    known = ", ".join(sorted([*(t for t in TASKS if TASKS[t].blink_config), *CONFIG_TO_TASK]))
    raise DataError(f"no BLINK config for task {task!r}; known: {known}")


def load_blink(task: str, source: str | Path, split: str = "val") -> list[dict]:
    """BLINK `split` of the config for `task`, as records (see the module docstring)."""
    name, config = resolve(task)
    path = Path(source)
    if path.is_dir():
        rows = _local_rows(path, config, split)
    elif str(source) == "hub" or re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)):
        rows = _hub_rows(
            HUB_REPO if str(source) == "hub" else str(source), config, split, str(source)
        )
    else:
        raise DataError(
            f"--blink {source}: no such folder; give a local copy of the hub repository "
            f"{HUB_REPO} (holding {config}/{split}-00000-of-00001.parquet) or 'hub' to load it "
            "online"
        )
    return [_record(name, config, split, i, row) for i, row in enumerate(rows)]


def _local_rows(root: Path, config: str, split: str) -> list[dict]:
    folder = root / config if (root / config).is_dir() else root
    files = sorted(folder.glob(f"{split}-*.parquet"))
    if not files:
        raise DataError(
            f"{root}: expected the BLINK file {config}/{split}-00000-of-00001.parquet "
            f"(a local copy of the hub repository {HUB_REPO})"
        )
    rows = []
    for f in files:
        table = pq.read_table(f)
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise DataError(f"{f}: missing BLINK columns {missing}")
        for row in table.to_pylist():
            for col in IMAGE_COLUMNS:
                row[col] = _image(row[col], f"{f} row {row['idx']} {col}")
            rows.append(row)
    return rows


def _image(value, where: str):
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("bytes"):
            return image_from_bytes(value["bytes"], where)
        if value.get("path") and Path(value["path"]).is_file():
            return image_from_bytes(Path(value["path"]).read_bytes(), where)
        raise DataError(f"{where}: image has neither bytes nor a readable path")
    raise DataError(f"{where}: unexpected image value of type {type(value).__name__}")


def _hub_rows(repo: str, config: str, split: str, given: str) -> list[dict]:
    import datasets

    try:
        ds = datasets.load_dataset(repo, config, split=split)
    except (
        Exception
    ) as err:  # offline, unknown repo/config, auth: all end the same way for the user
        raise DataError(
            f"could not load BLINK config {config!r} split {split!r} from the hub repository "
            f"{repo} ({type(err).__name__}: {err})"
            + ("" if given == "hub" else f"; no local folder {given!r} exists either")
            + ". Without a network (or with HF_HUB_OFFLINE=1), download the repository "
            "elsewhere and pass its folder with --blink PATH"
        ) from None
    return [dict(row) for row in ds]


def _record(task: str, config: str, split: str, index: int, row: dict) -> dict:
    choices = list(row["choices"] or [])
    answer = str(row["answer"] or "").strip().strip("()").strip()
    if len(answer) != 1 or not "A" <= answer < chr(ord("A") + len(choices)):
        raise DataError(
            f"BLINK {config} {split} row {row['idx']}: answer {row['answer']!r} is not a letter "
            f"among {len(choices)} choices (BLINK's test answers are withheld: use split 'val')"
        )
    images = [row[c] for c in IMAGE_COLUMNS if row.get(c) is not None]
    return make_record(
        id=str(row["idx"]),  # BLINK's own id (e.g. val_Jigsaw_1): predictions join with other tools'
        task=task,
        images=images,
        question=row["question"],
        choices=choices,
        answer=answer,
        prompt=format_mcq(row["question"], choices),
        source=SOURCE,
        metadata={
            "blink_idx": row["idx"],
            "blink_config": config,
            "blink_split": split,
            "sub_task": row.get("sub_task"),
            "blink_prompt": row.get("prompt"),
            "explanation": row.get("explanation"),
        },
    )
