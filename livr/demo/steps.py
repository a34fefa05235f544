"""The steps of `livr demo`, what each one writes, and how a finished one is recognised.

A step writes one output (a folder, written atomically by the tool it calls) and has a small
*stamp*, OUT/steps/<key>.json, holding the settings that determine its result (nested: a
training's settings include its data's settings) and, once it finished, how long it took.
The stamp is written before the step starts, so an output without a stamp was not made by the
demo.

On every call, before any work, each step is classified:

    done      the stamp's settings equal today's and the output's marker file exists: reused
    todo      no stamp and no output, or the same settings but no marker (interrupted or
              deleted): run it (a training continues from its last checkpoint)
    conflict  the stamp holds other settings, or the output exists without a stamp: an error
              listing them, unless --overwrite, which redoes exactly these steps

A step whose input was rebuilt in this call (a dependency that ran) is redone as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from livr.io import atomic_write_json, discard

STEPS_DIR = "steps"


@dataclass
class Step:
    key: str  # file name of the stamp, e.g. train-livr-counting-seed42
    label: str  # what the progress line says: "train livr on counting (seed 42)"
    output: Path  # the folder (or file) the step writes
    markers: tuple[str, ...]  # files whose presence means the output is complete
    settings: dict[str, Any]  # what determines the result
    action: Callable[["Step", bool], None]  # action(step, fresh): fresh = discard any old output
    deps: tuple[str, ...] = ()  # keys of the steps whose outputs this one reads
    state: str = "todo"  # done | todo | conflict (see the module docstring)
    reason: str = ""  # why a conflict
    info: dict[str, Any] = field(default_factory=dict)  # anything the action needs
    cost: float = 0.0  # rough work estimate; with several jobs, only the order of steps uses it

    def marker_paths(self) -> list[Path]:
        return [self.output / m if m else self.output for m in self.markers]

    def complete(self) -> bool:
        return all(p.is_file() for p in self.marker_paths())


def _normal(value: Any) -> Any:
    """JSON round trip, so tuples and lists (and int/float keys) compare as they are stored."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'key: old -> new' for every setting that differs (dotted keys for nested settings)."""
    a, b = _flat(_normal(old)), _flat(_normal(new))
    return [f"{k}: {a.get(k, '(unset)')!r} -> {b.get(k, '(unset)')!r}"
            for k in sorted(set(a) | set(b)) if a.get(k, "(unset)") != b.get(k, "(unset)")]


class Stamps:
    """OUT/steps/<key>.json: the settings of each step and, once it finished, its seconds."""

    def __init__(self, out: Path):
        self.folder = out / STEPS_DIR

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def read(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def begin(self, step: Step) -> None:
        atomic_write_json(self.path(step.key), {"step": step.label, "output": str(step.output),
                                                "settings": _normal(step.settings), "seconds": None})

    def finish(self, step: Step, seconds: float) -> None:
        atomic_write_json(self.path(step.key), {"step": step.label, "output": str(step.output),
                                                "settings": _normal(step.settings),
                                                "seconds": round(seconds, 2)})

    def seconds(self, key: str) -> float | None:
        data = self.read(key) or {}
        value = data.get("seconds")
        return float(value) if isinstance(value, (int, float)) else None


def classify(step: Step, stamps: Stamps) -> None:
    """Set `step.state` (and `step.reason` for a conflict) from its stamp and output."""
    stamp = stamps.read(step.key)
    exists = step.output.exists()
    if stamp is None:
        if exists:
            step.state, step.reason = "conflict", (f"{step.output} exists but has no record in "
                                                   f"{stamps.path(step.key)}, so its settings are unknown")
        else:
            step.state = "todo"
        return
    diffs = differences(stamp.get("settings", {}), step.settings)
    if diffs:
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        step.state, step.reason = "conflict", f"{step.output} was made with other settings ({shown})"
    else:
        step.state = "done" if step.complete() else "todo"


def priorities(steps: list[Step]) -> dict[str, float]:
    """Each step's cost plus the largest priority among the steps that read its output: the work
    still ahead on its longest chain. Starting the ready step with the highest priority first
    (list scheduling on the critical path) keeps the last long step from running alone at the end,
    when the other job has nothing left to do. `steps` must be in plan order (deps first)."""
    out: dict[str, float] = {}
    readers: dict[str, list[str]] = {}
    for step in steps:
        for dep in step.deps:
            readers.setdefault(dep, []).append(step.key)
    for step in reversed(steps):
        out[step.key] = step.cost + max((out[r] for r in readers.get(step.key, ())), default=0.0)
    return out


def remove(path: Path) -> None:
    """Delete an old output (a folder or a file) before redoing its step: renamed out of the way
    first (`livr.io.discard`), so that a kill while deleting never leaves a half-deleted output
    whose marker file still says "complete"."""
    discard(path)
