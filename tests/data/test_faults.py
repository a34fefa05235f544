"""`livr data synth` killed with SIGKILL while it writes its folder: nothing complete-looking is
left under the final name (a previous complete folder stays as it was), the same command run
again writes the same bytes as an uninterrupted run and removes the killed writer's temporary.
On a full disk (a file-size limit) it ends with one line naming the folder and the cause, and the
previous folder stays intact and loadable. `livr data build` and `livr data dedup` (its cleaned
folder and its report), killed mid-write, behave the same way."""

from __future__ import annotations

import json

import pytest

from livr.cli.main import main
from livr.data.loading import load_data
from livr.locks import is_lock_file
from tests.faults import run_killed, run_limited, tree_digest

SYNTH = ["data", "synth", "--tasks", "localization,counting", "--train", "4", "--val", "2", "--test", "2",
         "--no-progress"]
# `DatasetDict.save_to_disk` writes dataset_dict.json, then one `Dataset.save_to_disk` per split
# (train, validation, test): stalled at the second, the train split is on disk and the rest is not.
MID_WRITE = "datasets.arrow_dataset:Dataset.save_to_disk"


def _entries(parent):
    """What is in `parent`, less the lock files beside its outputs."""
    return sorted(p for p in parent.iterdir() if not is_lock_file(p.name))


def test_synth_killed_mid_write_then_rerun_gives_the_same_bytes(tmp_path):
    reference = tmp_path / "reference"
    assert main([*SYNTH, "--out", str(reference)]) == 0
    expected = tree_digest(reference)

    parent = tmp_path / "data"
    out = parent / "mix"
    argv = [*SYNTH, "--out", str(out)]
    run_killed(argv, tmp_path / "child", stall=MID_WRITE, call=2)
    assert not out.exists()
    [partial] = _entries(parent)  # the killed writer's temporary folder: hidden, never loaded
    assert partial.name.startswith(".mix.tmp-")
    assert (partial / "train").is_dir() and not (partial / "test").exists()  # killed mid-write

    assert main(argv) == 0  # the same command again: --out does not exist, so it is not refused
    assert tree_digest(out) == expected
    assert _entries(parent) == [out]  # and the killed writer's temporary is gone

    # replacing it (--overwrite, another seed), killed mid-write: the old folder stays, intact
    run_killed([*SYNTH, "--seed", "1", "--overwrite", "--out", str(out)], tmp_path / "child",
               stall=MID_WRITE, call=2)
    assert tree_digest(out) == expected
    assert sorted(p.name for p in parent.iterdir() if not p.name.startswith(".")) == ["mix"]


def test_synth_on_a_full_disk_keeps_the_previous_folder(tmp_path):
    out = tmp_path / "data" / "mix"
    assert main([*SYNTH, "--out", str(out)]) == 0
    expected = tree_digest(out)
    # --overwrite with another seed; the first arrow file (about 30 kB) is over the limit
    status, err = run_limited([*SYNTH, "--seed", "1", "--overwrite", "--out", str(out)], 20_000)
    assert status == 1, err
    line = err.strip().splitlines()[-1]  # one line, after any library warning; no traceback
    assert "Traceback" not in err, err
    assert line.startswith(f"livr data: error: cannot write {out}: File too large"), line
    assert tree_digest(out) == expected and len(load_data(out)["train"]) == 8
    assert _entries(out.parent) == [out]  # no half-written folder, hidden or not


def _killed_then_rerun(argv, outs, reference, tmp_path, point, digest=tree_digest):
    """Kill `livr ARGV` at `point`, check that no output in `outs` exists or looks complete
    unless it is, run it again and compare every output with `reference` (a {name: digest})."""
    stall, call, match = point
    run_killed(argv, tmp_path / "child", stall=stall, call=call, match=match)
    for out in outs:  # nothing half-written carries a final name
        assert not out.exists() or digest(out) == reference[out.name]
    assert main(argv) == 0
    assert {out.name: digest(out) for out in outs} == reference
    for parent in {out.parent for out in outs}:
        assert not [p for p in _entries(parent) if p.name.startswith(".")]  # temporaries removed


def test_build_killed_mid_write_then_rerun_gives_the_same_bytes(tmp_path):
    from tests.data import fixtures as fx

    fx.write_artbench(tmp_path / "art")
    fx.write_blink(tmp_path / "blink", "Art_Style", n=3)
    build = ["data", "build", "--task", "art_style", "--source", str(tmp_path / "art"),
             "--blink", str(tmp_path / "blink"), "--train", "4", "--val", "2", "--seed", "3"]
    assert main([*build, "--out", str(tmp_path / "reference" / "art")]) == 0
    reference = {"art": tree_digest(tmp_path / "reference" / "art")}
    out = tmp_path / "data" / "art"
    _killed_then_rerun([*build, "--out", str(out)], [out], reference, tmp_path, (MID_WRITE, 2, None))
    assert not [p for p in _entries(out.parent) if p != out]


DEDUP_POINTS = {
    # mid-write of the cleaned folder (its second split)
    "data": (MID_WRITE, 2, None),
    # the cleaned folder published; the report complete under its temporary name, not yet renamed
    "report": ("livr.io:os.replace", 1, ".report.json.tmp-"),
}


@pytest.mark.parametrize("point", list(DEDUP_POINTS))
def test_dedup_killed_then_rerun_gives_the_same_bytes(point, tmp_path):
    data = tmp_path / "mix"
    assert main([*SYNTH, "--out", str(data)]) == 0

    def dedup(where):
        return ["data", "dedup", "--data", str(data), "--out", str(where / "report.json"),
                "--out-data", str(where / "clean"), "--overwrite", "--no-progress"]

    def digest(path):
        if path.is_dir():
            return tree_digest(path)
        report = json.loads(path.read_text())
        return {k: v for k, v in report.items() if k not in ("seconds", "out_data")}

    ref = tmp_path / "reference"
    assert main(dedup(ref)) == 0
    reference = {"report.json": digest(ref / "report.json"), "clean": digest(ref / "clean")}
    out = tmp_path / "dedup"
    _killed_then_rerun(dedup(out), [out / "report.json", out / "clean"], reference, tmp_path,
                             DEDUP_POINTS[point], digest)
