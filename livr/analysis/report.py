"""Results tables in the layout of the paper's Table 1, from finished runs and `livr eval` folders.

    from livr.analysis.report import write_report
    write_report(["runs/jigsaw-sft", "runs/jigsaw-livr", "evals/zero-shot"], "report.md")
    # -> report.md (markdown) and report.json (the same table, structured) beside it

Inputs, any mix:
- a finished training run folder (metrics.json, written last, and config.yaml): its test accuracy
  per task, its seed from config.yaml, probe "none";
- a `livr eval` folder or its eval.json: accuracy per task of one model, method and probe;
- a `livr probe` folder or its probe.json: the eval folder of each probe in it.

The table:
- Columns: the tasks present, in the order of `livr.data.tasks.TASK_NAMES` (task names livr does
  not know come after them), then Mean.
- Random Choice first: per task, the mean of the `random_per_task` values of the evals that give
  one; otherwise chance, 1/num_choices for a multiple-choice task and 1/9 for counting (counts
  2..10, the paper's 11.11); blank for vsp and unknown tasks.
- Then one block per base model, in the order the inputs first name it: Zero-shot, Direct SFT,
  LIVR, "Δ vs SFT" (LIVR minus Direct SFT), the ablations (Latents only, Mask only, Image twice,
  Prompt tuning), methods livr does not know; then the same for runs trained on several tasks at
  once (rows labelled "(multi-task)", the paper's Table 2 setting); then evals with a probe other
  than "none", one row per method and probe ("LIVR (probe: remove_latents)").
- A row gathers every input with its base model, method, probe and setting: single-task runs of
  different tasks fill different columns of one row, as in the paper; inputs with different seeds
  for one task make one cell: mean ± sample standard deviation (ddof=1) over n seeds.
- Mean: the mean of the row's task cells. Its ± is the standard deviation over seeds of the
  per-seed row means, given only when every cell of the row has the same (two or more) seeds. A
  row that lacks some of the table's tasks has its Mean over the tasks it has, marked †; a Δ
  row's Mean is the mean of its per-task differences (the tasks both rows have).
- Markdown shows percentages with 2 decimals; the JSON holds fractions in [0, 1].

Two inputs with the same base model, method, probe, setting, task and seed are an error naming
both (keep one). Inputs on different splits are an error too: a table compares one split.
"""

from __future__ import annotations

import collections
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from livr.data.tasks import TASK_NAMES, TASKS
from livr.errors import ConfigError
from livr.io import atomic_write_json, atomic_write_text
from livr.runs.config import read_yaml
from livr.runs.folder import CONFIG_FILE, METRICS_FILE, PREDICTIONS_FILE

EVAL_FILE = "eval.json"
PROBE_FILE = "probe.json"  # `livr probe` writes OUT/probe.json and one eval folder per probe
REPORT_VERSION = 1
NO_PROBE = "none"
COUNTING_CHOICES = 9  # counts 2..10: the paper's random-choice 11.11 on counting

TASK_LABELS = {
    "counting": "Counting",
    "jigsaw": "Jigsaw",
    "localization": "Local.",
    "visual_correspondence": "Vis. Corr.",
    "art_style": "Art Style",
    "semantic_correspondence": "Sem. Corr.",
    "functional_correspondence": "Func. Corr.",
    "relative_reflectance": "Rel. Refl.",
    "visual_similarity": "Vis. Sim.",
    "vsp": "VSP",
}
METHOD_LABELS = {
    "zero_shot": "Zero-shot",
    "sft": "Direct SFT",
    "livr": "LIVR",
    "latents_only": "Latents only",
    "mask_only": "Mask only",
    "image_twice": "Image twice",
    "prompt_tuning": "Prompt tuning",
    "lvr": "LVR",
}
PROBE_ORDER = (NO_PROBE, "remove_latents", "bottleneck", "bottleneck_remove_latents")
RANDOM_LABEL = "Random Choice"
DELTA_LABEL = "Δ vs SFT"
EXPECTED = ("a finished run folder (with metrics.json), a livr eval folder (with eval.json) or a "
            "livr probe folder (with probe.json)")


