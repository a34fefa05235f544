"""The package is layered in rooms: a module imports only from its own room or rooms below it, so
that, e.g., training and evaluation never import each other (both stand on methods, runs and
inference). Every import statement of every livr module is read (function-level ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIVR = Path(__file__).resolve().parent.parent / "livr"

# Lowest first; rooms in one tuple are peers and may not import each other.
ROOMS = [
    ("base",),  # livr/__init__.py, livr/errors.py, livr/io.py, livr/locks.py
    ("data",),
    ("models",),
    ("methods",),
    ("runs",),
    ("inference",),
    ("training", "evaluation", "pretrain"),
    ("analysis",),
    ("demo",),
    ("cli",),
]
RANK = {room: i for i, rooms in enumerate(ROOMS) for room in rooms}

# (importing module, imported module): imports that go up a room, each with its reason.
EXCEPTIONS = {
    # The collator tags every token with its segment and checks the batch's mask policy
    # (`livr.models.segments`, `livr.models.masks`): examples are encoded for the model's layout.
    ("livr.data.collator", "livr.models.segments"): "examples carry the model's segment ids",
    ("livr.data.collator", "livr.models.masks"): "the collator checks the batch's mask policy",
    # The backbone loader resolves `tiny:livr` to the checkpoint that `livr pretrain` installs.
    ("livr.models.loading", "livr.pretrain.base"): "tiny:livr is the pretrained livr-tiny asset",
}


def room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("errors", "io", "locks"):
        return "base"
    return parts[1]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(LIVR.rglob("*.py")):
        parts = path.relative_to(LIVR.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "livr")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "livr":
                out.add(node.module)
    return out


def violations() -> list[str]:
    found = []
    for name, path in modules().items():
        own = room(name)
        for target in sorted(imports(path)):
            other = room(target)
            if other == own or RANK[other] < RANK[own]:
                continue
            if (name, target) in EXCEPTIONS:
                continue
            found.append(f"{name} ({own}) imports {target} ({other})")
    return found


def test_every_room_is_known():
    unknown = {room(name) for name in modules()} - set(RANK)
    assert not unknown, f"livr rooms missing from ROOMS in {__file__}: {sorted(unknown)}"


def test_modules_import_only_their_room_or_rooms_below():
    found = violations()
    assert not found, "imports against the room order:\n" + "\n".join(found)


def test_the_exceptions_are_still_needed():
    used = {(name, target) for name, path in modules().items() for target in imports(path)}
    stale = [pair for pair in EXCEPTIONS if pair not in used]
    assert not stale, f"exceptions no longer needed (remove them from EXCEPTIONS): {stale}"


@pytest.mark.parametrize("a,b", [("training", "evaluation"), ("evaluation", "training")])
def test_training_and_evaluation_do_not_import_each_other(a, b):
    found = [f"{n} imports {t}" for n, p in modules().items() if room(n) == a
             for t in imports(p) if room(t) == b]
    assert not found, "\n".join(found)


def test_the_checker_sees_an_import_against_the_order(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from livr.evaluation.models import load_eval_model\n")
    assert imports(path) == {"livr.evaluation.models"}
    assert RANK[room("livr.evaluation.models")] == RANK[room("livr.training.run")]
