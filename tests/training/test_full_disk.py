"""`livr train` on a full disk (a file-size limit, RLIMIT_FSIZE, in a child process): one line
naming the file and the cause, no traceback, nothing half-written that looks complete, and
`--resume` once there is room again ends byte for byte like a run that never hit the limit.

Two places: livr's own best-epoch weights (`best/trainable.safetensors`, about 270 kB, an atomic
write that raises EFBIG) and the Trainer's `optimizer.pt` (about 540 kB; `torch.save` raises a
RuntimeError without errno, so the CLI looks at the disk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livr.cli.main import main
from livr.training import load_config, train
from tests.faults import run_limited
from tests.training.conftest import tiny

LIMITS = {  # bytes: the file that hits the limit first
    "best": (150_000, "best/trainable.safetensors"),
    "trainer": (300_000, "checkpoints/stage1/checkpoint-1/optimizer.pt"),
}


@pytest.fixture(scope="module")
def reference(loc_data, tmp_path_factory):
    values = tiny(loc_data, tmp_path_factory.mktemp("runs") / "straight")
    train(load_config(None, values))
    return values


@pytest.mark.parametrize("where", list(LIMITS))
def test_train_on_a_full_disk_then_resume(where, reference, tmp_path):
    limit, name = LIMITS[where]
    run = tmp_path / "RUN"
    argv = ["train"] + [f"--{k}={v}" for k, v in {**reference, "output_dir": run}.items()]
    status, err = run_limited(argv, limit, preload=("torch", "transformers", "peft"))
    assert status == 1, err
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"livr train: error: cannot write {run / name}: File too large"), line
    assert line.endswith("run the command again with --resume")
    assert not (run / "metrics.json").exists()
    for checkpoint in (run / "checkpoints").rglob("checkpoint-*"):  # none looks complete
        assert not (checkpoint / "trainer_state.json").exists()
    assert not [p for p in run.rglob(".*")]  # no temporaries left

    assert main(["train", "--resume", "--out", str(run)]) == 0
    straight = Path(reference["output_dir"])
    for artefact in ("metrics.json", "adapter_model.safetensors"):
        assert (run / artefact).read_bytes() == (straight / artefact).read_bytes()