@dataclass
class Result:
    """One input: accuracy per task of one model (method, base model, seed) under one probe."""

    source: Path  # the run folder, or the eval.json file
    kind: str  # "run" or "eval"
    method: str
    base_model: str
    seed: int | None
    per_task: dict[str, float]  # accuracy in [0, 1]
    per_task_n: dict[str, int] = field(default_factory=dict)  # test examples per task, where known
    probe: str = NO_PROBE
    multi_task: bool = False  # trained on several tasks at once (the paper's Table 2 setting)
    split: str = "test"
    random_per_task: dict[str, float] = field(default_factory=dict)  # evals only
    steps: int | None = None  # LVR: the latent-step budget at test time (a column of its own)

    @property
    def row_key(self) -> tuple[str, str, str, bool, int | None]:
        return (self.base_model, self.method, self.probe, self.multi_task, self.steps)


# ----------------------------------------------------------------------------- reading inputs


def collect(paths: Iterable[str | Path]) -> list[Result]:
    """Read every input (run, eval and probe folders, their json files); the same input twice counts once."""
    results: list[Result] = []
    seen: set[Path] = set()
    for path in paths:
        for result in load_results(path):
            if result.source.resolve() not in seen:
                seen.add(result.source.resolve())
                results.append(result)
    if not results:
        raise ConfigError(f"no inputs: give {EXPECTED}, one or more")
    _check_splits(results)
    _check_conflicts(results)
    return results


