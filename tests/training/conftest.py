"""Tiny data folders and tiny-run settings shared by the training tests.

Records come from the real generators (`livr.data.synth.generate_split`) and are written with
`livr.data.writer.write_dataset`; only their images are shrunk to 56x56 (4 image tokens on the
tiny Qwen2.5-VL) and their prompts shortened, so a training step takes milliseconds.
"""

from __future__ import annotations

import gc

import pytest
import torch

SIZES = {"train": 4, "validation": 2, "test": 2}


@pytest.fixture(scope="package", autouse=True)
def one_thread_and_frozen_heap():
    """One intra-op thread (on a shared 2-core machine, 2 OpenMP threads made a tiny step 13x
    slower), and the import-time heap frozen, so the `gc.collect()` that accelerate runs at every
    `Trainer.train()` does not rescan it (0.9 s a call otherwise). Both restored afterwards."""
    import peft  # noqa: F401  (heavy imports first, so that freezing covers them)
    import transformers  # noqa: F401

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()
    torch.set_num_threads(threads)


def shrink(records: list[dict]) -> list[dict]:
    import json

    for r in records:
        meta = json.loads(r["metadata"])  # boxes and points stay in the generated frame (LVR's ROI)
        meta.setdefault("source_image_sizes", [list(im.size) for im in r["images"]])
        r["metadata"] = json.dumps(meta, sort_keys=True)
        r["images"] = [im.resize((56, 56)) for im in r["images"]]
        if r["choices"]:
            r["prompt"] = "Which?" + "".join(f" ({'ABCD'[i]}) {c[:8]}" for i, c in enumerate(r["choices"]))
        else:
            r["prompt"] = "How many?"
    return records


def make_data(path, tasks: list[str], sizes: dict[str, int] = SIZES, seed: int = 0):
    from livr.data.synth import generate_split
    from livr.data.writer import write_dataset

    splits = {s: [r for t in tasks for r in shrink(generate_split(t, s, n, seed))] for s, n in sizes.items()}
    write_dataset(splits, path)
    return str(path)


@pytest.fixture(scope="session")
def loc_data(tmp_path_factory):
    """Single task (localization), splits train 4 / validation 2 / test 2."""
    return make_data(tmp_path_factory.mktemp("data") / "localization", ["localization"])


@pytest.fixture(scope="session")
def mixed_data(tmp_path_factory):
    """Two tasks (localization, counting), 2 / 1 each, no test split."""
    return make_data(tmp_path_factory.mktemp("data") / "mixed", ["localization", "counting"],
                     {"train": 2, "validation": 1})


def tiny(data: str, out, **overrides) -> dict:
    """Config values for a fast tiny run: 4 latents, 1 + 1 epochs of one optimizer step (batch 4),
    no warm-up (a one-step stage would otherwise run at learning rate 0), no logs or progress bars."""
    values = {
        "model": "tiny:qwen2_5_vl", "method": "livr", "data": data, "output_dir": str(out),
        "num_latents": 4, "stage1_epochs": 1, "stage2_epochs": 1,
        "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 1e-3,
        "warmup_ratio": 0, "max_new_tokens": 2, "logging_steps": 1, "disable_tqdm": True,
        "report_to": "none",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}
