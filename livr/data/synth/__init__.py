"""Offline, seeded generators for the ten tasks.

Each task has a module `livr.data.synth.<task>` exposing

    generate(split: str, n: int, rng: numpy.random.Generator, *, indices=None, **knobs) -> list[dict]

which returns `n` records in the schema of `livr.data.schema.make_record`, drawing only from
the split's own source material (`livr.data.photos.photos_for_split`) so nothing is shared
across splits, and balancing answer letters. `generate_split` derives one independent
generator per (task, split, seed), so the same arguments always give the same records.

Random streams: `rng` (the split's) draws only what concerns the whole split (the balanced
answers); record i draws from its own stream, `record_rng(rng, i)`, derived from the split's
seed and i alone. So any part of a split (`indices`, a range of record numbers) can be drawn by
itself, in another process, and gives the same records as drawing the whole split: `livr data
synth --workers N` draws parts in N processes and writes the same bytes for any N. A generator
whose records depend on the ones before it (vsp: no map twice in a split) has no `indices`
parameter and is drawn whole, on one stream.

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


def record_rng(rng: np.random.Generator, index: int) -> np.random.Generator:
    """Record `index`'s own stream: a child of the seed of `rng` (the split's stream), not of its
    state, so it is the same however much of `rng` was drawn before."""
    seq = rng.bit_generator.seed_seq
    return np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, index)))


def record_streams(rng: np.random.Generator, n: int, indices=None):
    """(i, record i's stream) for each record number i in `indices` (default: all `n`)."""
    if indices is None:
        indices = range(n)
    elif len(indices) and not (0 <= min(indices) and max(indices) < n):
        raise ValueError(f"record numbers {indices} outside 0..{n - 1}")
    for i in indices:
        yield i, record_rng(rng, i)


def draws_parts(task: str) -> bool:
    """Whether the task's generator can draw part of a split by itself (`indices`)."""
    import inspect

    params = inspect.signature(generator_module(task).generate).parameters
    return "indices" in params and params["indices"].kind is inspect.Parameter.KEYWORD_ONLY


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
                   indices: range | None = None, **knobs) -> list[dict]:
    """`n` records of `task` for `split`; `level` picks a difficulty preset (see `levels`),
    explicit `knobs` override it. `indices` (a range of record numbers, for generators where
    `draws_parts(task)`): only those records, the same as in the whole split."""
    from livr.errors import ConfigError

    if n < 0:
        raise ConfigError(f"number of {split} examples must be >= 0, got {n}")
    knobs = {**level_knobs(task, level), **knobs}
    if indices is not None:
        if not draws_parts(task):
            raise ConfigError(f"the {task} generator draws whole splits only (no indices)")
        knobs["indices"] = indices
    records = generator_module(task).generate(split, n, split_rng(task, split, seed), **knobs)
    expected = n if indices is None else len(indices)
    if len(records) != expected:
        raise RuntimeError(f"generator for {task} returned {len(records)} records, expected {expected}")
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