def load_results(path: str | Path) -> list[Result]:
    """The results in one input, with a ConfigError naming `path` and what was expected when it is
    none of the kinds: one for a run or eval, one per probe for a probe folder."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} does not exist; expected {EXPECTED}")
    if path.is_file():
        if path.name == METRICS_FILE:
            return [_load_run(path.parent)]
        if path.name == PROBE_FILE:
            return _load_probes(path.parent)
        if path.suffix == ".json":
            return [_load_eval(path)]
        raise ConfigError(f"{path} is a file but not a .json file; expected {EXPECTED}")
    found = [name for name in (METRICS_FILE, EVAL_FILE, PROBE_FILE) if (path / name).is_file()]
    if len(found) > 1:
        raise ConfigError(f"{path} holds {' and '.join(found)}; pass "
                          f"{' or '.join(str(path / n) for n in found)} to say which one to report")
    if found == [EVAL_FILE]:
        return [_load_eval(path / EVAL_FILE)]
    if found == [METRICS_FILE]:
        return [_load_run(path)]
    if found == [PROBE_FILE]:
        return _load_probes(path)
    if (path / CONFIG_FILE).is_file():
        raise ConfigError(f"{path} is an unfinished run (no {METRICS_FILE} yet); finish it with "
                          f"`livr train --resume --out {path}` or leave it out of the report")
    raise ConfigError(f"{path} is neither a finished run folder ({METRICS_FILE}) nor a livr eval "
                      f"folder ({EVAL_FILE}); pass each run or eval folder itself (e.g. runs/*)")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path} cannot be read as JSON ({err}); expected {EXPECTED}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds a JSON {type(data).__name__}, not an object; expected {EXPECTED}")
    return data


def _text(value: Any, name: str, where: Path) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {name} must be a non-empty string, got {value!r}")
    return value


def _seed(value: Any, where: Path) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ConfigError(f"{where}: seed must be an integer or null, got {value!r}")


def _fractions(value: Any, name: str, where: Path, required: bool = True) -> dict[str, float]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or (required and not value):
        raise ConfigError(f"{where}: {name} must be a non-empty mapping of task: accuracy, got {value!r}")
    out = {}
    for task, acc in value.items():
        if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not 0 <= acc <= 1:
            raise ConfigError(f"{where}: {name}[{task!r}] must be an accuracy in [0, 1], got {acc!r}")
        out[str(task)] = float(acc)
    return out


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(t): n for t, n in value.items() if isinstance(n, int) and not isinstance(n, bool)}


def _load_run(run: Path) -> Result:
    metrics = _read_json(run / METRICS_FILE)
    if not (run / CONFIG_FILE).is_file():
        raise ConfigError(f"run {run} has {METRICS_FILE} but no {CONFIG_FILE}; it is not a complete livr run folder")
    config = read_yaml(run / CONFIG_FILE)
    if metrics.get("test_accuracy") is None:
        raise ConfigError(f"run {run} has no test accuracy (its data had no test split), so it cannot "
                          "be in the table; evaluate it with `livr eval` on a test split and pass the "
                          "eval folder instead")
    where = run / METRICS_FILE
    tasks = metrics.get("tasks") or []
    per_task = metrics.get("test_accuracy_per_task")
    if per_task is None and len(tasks) == 1:
        per_task = {tasks[0]: metrics["test_accuracy"]}
    return Result(
        source=run,
        kind="run",
        method=_text(metrics.get("method", config.get("method")), "method", where),
        base_model=_text(metrics.get("model", config.get("model")), "model", where),
        seed=_seed(config.get("seed"), run / CONFIG_FILE),
        per_task=_fractions(per_task, "test_accuracy_per_task", where),
        per_task_n=_run_counts(run, metrics, tasks),
        multi_task=len(tasks) > 1,
        steps=_steps(config.get("lvr_steps")) if metrics.get("method", config.get("method")) == "lvr" else None,
    )


def _steps(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _run_counts(run: Path, metrics: dict[str, Any], tasks: list[str]) -> dict[str, int]:
    """Test examples per task: from test_predictions.json, else num_examples of a single-task run."""
    path = run / PREDICTIONS_FILE
    if path.is_file():
        try:
            rows = json.loads(path.read_text())
            return dict(collections.Counter(str(row["task"]) for row in rows))
        except (OSError, ValueError, TypeError, KeyError):
            pass  # the counts are a courtesy: the accuracies come from metrics.json
    n = (metrics.get("num_examples") or {}).get("test")
    return {tasks[0]: n} if len(tasks) == 1 and isinstance(n, int) else {}


def _load_probes(folder: Path) -> list[Result]:
    """A `livr probe` folder: the eval folder of each probe listed in its probe.json."""
    names = _read_json(folder / PROBE_FILE).get("probes")
    if not isinstance(names, dict) or not names:
        raise ConfigError(f"{folder / PROBE_FILE} lists no probes; expected the probe.json of `livr probe`")
    missing = [str(folder / n / EVAL_FILE) for n in names if not (folder / n / EVAL_FILE).is_file()]
    if missing:
        raise ConfigError(f"probe folder {folder} lacks {', '.join(missing)}; run `livr probe` again")
    return [_load_eval(folder / n / EVAL_FILE) for n in names]


def _load_eval(path: Path) -> Result:
    data = _read_json(path)
    if "livr_eval" not in data:
        raise ConfigError(f"{path} is not a livr eval file (it has no livr_eval key); expected {EXPECTED}")
    method = _text(data.get("method"), "method", path)
    train_tasks = data.get("train_tasks")
    return Result(
        source=path,
        kind="eval",
        method=method,
        base_model=_text(data.get("base_model") or data.get("model"), "base_model", path),
        seed=_seed(data.get("seed"), path),
        per_task=_fractions(data.get("per_task"), "per_task", path),
        per_task_n=_counts(data.get("per_task_n")),
        probe=_text(data.get("probe") or NO_PROBE, "probe", path),
        # optional: the tasks the evaluated model was trained on, where eval.json records them
        multi_task=method != "zero_shot" and isinstance(train_tasks, list) and len(train_tasks) > 1,
        split=_text(data.get("split") or "test", "split", path),
        random_per_task=_fractions(data.get("random_per_task"), "random_per_task", path, required=False),
        steps=_steps(data.get("lvr_steps")),
    )


def _check_splits(results: list[Result]) -> None:
    by_split: dict[str, Result] = {}
    for r in results:
        by_split.setdefault(r.split, r)
    if len(by_split) > 1:
        listed = ", ".join(f"{s} ({r.source})" for s, r in by_split.items())
        raise ConfigError(f"the inputs are on different splits: {listed}; a table compares one split, "
                          "so report each split separately")


def _check_conflicts(results: list[Result]) -> None:
    owners: dict[tuple, Result] = {}
    for r in results:
        for task in r.per_task:
            key = (*r.row_key, task, r.seed)
            if key in owners:
                raise ConfigError(
                    f"{owners[key].source} and {r.source} both give {row_label(r.method, r.probe, r.multi_task)} "
                    f"on {task} for {r.base_model} with seed {r.seed}; keep only one of them")
            owners[key] = r


# ----------------------------------------------------------------------------- the table


def row_label(method: str, probe: str = NO_PROBE, multi_task: bool = False) -> str:
    extras = (["multi-task"] if multi_task else []) + ([f"probe: {probe}"] if probe != NO_PROBE else [])
    label = METHOD_LABELS.get(method, method)
    return f"{label} ({', '.join(extras)})" if extras else label


def chance(task: str) -> float | None:
    """Accuracy of a uniform random answer, where the task's answer space is known."""
    info = TASKS.get(task)
    if info is None:
        return None
    if info.answer_kind == "choice" and info.num_choices:
        return 1 / info.num_choices
    if info.answer_kind == "count":
        return 1 / COUNTING_CHOICES
    return None


