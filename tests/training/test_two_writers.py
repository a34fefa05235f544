"""Two writers of one folder (issue 21's case): while `livr train --out RUN` trains, the same
command with `--overwrite` (a re-run from the shell history) or `--resume` is refused before it
touches anything, with one line naming the folder and the holder, and so is regenerating the
data folder the training reads; the first run then finishes as if alone, byte for byte."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from livr.cli.main import main
from livr.training import load_config, train
from tests.faults import pause, tree_digest
from tests.training.conftest import make_data, tiny


def test_second_writer_is_refused_while_a_training_runs(tmp_path, capsys):
    data = make_data(tmp_path / "data", ["localization"])
    values = tiny(data, tmp_path / "straight", stage1_epochs=2, stage2_epochs=1)
    train(load_config(None, values))
    reference = Path(values["output_dir"])

    run = tmp_path / "RUN"
    argv = ["train"] + [f"--{k}={v}" for k, v in {**values, "output_dir": run}.items()]
    data_before = tree_digest(Path(data))
    # paused at the first training step of stage 1's second epoch: checkpoint-1 is on disk
    with pause(argv, tmp_path / "child", stall="livr.training.trainer:LivrTrainer.training_step", call=2,
               preload=("torch", "transformers", "peft")) as first:
        run_before = tree_digest(run)
        capsys.readouterr()
        assert main([*argv, "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("livr train: error: --out ")
        assert f"{run} is in use" in err and f"pid {first.pid} on {socket.gethostname()}" in err
        assert main(["train", "--resume", "--out", str(run)]) == 2  # `--resume` twice, likewise
        assert f"pid {first.pid}" in capsys.readouterr().err
        assert tree_digest(run) == run_before  # nothing touched

        assert main(["data", "synth", "--task", "localization", "--train", "4", "--val", "2", "--test", "2",
                     "--out", data, "--overwrite", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"{data} is in use: read by a running training" in err and err.count("\n") == 1
        assert tree_digest(Path(data)) == data_before
    assert first.returncode == 0, (tmp_path / "child" / "stderr.txt").read_text()[-3000:]
    for name in ("metrics.json", "adapter_model.safetensors"):
        assert (run / name).read_bytes() == (reference / name).read_bytes()
    assert [h["stage"] for h in json.loads((run / "metrics.json").read_text())["history"]] == [1, 1, 2]
