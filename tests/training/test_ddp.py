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


def test_two_processes_match_one(loc_data, tmp_path):
    # SGD and no LoRA dropout: AdamW's first, sign-like step would amplify float noise in
    # near-zero gradients, and dropout draws different masks in one and in two processes.
    common = tiny(loc_data, None, lora_dropout=0, learning_rate=1e-2, trainer_args={"optim": "sgd"})
    train(load_config(None, {**common, "output_dir": str(tmp_path / "one"), "per_device_train_batch_size": 4}))

    flags = {**common, "output_dir": tmp_path / "two", "per_device_train_batch_size": 2}
    argv = ["train"] + [f"--{k}={yaml.safe_dump(v, default_flow_style=True).strip() if isinstance(v, dict) else v}"
                        for k, v in flags.items()]
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--standalone", str(worker), *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # torchrun and both workers share the new session's process group
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]

    one, two = (json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("one", "two"))
    assert [h["global_step"] for h in two["history"]] == [1, 1]  # 4 examples = one global batch
    for a, b in zip(one["history"], two["history"]):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-5 and a["val_accuracy"] == b["val_accuracy"]
    wa, wb = (load_file(str(tmp_path / n / "adapter_model.safetensors")) for n in ("one", "two"))
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=1e-6, rtol=1e-5)
    assert two["test_accuracy"] == one["test_accuracy"]
