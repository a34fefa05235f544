"""`livr train` for one process of a multi-process test (torchrun or accelerate launch): one
thread and a frozen import heap (see conftest.one_thread_and_frozen_heap), then the ordinary
command line. With LIVR_TEST_STATE=DIR, each process also writes DIR/rank<RANK>.json: how
accelerate ran it (distributed type, backend, FSDP plugin or not, process count)."""

import gc
import json
import os
import sys
from pathlib import Path

import peft  # noqa: F401
import torch
import transformers  # noqa: F401

torch.set_num_threads(1)
gc.freeze()

from livr.cli.main import main  # noqa: E402

code = main(sys.argv[1:])
if os.environ.get("LIVR_TEST_STATE"):
    from accelerate.state import AcceleratorState

    state = AcceleratorState._shared_state  # what the stages' Trainers ran under (a singleton)
    Path(os.environ["LIVR_TEST_STATE"], f"rank{os.environ['RANK']}.json").write_text(json.dumps({
        "distributed_type": str(state.get("distributed_type")),
        "backend": state.get("backend"),
        "fsdp_plugin": state.get("fsdp_plugin") is not None,
        "num_processes": state.get("num_processes"),
    }))
sys.exit(code)
