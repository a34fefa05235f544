"""`load_eval_records(DATA, split, tasks, limit)`: the records `livr eval` scores, from

- a data folder written by `livr data synth | build` (any split it has), or
- BLINK: `blink` or `blink:hub` (the hub repository, needs a network), `blink:REPO_ID`, or
  `blink:PATH` / a folder holding a local copy of the hub repository (`<Config>/val-*.parquet`).
  BLINK's test answers are hidden, so its val split is the test set (the paper's numbers);
  `--split test` and `--split val` both read it; records keep BLINK's ids (`val_Jigsaw_1`) and
  `split_read(records, split)` names the split read (`val`) for eval.json.
- V*Bench: `vstar:PATH` (a folder with `test_questions.jsonl` and the images, the layout of the
  hub dataset craigwu/vstar_bench) or `vstar` / `vstar:hub` (downloads it); tasks
  `vstar_direct_attributes` and `vstar_relative_position` (`livr.data.build.vstar`).
- MMVP: `mmvp:PATH` (`Questions.csv` and `MMVP Images/`, the layout of MMVP/MMVP) or `mmvp` /
  `mmvp:hub`; task `mmvp` (`livr.data.build.mmvp`). Both are test sets only.
- Mirage's released VSP data: `mirage_vsp:PATH` (a local copy: `train.jsonl`, `test.jsonl`, the
  images; `livr.data.build.mirage_vsp`); task `vsp`, any of its splits (default test).

Records come back as schema rows (images decoded), in a stable order: data-folder order, or
task by task for BLINK. `limit` keeps the first N records of each task (the paper's t-SNE uses
the first 50 evaluation examples of each task).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from livr.data.tasks import TASKS
from livr.errors import DataError

BLINK_PREFIX = "blink"


def _is_blink_folder(path: Path) -> bool:
    return path.is_dir() and not (path / "dataset_dict.json").exists() and any(path.glob("*/val-*.parquet"))


def _blink_source(data: str) -> str | None:
    """The BLINK source ('hub', a repo id or a folder) named by `data`, or None if not BLINK."""
    if data == BLINK_PREFIX:
        return "hub"
    if data.startswith(BLINK_PREFIX + ":"):
        return data.split(":", 1)[1] or "hub"
    if _is_blink_folder(Path(data)):
        return data
    return None


def check_tasks(records: list[dict[str, Any]], where: str) -> None:
    """DataError naming the first record whose task livr does not know or cannot score."""
    for record in records:
        task = record.get("task")
        if task not in TASKS:
            raise DataError(
                f"{where}: record {record.get('id')!r} has task {task!r}, which livr cannot score; "
                f"known tasks: {', '.join(TASKS)}"
            )
        if TASKS[task].answer_kind == "text":
            raise DataError(
                f"{where}: record {record.get('id')!r} has task {task!r}, whose answers are free text; "
                "livr eval scores option letters, counts and plans (free text: "
                "livr.evaluation.benchmarks.text_match)"
            )


BENCHMARKS = ("vstar", "mmvp", "mirage_vsp")
LOCAL_ONLY = ("mirage_vsp",)  # no hub copy: the source must be a folder


def _benchmark_source(data: str) -> tuple[str, str] | None:
    """(benchmark, source) for `vstar[:SOURCE]` / `mmvp[:SOURCE]` / `mirage_vsp:PATH`, or None."""
    name, _, source = data.partition(":")
    if name in BENCHMARKS:
        if name in LOCAL_ONLY and not source:
            raise DataError(f"{name} needs a local copy: --data {name}:PATH")
        return name, source or "hub"
    return None


def _from_benchmark(name: str, source: str, split: str, tasks: list[str] | None,
                    limit: int | None) -> list[dict]:
    from livr.data.build.mirage_vsp import load_mirage_vsp
    from livr.data.build.mmvp import load_mmvp
    from livr.data.build.vstar import load_vstar
    from livr.data.validate import check_record

    if name == "mirage_vsp":
        records = load_mirage_vsp(source, split)
    elif split not in ("test", "val", "validation"):
        raise DataError(f"{name} is a test set only; got --split {split}")
    else:
        records = (load_vstar if name == "vstar" else load_mmvp)(source)
    if tasks is not None:
        present = {r["task"] for r in records}
        missing = [t for t in tasks if t not in present]
        if missing:
            raise DataError(f"{name} has no records of task(s) {', '.join(missing)} "
                            f"(it has {', '.join(sorted(present))})")
        records = [r for r in records if r["task"] in tasks]
    for record in records:
        check_record(record, f"{name} record {record['id']!r}")
    return _per_task_limit(records, limit)


def _per_task_limit(records: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    if limit is None:
        return records
    seen: dict[str, int] = {}
    kept = []
    for record in records:
        n = seen.get(record["task"], 0)
        if n < limit:
            kept.append(record)
            seen[record["task"]] = n + 1
    return kept


def _from_blink(source: str, split: str, tasks: list[str] | None, limit: int | None) -> list[dict]:
    from livr.data.build.blink import load_blink

    if split not in ("test", "val", "validation"):
        raise DataError(f"BLINK has answers only for its val split (livr's test set); got --split {split}")
    if tasks is None:
        tasks = [t.name for t in TASKS.values() if t.blink_config]
        if Path(source).is_dir():  # a local copy may hold only some configs
            tasks = [t for t in tasks if any((Path(source) / TASKS[t].blink_config).glob("val-*.parquet"))]
            if not tasks:
                raise DataError(f"{source} holds no BLINK config livr knows; pass --tasks")
    records: list[dict] = []
    for task in tasks:
        rows = load_blink(task, source, "val")
        records.extend(rows[:limit] if limit is not None else rows)
    return records


def _from_folder(data: str, split: str, tasks: list[str] | None, limit: int | None) -> list[dict]:
    from datasets.utils.logging import disable_progress_bar

    from livr.data.loading import load_split
    from livr.data.validate import decode_split

    disable_progress_bar()
    ds = load_split(data, split)
    if tasks is not None:
        present = set(ds["task"])
        missing = [t for t in tasks if t not in present]
        if missing:
            raise DataError(f"split {split!r} of {data} has no records of task(s) {', '.join(missing)} "
                            f"(it has {', '.join(sorted(present)) or 'none'})")
        wanted = set(tasks)
        ds = ds.filter(lambda t: t in wanted, input_columns="task", keep_in_memory=True)
    if limit is not None:
        # keep the first `limit` of each task without decoding the other images
        index = _per_task_limit([{"task": t, "i": i} for i, t in enumerate(ds["task"])], limit)
        ds = ds.select([r["i"] for r in index])
    return decode_split(ds, split, data)


def split_read(records: Sequence[dict], split: str) -> str:
    """The split the records were really read from: BLINK's own (`val`) for BLINK records, which
    livr evaluates as its test set, else `split` as given."""
    import json

    splits = {json.loads(r["metadata"] or "{}").get("blink_split") for r in records
              if r.get("source") == "blink"}
    return splits.pop() if len(splits) == 1 and None not in splits else split


def load_eval_records(data: str, split: str = "test", tasks: list[str] | None = None,
                      limit: int | None = None) -> list[dict[str, Any]]:
    """Records to evaluate; DataError when the source, split or a task is unusable."""
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    blink = _blink_source(str(data))
    benchmark = _benchmark_source(str(data)) if not Path(str(data)).exists() else None
    if blink is not None:
        records = _from_blink(blink, split, tasks, limit)
    elif benchmark is not None:
        records = _from_benchmark(*benchmark, split, tasks, limit)
    else:
        records = _from_folder(str(data), split, tasks, limit)
    check_tasks(records, f"split {split!r} of {data}")
    if not records:
        raise DataError(f"split {split!r} of {data} has no records to evaluate")
    return records
