"""Shared fixtures: offline mode, small thread count, records that exercise padding."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

torch.set_num_threads(2)

NATIVE_FAMILIES = ("qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "llava_onevision")


def random_image(rng: np.random.Generator, height: int, width: int) -> Image.Image:
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype("uint8"))


@pytest.fixture
def records():
    """Two records of different lengths (padding is exercised), one with two images."""
    rng = np.random.default_rng(0)
    return [
        {"id": "short", "images": [random_image(rng, 64, 80)], "prompt": "Which box is red?",
         "answer": "Box A is red"},
        {"id": "long", "images": [random_image(rng, 60, 60), random_image(rng, 90, 70)],
         "prompt": "Is the second image brighter than the first one? Answer yes or no.",
         "answer": "yes it is"},
    ]


@pytest.fixture
def letter_records():
    """One-token answers (a single option letter): the case where a leak is easiest."""
    rng = np.random.default_rng(1)
    return [
        {"id": "mcq0", "images": [random_image(rng, 64, 64)], "prompt": "Pick one.\n(A) red\n(B) blue",
         "answer": "A"},
        {"id": "mcq1", "images": [random_image(rng, 56, 90)],
         "prompt": "Which one is larger?\n(A) left\n(B) right\n(C) same", "answer": "C"},
    ]