def _ordered_tasks(results: list[Result]) -> list[str]:
    present = {t for r in results for t in r.per_task}
    return [t for t in TASK_NAMES if t in present] + sorted(present - set(TASK_NAMES))


def _rank(value: str, order: Iterable[str]) -> tuple[int, str]:
    order = list(order)
    return (order.index(value), "") if value in order else (len(order), value)


def _row_sort_key(key: tuple[str, str, str, bool, int | None]) -> tuple:
    _, method, probe, multi_task, steps = key
    return (probe != NO_PROBE, multi_task, _rank(method, METHOD_LABELS), _rank(probe, PROBE_ORDER),
            -1 if steps is None else steps)


def _mean_cell(cells: dict[str, dict[str, Any]], tasks: list[str]) -> dict[str, Any] | None:
    if not cells:
        return None
    mean = statistics.fmean(c["mean"] for c in cells.values())
    cell: dict[str, Any] = {"mean": mean, "std": None, "n": None, "tasks": len(cells),
                            "complete": len(cells) == len(tasks)}
    seed_lists = {tuple(c.get("seeds", ())) for c in cells.values()}
    if len(seed_lists) == 1:
        (seeds,) = seed_lists
        cell["n"] = len(seeds) or None
        if len(seeds) >= 2:
            # every cell has the same seeds: the spread of the per-seed row means
            per_seed = [statistics.fmean(c["values"][i] for c in cells.values()) for i in range(len(seeds))]
            cell["std"] = statistics.stdev(per_seed)
    return cell


def seed_cells(results: list[Result], tasks: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """(cell per task: mean ± std over the results' seeds; the mean over tasks, its std the spread
    of the per-seed means) of one row of results of the same method."""
    cells: dict[str, dict[str, Any]] = {}
    for task in tasks:
        given = sorted((r for r in results if task in r.per_task),
                       key=lambda r: (r.seed is not None, r.seed or 0))
        if not given:
            continue
        values = [r.per_task[task] for r in given]
        cells[task] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) >= 2 else None,
            "n": len(values),
            "seeds": [r.seed for r in given],
            "values": values,
            "examples": [r.per_task_n.get(task) for r in given],
            "sources": [str(r.source) for r in given],
        }
    return cells, _mean_cell(cells, tasks)


def _method_row(key: tuple[str, str, str, bool, int | None], results: list[Result],
                tasks: list[str]) -> dict[str, Any]:
    _, method, probe, multi_task, steps = key
    cells, mean = seed_cells(results, tasks)
    return {"kind": "method", "label": row_label(method, probe, multi_task), "method": method,
            "probe": probe, "multi_task": multi_task, "cells": cells, "mean": mean, "steps": steps}


def _delta_row(ours: dict[str, Any], sft: dict[str, Any], tasks: list[str]) -> dict[str, Any]:
    cells = {t: {"mean": ours["cells"][t]["mean"] - sft["cells"][t]["mean"]}
             for t in tasks if t in ours["cells"] and t in sft["cells"]}
    mean = None
    if cells:
        mean = {"mean": statistics.fmean(c["mean"] for c in cells.values()), "tasks": len(cells),
                "complete": len(cells) == len(tasks)}
    return {"kind": "delta", "label": DELTA_LABEL, "method": ours["method"], "against": sft["method"],
            "probe": NO_PROBE, "multi_task": ours["multi_task"], "cells": cells, "mean": mean}


