"""Two CPU processes (torchrun, gloo DDP) train like one process with the same global batch."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

from livr.training import load_config, train
from tests.training.conftest import tiny


def common_flags(data: str) -> dict:
    # SGD and no LoRA dropout: AdamW's first, sign-like step would amplify float noise in
    # near-zero gradients, and dropout draws different masks in one and in two processes.
    return tiny(data, None, lora_dropout=0, learning_rate=1e-2, trainer_args={"optim": "sgd"})


def train_one_process(common: dict, out: Path) -> None:
    train(load_config(None, {**common, "output_dir": str(out), "per_device_train_batch_size": 4}))


def launch_processes(launcher: list[str], argv: list[str], env: dict | None = None) -> str:
    """`livr ARGV` in the processes of `launcher` (the command before the script,
    tests/training/ddp_worker.py: one thread each); returns their standard error."""
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **(env or {})}
    proc = subprocess.Popen([*launcher, str(worker), *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # the launcher and its workers share the new session's process group
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    return stderr


def launch_two_processes(launcher: list[str], common: dict, out: Path, env: dict | None = None) -> str:
    """`livr train` in two processes of batch 2 under `launcher`; returns their standard error."""
    flags = {**common, "output_dir": out, "per_device_train_batch_size": 2}
    argv = ["train"] + [f"--{k}={yaml.safe_dump(v, default_flow_style=True).strip() if isinstance(v, dict) else v}"
                        for k, v in flags.items()]
    return launch_processes(launcher, argv, env)


def assert_same_results(one_dir: Path, two_dir: Path) -> None:
    """Losses, accuracies and adapter weights of the two-process run equal the one-process run's."""
    one, two = (json.loads((d / "metrics.json").read_text()) for d in (one_dir, two_dir))
    assert [h["global_step"] for h in two["history"]] == [1, 1]  # 4 examples = one global batch
    assert [h["stage"] for h in two["history"]] == [1, 2]
    for a, b in zip(one["history"], two["history"], strict=True):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-5 and a["val_accuracy"] == b["val_accuracy"]
    wa, wb = (load_file(str(d / "adapter_model.safetensors")) for d in (one_dir, two_dir))
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=1e-6, rtol=1e-5)
    assert two["test_accuracy"] == one["test_accuracy"]


def test_two_processes_match_one(loc_data, tmp_path):
    common = common_flags(loc_data)
    train_one_process(common, tmp_path / "one")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    launch_two_processes(torchrun, common, tmp_path / "two")
    assert_same_results(tmp_path / "one", tmp_path / "two")
