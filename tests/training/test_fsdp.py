"""Two CPU processes under accelerate's FSDP config (configs/accelerate/fsdp.yaml, made to run on
CPUs) train like one process: what the installed accelerate actually does there is recorded.

accelerate (1.15 here) does not run FSDP on CPUs: `AcceleratorState` switches to FSDP only for
accelerator device types, so with `use_cpu` the processes run as MULTI_CPU, i.e. DDP over gloo,
without an error (torch's own FSDP2 `fully_shard` does run on CPU with gloo; accelerate never
calls it there). The test asserts that state, that livr says so, and the DDP test's tolerances
against one process. If a later accelerate does shard on CPU, the first assertion fails: then
update docs/training.md ("Several processes and GPUs") and keep the comparison.
"""

import json
import socket
import sys
from pathlib import Path

import yaml

from tests.training.test_ddp import assert_same_results, common_flags, launch_two_processes, train_one_process

FSDP_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "fsdp.yaml"


def cpu_fsdp_config(path: Path) -> Path:
    """The shipped FSDP config, for two CPU processes in fp32."""
    config = yaml.safe_load(FSDP_CONFIG.read_text())
    assert config["distributed_type"] == "FSDP" and config["fsdp_config"]["fsdp_version"] == 2
    config.update(num_processes=2, use_cpu=True, mixed_precision="no")
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fsdp_config_on_cpu_runs_as_ddp_and_matches_one_process(loc_data, tmp_path):
    common = common_flags(loc_data)
    train_one_process(common, tmp_path / "one")
    launcher = [sys.executable, "-m", "accelerate.commands.launch",
                "--config_file", str(cpu_fsdp_config(tmp_path / "fsdp_cpu.yaml")),
                "--main_process_port", str(free_port())]
    (tmp_path / "state").mkdir()
    stderr = launch_two_processes(launcher, common, tmp_path / "two",
                                  env={"LIVR_TEST_STATE": str(tmp_path / "state")})

    states = [json.loads((tmp_path / "state" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert states == [{"distributed_type": "DistributedType.MULTI_CPU", "backend": "gloo",
                       "fsdp_plugin": False, "num_processes": 2}] * 2, states
    assert stderr.count("note: FSDP was asked for, but accelerate runs processes without CUDA as DDP") == 1
    assert_same_results(tmp_path / "one", tmp_path / "two")
