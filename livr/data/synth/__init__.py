"""Offline, seeded generators for the ten tasks.

Each task has a module `livr.data.synth.<task>` exposing

    generate(split: str, n: int, rng: numpy.random.Generator, **knobs) -> list[dict]

which returns `n` records in the schema of `livr.data.schema.make_record`, drawing only from
the split's own source material (`livr.data.photos.photos_for_split`) so nothing is shared
across splits, and balancing answer letters. `generate_split` derives one independent
generator per (task, split, seed), so the same arguments always give the same records.

Difficulty levels: each module may declare `LEVELS`, an ordered mapping of level name -> knob
values, from the paper's rules (`paper`, always first and always `{}`: the default) to easier ones
(`medium`, `easy`, ...). An easier level keeps the task's question, choices and answer format and
only makes the visual evidence larger, clearer or fewer. Explicit knobs win over the level's.
`levels(task)` lists them; docs/data.md says what each one changes.
"""

from __future__ import annotations

import importlib
import zlib

import numpy as np

from livr.data.tasks import get_task


def split_rng(task: str, split: str, seed: int) -> np.random.Generator:
    """An independent, reproducible random stream per (task, split, seed)."""
    key = zlib.crc32(f"{task}/{split}".encode())
    return np.random.default_rng([seed, key])


def generator_module(task: str):
    from livr.data.tasks import TASK_NAMES
    from livr.errors import ConfigError

    get_task(task)  # validates the name with a clear error
    if task not in TASK_NAMES:
        raise ConfigError(f"task {task!r} has no synthetic generator (it comes only from its own source); "
                          f"generators exist for {', '.join(TASK_NAMES)}")
    return importlib.import_module(f"livr.data.synth.{task}")


DEFAULT_LEVEL = "paper"


def levels(task: str) -> dict[str, dict]:
    """The task's difficulty levels, hardest (the paper's rules) first: name -> knob values."""
    declared = getattr(generator_module(task), "LEVELS", None) or {DEFAULT_LEVEL: {}}
    return {name: dict(knobs) for name, knobs in declared.items()}


def level_knobs(task: str, level: str | None) -> dict:
    """The knob values of `level` (None: the paper's); ConfigError naming the known levels."""
    from livr.errors import ConfigError

    known = levels(task)
    name = DEFAULT_LEVEL if level is None else level
    if name not in known:
        raise ConfigError(f"task {task!r} has no level {name!r}; its levels: {', '.join(known)}")
    return known[name]


def generate_split(task: str, split: str, n: int, seed: int, level: str | None = None,
                   **knobs) -> list[dict]:
    """`n` records of `task` for `split`; `level` picks a difficulty preset (see `levels`),
    explicit `knobs` override it."""
    from livr.errors import ConfigError

    if n < 0:
        raise ConfigError(f"number of {split} examples must be >= 0, got {n}")
    knobs = {**level_knobs(task, level), **knobs}
    records = generator_module(task).generate(split, n, split_rng(task, split, seed), **knobs)
    if len(records) != n:
        raise RuntimeError(f"generator for {task} returned {len(records)} records, expected {n}")
    return records


def shrink_images(records: list[dict], size: int | None) -> list[dict]:
    """Shrink every image (in place) so that its longer side is at most `size` pixels, aspect
    kept, bicubic; smaller images and `size=None` leave the records as they are. A record whose
    images shrink gets `source_image_sizes` (the generated (width, height) of each image) in its
    metadata: the frame of its boxes and points (`livr.data.roi` scales them to the images)."""
    import json

    if size is None:
        return records
    for record in records:
        if max(max(im.size) for im in record["images"]) > size:
            meta = json.loads(record["metadata"])
            meta.setdefault("source_image_sizes", [list(im.size) for im in record["images"]])
            record["metadata"] = json.dumps(meta, sort_keys=True)
        images = []
        for image in record["images"]:
            scale = size / max(image.size)
            if scale < 1:
                image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                     resample=3)  # PIL.Image.BICUBIC
            images.append(image)
        record["images"] = images
    return records
