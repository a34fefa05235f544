"""Moved to `livr.inference.generate`. This name stays importable and is the same module
object, so code (and tests) that import or patch `livr.evaluation.generate` see and change the one module."""

import sys

from livr.inference import generate as _moved

sys.modules[__name__] = _moved