def _with_deltas(rows: list[dict[str, Any]], tasks: list[str]) -> list[dict[str, Any]]:
    """Put a Δ vs SFT row under each LIVR row (no probe) that has a Direct SFT row of its setting."""
    sft = {r["multi_task"]: r for r in rows if r["method"] == "sft" and r["probe"] == NO_PROBE}
    out = []
    for row in rows:
        out.append(row)
        if row["method"] == "livr" and row["probe"] == NO_PROBE and row["multi_task"] in sft:
            out.append(_delta_row(row, sft[row["multi_task"]], tasks))
    return out


def _random_row(results: list[Result], tasks: list[str]) -> dict[str, Any]:
    cells: dict[str, dict[str, Any]] = {}
    for task in tasks:
        given = [r for r in results if task in r.random_per_task]
        if given:
            cells[task] = {"mean": statistics.fmean(r.random_per_task[task] for r in given),
                           "from": "eval", "sources": [str(r.source) for r in given]}
        elif chance(task) is not None:
            cells[task] = {"mean": chance(task), "from": "chance", "sources": []}
    return {"kind": "random", "label": RANDOM_LABEL, "method": "random", "probe": NO_PROBE,
            "multi_task": False, "cells": cells, "mean": _mean_cell(cells, tasks)}


def _input_entry(r: Result) -> dict[str, Any]:
    return {"path": str(r.source), "kind": r.kind, "method": r.method, "base_model": r.base_model,
            "seed": r.seed, "probe": r.probe, "multi_task": r.multi_task, "split": r.split,
            "per_task": r.per_task, "per_task_n": r.per_task_n, "steps": r.steps}


def build_table(results: list[Result]) -> dict[str, Any]:
    """The table as a JSON-ready dict: tasks, the Random Choice row, one block of rows per base model."""
    if not results:
        raise ConfigError(f"no inputs: give {EXPECTED}, one or more")
    tasks = _ordered_tasks(results)
    groups: dict[str, dict[tuple, list[Result]]] = {}
    for r in results:
        groups.setdefault(r.base_model, {}).setdefault(r.row_key, []).append(r)
    blocks = []
    for base_model, rows in groups.items():
        ordered = [_method_row(key, rows[key], tasks) for key in sorted(rows, key=_row_sort_key)]
        blocks.append({"base_model": base_model, "rows": _with_deltas(ordered, tasks)})
    return {
        "livr_report": REPORT_VERSION,
        "values": "accuracy as a fraction in [0, 1]; a delta row holds differences of fractions",
        "split": results[0].split,
        "tasks": tasks,
        "task_labels": {t: TASK_LABELS.get(t, t) for t in tasks},
        "random": _random_row(results, tasks),
        "blocks": blocks,
        "inputs": [_input_entry(r) for r in results],
    }


# ----------------------------------------------------------------------------- markdown


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _signed(value: float) -> str:
    text = f"{100 * value:+.2f}"
    return "+0.00" if text == "-0.00" else text


def format_cell(cell: dict[str, Any] | None, kind: str, is_mean: bool = False) -> str:
    if cell is None:
        return "–"
    dagger = "†" if is_mean and not cell.get("complete", True) else ""
    if kind == "delta":
        return f"({_signed(cell['mean'])}){dagger}"
    text = _pct(cell["mean"]) + dagger
    if cell.get("std") is not None:
        text += f" ± {_pct(cell['std'])} (n={cell['n']})"
    return text


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_row(row: dict[str, Any], tasks: list[str], steps_column: bool = False) -> str:
    ours = row["kind"] == "method" and row["method"] == "livr" and row["probe"] == NO_PROBE
    label = f"**{row['label']}**" if ours else row["label"]
    cells = [format_cell(row["cells"].get(t), row["kind"]) for t in tasks]
    cells.append(format_cell(row["mean"], row["kind"], is_mean=True))
    if steps_column:
        cells.append("" if row.get("steps") is None else str(row["steps"]))
    return "| " + " | ".join([_escape(label), *cells]) + " |"


def _all_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [table["random"], *(row for block in table["blocks"] for row in block["rows"])]


