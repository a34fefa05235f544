"""`livr data synth` killed with SIGKILL while it writes its folder: nothing complete-looking is
left under the final name (a previous complete folder stays as it was), and the same command run
again writes the same bytes as an uninterrupted run."""

from __future__ import annotations

from livr.cli.main import main
from tests.faults import run_killed, tree_digest

SYNTH = ["data", "synth", "--tasks", "localization,counting", "--train", "4", "--val", "2", "--test", "2",
         "--no-progress"]
# `DatasetDict.save_to_disk` writes dataset_dict.json, then one `Dataset.save_to_disk` per split
# (train, validation, test): stalled at the second, the train split is on disk and the rest is not.
MID_WRITE = "datasets.arrow_dataset:Dataset.save_to_disk"


def test_synth_killed_mid_write_then_rerun_gives_the_same_bytes(tmp_path):
    reference = tmp_path / "reference"
    assert main([*SYNTH, "--out", str(reference)]) == 0
    expected = tree_digest(reference)

    parent = tmp_path / "data"
    out = parent / "mix"
    argv = [*SYNTH, "--out", str(out)]
    run_killed(argv, tmp_path / "child", stall=MID_WRITE, call=2)
    assert not out.exists()
    # the killed writer's temporary folder: hidden, never loaded (beside it: the output's lock files)
    [partial] = [p for p in parent.iterdir() if not p.name.startswith(".mix.lock")]
    assert partial.name.startswith(".mix.tmp-")
    assert (partial / "train").is_dir() and not (partial / "test").exists()  # killed mid-write

    assert main(argv) == 0  # the same command again: --out does not exist, so it is not refused
    assert tree_digest(out) == expected
    assert sorted(p.name for p in parent.iterdir() if not p.name.startswith(".")) == ["mix"]

    # replacing it (--overwrite, another seed), killed mid-write: the old folder stays, intact
    run_killed([*SYNTH, "--seed", "1", "--overwrite", "--out", str(out)], tmp_path / "child",
               stall=MID_WRITE, call=2)
    assert tree_digest(out) == expected
    assert sorted(p.name for p in parent.iterdir() if not p.name.startswith(".")) == ["mix"]
