"""Moved to `livr.runs.config`. This name stays importable and is the same module
object, so code (and tests) that import or patch `livr.training.config` see and change the one module."""

import sys

from livr.runs import config as _moved

sys.modules[__name__] = _moved
