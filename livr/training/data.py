"""The data of a run: the data folder's splits filtered to the run's tasks, and their encodings.

Everything is encoded once, before training (the processor costs far more than a training step
on small models): training records with their answers, validation and test records as prompts for
generation. Images are decoded from the data folder one record at a time while encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from livr.data.collator import EncodedExample
from livr.errors import DataError


@dataclass
class SplitData:
    records: list[dict[str, Any]]  # schema rows (images decoded), for scoring
    examples: list[EncodedExample] = field(default_factory=list)


@dataclass
class RunData:
    tasks: list[str]
    train: SplitData
    validation: SplitData | None
    test: SplitData | None

    @property
    def multi_task(self) -> bool:
        return len(self.tasks) > 1

    def sizes(self) -> dict[str, int]:
        return {name: len(split.records) for name, split in
                (("train", self.train), ("validation", self.validation), ("test", self.test)) if split}


class ExampleDataset(torch.utils.data.Dataset):
    """Pre-encoded examples for the Trainer's DataLoader."""

    def __init__(self, examples: list[EncodedExample]):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> EncodedExample:
        return self.examples[index]


def _take(ds, tasks: list[str] | None, limit: int | None):
    if tasks is not None:
        wanted = set(tasks)
        ds = ds.filter(lambda t: t in wanted, input_columns="task", keep_in_memory=True)
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return ds


def load_run_data(config) -> RunData:
    """Load `config.data`, keep `config.tasks`, apply the example limits, decode and check every
    record (`livr.data.validate`). DataError naming the record if anything is unusable."""
    from datasets.utils.logging import disable_progress_bar

    from livr.data.loading import load_data
    from livr.data.validate import decode_split

    disable_progress_bar()
    dd = load_data(config.data, ["train"])
    present = sorted(set(dd["train"]["task"]))
    if config.tasks is not None:
        missing = [t for t in config.tasks if t not in present]
        if missing:
            raise DataError(
                f"data folder {config.data} has no training records for task(s) {', '.join(missing)} "
                f"(it has {', '.join(present) or 'none'}); fix --tasks or --data"
            )
    tasks = list(config.tasks) if config.tasks is not None else present
    train = _take(dd["train"], tasks, config.max_train_examples)
    if len(train) == 0:
        raise DataError(f"data folder {config.data} has no training records; rebuild it")
    splits = {}
    for name, limit in (("validation", config.max_validation_examples), ("test", config.max_test_examples)):
        ds = _take(dd[name], tasks, limit) if name in dd else None
        has_records = ds is not None and len(ds) > 0
        splits[name] = SplitData(records=decode_split(ds, name, config.data)) if has_records else None
    return RunData(tasks=tasks, train=SplitData(records=decode_split(train, "train", config.data)),
                   validation=splits["validation"], test=splits["test"])


def encode_run_data(lm, data: RunData, *, image_repeats: int, max_length: int, progress: bool) -> None:
    """Fill every split's `examples` (train with answers; validation / test as prompts)."""
    from tqdm.auto import tqdm

    from livr.inference.generate import prompt_collator

    train_collator = lm.collator("standard", max_length=max_length, image_repeats=image_repeats)
    prompt = prompt_collator(lm, image_repeats=image_repeats, max_length=max_length)
    for name, split, collator in (("train", data.train, train_collator),
                                  ("validation", data.validation, prompt), ("test", data.test, prompt)):
        if split is None:
            continue
        records = tqdm(split.records, desc=f"encoding {name}", disable=not progress, leave=False)
        split.examples = [collator.encode(r, i) for i, r in enumerate(records)]