def _notes(table: dict[str, Any]) -> list[str]:
    rows = _all_rows(table)
    random_cells = table["random"]["cells"]
    froms = {c["from"] for c in random_cells.values()}
    source = {frozenset({"eval"}): "the evals' random_per_task",
              frozenset({"chance"}): "chance: 1/choices, 1/9 for counting (counts 2..10)"}.get(
        frozenset(froms), "the evals' random_per_task where given, else chance (1/choices, 1/9 for counting)")
    notes = [f"{RANDOM_LABEL}: {source}; blank (–) where the answer space is open (vsp)."
             if len(random_cells) < len(table["tasks"]) else f"{RANDOM_LABEL}: {source}."]
    cells = [c for row in rows for c in [*row["cells"].values(), row["mean"]] if c]
    if any(c.get("std") is not None for c in cells):
        notes.append("a ± s (n=k): mean and sample standard deviation (ddof=1) over k seeds; a Mean's ± "
                     "is over the per-seed row means.")
    if any(row["mean"] and not row["mean"]["complete"] for row in rows):
        notes.append("†: Mean over the tasks this row has, not over every column.")
    if any(row["kind"] == "delta" for row in rows):
        notes.append(f"{DELTA_LABEL}: LIVR minus Direct SFT of the same base model, in points.")
    if any(row.get("steps") is not None for row in rows):
        notes.append("Steps: LVR's latent-step budget at test time (fixed exit); steps_0 removes the "
                     "latent steps.")
    if any(row["probe"] != NO_PROBE for row in rows):
        notes.append("probe rows: the model evaluated with latents removed and/or under the visual "
                     "bottleneck (`livr eval --probe`).")
    return notes


def to_markdown(table: dict[str, Any]) -> str:
    tasks = table["tasks"]
    steps_column = any(row.get("steps") is not None for row in _all_rows(table))
    header = ["Method", *(table["task_labels"][t] for t in tasks), "Mean"] + (["Steps"] if steps_column else [])
    width = len(tasks) + 1 + int(steps_column)
    lines = [
        "# Results",
        "",
        f"Accuracy (%) on the {table['split']} split, one block of rows per base model.",
        "",
        "| " + " | ".join(_escape(h) for h in header) + " |",
        "| --- |" + " ---: |" * width,
        _md_row(table["random"], tasks, steps_column),
    ]
    for block in table["blocks"]:
        lines.append(f"| *{_escape(block['base_model'])}* |" + " |" * width)
        lines.extend(_md_row(row, tasks, steps_column) for row in block["rows"])
    lines += ["", *(f"- {note}" for note in _notes(table)), "", "## Inputs", ""]
    for entry in table["inputs"]:
        tasks_text = ", ".join(f"{t} (n={entry['per_task_n'][t]})" if t in entry["per_task_n"] else t
                               for t in entry["per_task"])
        seed_text = "no seed" if entry["seed"] is None else f"seed {entry['seed']}"
        lines.append(f"- `{entry['path']}`: {row_label(entry['method'], entry['probe'], entry['multi_task'])}, "
                     f"{entry['base_model']}, {seed_text}; {tasks_text}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- writing


def report_paths(out: str | Path) -> tuple[Path, Path]:
    """(markdown, JSON) paths for `--out`: the JSON has the markdown file's name with .json."""
    out = Path(out)
    if out.suffix == ".json":
        raise ConfigError(f"--out {out} names the markdown file (e.g. report.md); the JSON is written "
                          "beside it with the same name and .json")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name such as {out / 'report.md'}")
    return out, out.with_suffix(".json")


def save(table: dict[str, Any], out: str | Path, markdown: str | None = None) -> tuple[Path, Path]:
    """Write the markdown to `out` and the JSON beside it (atomically); returns both paths."""
    md_path, json_path = report_paths(out)
    atomic_write_json(json_path, table)
    atomic_write_text(md_path, to_markdown(table) if markdown is None else markdown)
    return md_path, json_path


def write_report(paths: Iterable[str | Path], out: str | Path) -> Path:
    """Collect `paths`, build the table and write `out` (markdown) and its .json; returns `out`."""
    report_paths(out)  # a bad --out shows before any input is read
    md_path, _ = save(build_table(collect(paths)), out)
    return md_path
