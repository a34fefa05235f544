"""The one record schema shared by every task, generator, builder and loader.

A data folder is a `datasets.DatasetDict` with splits `train`, `validation`, `test` written with
`save_to_disk`. Each row:

| column       | type            | meaning |
|--------------|-----------------|---------|
| id           | string          | unique within the data folder, e.g. `jigsaw-train-000017` |
| task         | string          | one of `livr.data.tasks.TASKS` (the ten of `TASK_NAMES`, `visual_cot`, the benchmarks) |
| images       | list of Image   | 1 to 4 images, in the order the prompt refers to them |
| question     | string          | the bare question, without the choices |
| choices      | list of string  | choice texts ("the second image", "Box A", ...); empty if open-ended |
| answer       | string          | the letter ("A") for multiple choice, the integer as text for counting, the plan for vsp |
| prompt       | string          | the exact text the model sees (question plus formatted choices) |
| source       | string          | where the images came from (`synthetic:<generator>`, `coco`, `blink`, ...) |
| metadata     | string (JSON)   | task-specific details: boxes / ROI, point coordinates, grid map, labels ... |
| helper_image | Image or None   | an optional helper image (for Mirage-style supervision) |
"""

from __future__ import annotations

import json
from typing import Any

import datasets

SPLITS = ("train", "validation", "test")
MAX_IMAGES = 4

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "task": datasets.Value("string"),
        "images": datasets.List(datasets.Image()),
        "question": datasets.Value("string"),
        "choices": datasets.List(datasets.Value("string")),
        "answer": datasets.Value("string"),
        "prompt": datasets.Value("string"),
        "source": datasets.Value("string"),
        "metadata": datasets.Value("string"),
        "helper_image": datasets.Image(),
    }
)

COLUMNS = tuple(FEATURES)


def make_record(
    *,
    id: str,
    task: str,
    images: list,
    question: str,
    choices: list[str],
    answer: str,
    prompt: str,
    source: str,
    metadata: dict[str, Any] | None = None,
    helper_image=None,
) -> dict[str, Any]:
    """Build one row in the schema (metadata serialised as sorted JSON, so output is stable)."""
    return {
        "id": id,
        "task": task,
        "images": list(images),
        "question": question,
        "choices": list(choices),
        "answer": answer,
        "prompt": prompt,
        "source": source,
        "metadata": json.dumps(metadata or {}, sort_keys=True),
        "helper_image": helper_image,
    }


def choice_letter(index: int) -> str:
    return "ABCDEFGH"[index]
