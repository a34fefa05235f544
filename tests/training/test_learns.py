"""End to end, the shipped base learns: Direct SFT from livr-tiny on the easy level of localization
(which of two boxes fits the object) goes from chance to well above it in a few hundred steps.

Nothing is mocked: real generator, `livr train`'s own code path, generation on the test split. If
a change silently stops the images from reaching the model (a wrong mask, dropped pixel values,
shuffled image tokens), the model can only guess and this test fails: the answer letter is
balanced, so a text-only model sits at 50%.
"""

from __future__ import annotations

import json

import pytest

TRAIN, VALIDATION, TEST = 600, 40, 100
THRESHOLD = 0.75  # chance 0.5; 0.75 on 100 records is 5 binomial standard deviations above it


@pytest.fixture(scope="module")
def easy_localization(tmp_path_factory):
    from livr.data.synth import generate_split, shrink_images
    from livr.data.writer import write_dataset

    path = tmp_path_factory.mktemp("learns") / "data"
    splits = {split: shrink_images(generate_split("localization", split, n, seed=0, level="easy"), 112)
              for split, n in (("train", TRAIN), ("validation", VALIDATION), ("test", TEST))}
    write_dataset(splits, path)
    return str(path)


def test_sft_from_livr_tiny_learns_an_easy_task(easy_localization, tmp_path):
    from livr.training.config import load_config
    from livr.training.run import train

    config = load_config(None, {
        "model": "livr-tiny", "method": "sft", "data": easy_localization, "output_dir": str(tmp_path / "run"),
        "stage2_epochs": 3, "learning_rate": 1e-3, "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1, "eval_every_epoch": False, "selection": "final",
        "eval_batch_size": 50, "report_to": ["none"], "disable_tqdm": True, "seed": 42,
    })
    metrics = train(config)
    rows = json.loads((tmp_path / "run" / "test_predictions.json").read_text())
    assert len(rows) == TEST
    assert {r["answer"] for r in rows} == {"A", "B"}
    assert metrics["test_accuracy"] >= THRESHOLD, metrics["test_accuracy"]
