"""Moved to `livr.inference.answers`. This name stays importable and is the same module
object, so code (and tests) that import or patch `livr.evaluation.answers` see and change the one module."""

import sys

from livr.inference import answers as _moved

sys.modules[__name__] = _moved
