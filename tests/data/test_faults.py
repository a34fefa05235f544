"""`livr data synth` killed with SIGKILL while it writes its folder: nothing complete-looking is
left under the final name (a previous complete folder stays as it was), the same command run
again writes the same bytes as an uninterrupted run and removes the killed writer's temporary.
On a full disk (a file-size limit) it ends with one line naming the folder and the cause, and the
previous folder stays intact and loadable."""

from __future__ import annotations

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
