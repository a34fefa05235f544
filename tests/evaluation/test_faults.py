"""`livr eval` killed with SIGKILL mid-way: it leaves nothing under --out (so the same command is
not refused afterwards), and the same command run again writes the report of an uninterrupted run
(and removes the killed writer's temporary folder). On a full disk (a file-size limit) it ends with
one line naming the folder and the cause, and the previous report stays as it was."""

from __future__ import annotations

import json

import pytest

from livr.cli.main import main
from livr.locks import is_lock_file
from tests.faults import run_killed, run_limited

VOLATILE = ("date", "seconds", "examples_per_second")  # the wall clock; everything else must match

KILL_POINTS = {  # (function, which call, counting only calls whose first argument contains ...)
    # after the first of three generation batches (6 records, --batch-size 2)
    "generating": ("livr.data.collator:Collator.pad", 2, None),
    # mid-write: predictions.jsonl written, eval.json not yet
    "writing": ("pathlib:Path.write_text", 1, "eval.json"),
}


def _entries(parent):
    """What is in `parent`, less the lock files beside its outputs."""
    return sorted(p for p in parent.iterdir() if not is_lock_file(p.name)) if parent.exists() else []


def _report(out):
    report = json.loads((out / "eval.json").read_text())
    return {k: v for k, v in report.items() if k not in VOLATILE}, (out / "predictions.jsonl").read_bytes()


@pytest.fixture(scope="module")
def reference(livr_run, eval_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "eval"
    assert main(["eval", "--model", str(livr_run), "--data", eval_data, "--batch-size", "2", "--quiet",
                 "--out", str(out)]) == 0
    return _report(out)


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_eval_killed_then_rerun_gives_the_same_report(point, reference, livr_run, eval_data, tmp_path):
    parent = tmp_path / "evals"
    out = parent / "eval"
    argv = ["eval", "--model", str(livr_run), "--data", eval_data, "--batch-size", "2", "--quiet",
            "--out", str(out)]
    stall, call, match = KILL_POINTS[point]
    run_killed(argv, tmp_path / "child", stall=stall, call=call, match=match, preload=("torch", "transformers"))
    assert not out.exists()
    leftovers = _entries(parent)
    if point == "writing":  # the partial folder has a hidden temporary name only
        [tmp] = leftovers
        assert tmp.name.startswith(".eval.tmp-") and sorted(p.name for p in tmp.iterdir()) == ["predictions.jsonl"]
    else:
        assert leftovers == []

    assert main(argv) == 0  # the same command: not refused, since --out does not exist
    assert _report(out) == reference
    assert _entries(parent) == [out]


def test_eval_on_a_full_disk_keeps_the_previous_report(reference, livr_run, eval_data, tmp_path):
    out = tmp_path / "evals" / "eval"
    argv = ["eval", "--model", str(livr_run), "--data", eval_data, "--batch-size", "2", "--quiet",
            "--out", str(out)]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # --overwrite: predictions.jsonl (about 700 bytes) is over the limit
    status, err = run_limited([*argv, "--overwrite"], 300, preload=("torch", "transformers"))
    assert status == 1, err
    line = err.strip().splitlines()[-1]  # one line, after any library warning; no traceback
    assert "Traceback" not in err, err
    assert line.startswith(f"livr eval: error: cannot write {out}"), line
    assert "File too large" in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and _report(out) == reference
    assert _entries(out.parent) == [out]


# `livr probe` and `livr export`, killed mid-way then run again: the outputs of an uninterrupted
# run (every file's bytes; the wall-clock fields of the JSON files aside), and no temporary left.

def _tree(out):
    """{relative path: content} of every file under `out`, JSON files less their VOLATILE fields."""
    tree = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            tree[str(path.relative_to(out))] = {k: v for k, v in doc.items() if k not in VOLATILE} \
                if isinstance(doc, dict) else doc
        else:
            tree[str(path.relative_to(out))] = path.read_bytes()
    return tree


def _probe_argv(livr_run, eval_data, out):
    return ["probe", str(livr_run), eval_data, "--batch-size", "2", "--quiet", "--out", str(out)]


def _export_argv(livr_run, _eval_data, out):
    return ["export", str(livr_run), "--merge", "--out", str(out)]


OTHER_COMMANDS = {  # name: (argv builder, {kill point: (function, which call, match)})
    "probe": (_probe_argv, {
        # the second of four probes, mid-generation
        "generating": ("livr.data.collator:Collator.pad", 4, None),
        # mid-write: the four probe folders written, probe.json not yet
        "writing": ("pathlib:Path.write_text", 1, "probe.json"),
    }),
    "export": (_export_argv, {
        # mid-write: weights and processor written, livr_export.json not yet
        "writing": ("pathlib:Path.write_text", 1, "livr_export.json"),
    }),
}
OTHER_CASES = [(command, point) for command, (_, points) in OTHER_COMMANDS.items() for point in points]


@pytest.fixture(scope="module")
def other_references(livr_run, eval_data, tmp_path_factory):
    refs = {}
    for command, (argv, _) in OTHER_COMMANDS.items():
        out = tmp_path_factory.mktemp("reference") / command
        assert main(argv(livr_run, eval_data, out)) == 0
        refs[command] = _tree(out)
    return refs


@pytest.mark.parametrize("command,point", OTHER_CASES)
def test_probe_and_export_killed_then_rerun_give_the_same_files(command, point, other_references, livr_run,
                                                                eval_data, tmp_path):
    build, points = OTHER_COMMANDS[command]
    parent = tmp_path / "outs"
    out = parent / command
    argv = build(livr_run, eval_data, out)
    stall, call, match = points[point]
    run_killed(argv, tmp_path / "child", stall=stall, call=call, match=match, preload=("torch", "transformers"))
    assert not out.exists()
    leftovers = _entries(parent)
    if point == "writing":  # the partial folder has a hidden temporary name only
        [tmp] = leftovers
        assert tmp.name.startswith(f".{command}.tmp-") and any(tmp.iterdir())
    else:
        assert leftovers == []

    assert main(argv) == 0
    assert _tree(out) == other_references[command]
    assert _entries(parent) == [out]
