"""`livr train` for one torchrun process in the tests: one thread and a frozen import heap (see
conftest.one_thread_and_frozen_heap), then the ordinary command line."""

import gc
import sys

import peft  # noqa: F401
import torch
import transformers  # noqa: F401

torch.set_num_threads(1)
gc.freeze()

from livr.cli.main import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
