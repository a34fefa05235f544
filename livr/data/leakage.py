"""Training-time leakage guard: train/validation images that near-duplicate a test image of the run.

`livr train` calls `check_leakage` right after loading the data folder (before the model is loaded
and before the run folder is touched), whenever the run has a test split. It compares every image
of the run's train and validation records with every test image of the same run, using the
near-duplicate detector of `livr.data.dedup` unchanged (offline descriptor prefilter, pHash,
SSIM on raw and blurred grey images, default `Thresholds`), so the guard flags exactly what
`livr data dedup` would remove from the same records.

What happens then is the `leakage` policy of the training config:

- `refuse` (default): a `DataError` naming the leaking example ids (the first few and a count),
  their split, the test id each matches, and the fixes (`livr data dedup`, or `--leakage warn`).
- `warn`: a loud multi-line warning on stderr; training goes on (the run records the pairs in
  `metrics.json` under `leakage`).
- `off`: no check (saves its cost, measured in docs/training.md).

Only the records the run uses are compared (after `tasks` and the `max_*_examples` limits), since
those are what could leak into this run's test accuracy.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

POLICIES = ("refuse", "warn", "off")
SHOWN = 5  # leaking examples named in the error / warning (the rest are counted)


@dataclass(frozen=True)
class Leak:
    """One train/validation image that near-duplicates one test image."""

    split: str  # "train" or "validation"
    id: str  # example id
    image_index: int  # position of the image within the example
    test_id: str
    test_image_index: int
    cosine: float
    phash_distance: int
    ssim: float
    ssim_blur: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _index(records: Sequence[dict], embedder, thresholds):
    """`dedup.ImageIndex` of the images of decoded schema records (`images` list, `id`)."""
    from livr.data.dedup import ImageIndex, prepare_images

    ids, positions, images = [], [], []
    for r in records:
        for k, im in enumerate(r["images"]):
            ids.append(str(r["id"]))
            positions.append(k)
            images.append(im)
    return ImageIndex(ids, positions, prepare_images(images, embedder, thresholds))


def find_leaks(
    splits: dict[str, Sequence[dict]],
    test: Sequence[dict],
    *,
    thresholds=None,
    embedder=None,
) -> list[Leak]:
    """Every (train/validation image, test image) near-duplicate pair, by split, then record order.

    `splits` maps a split name to its decoded records; `test` are the decoded test records.
    """
    from livr.data.dedup import Thresholds, find_near_duplicates, make_embedder

    thresholds = thresholds or Thresholds()
    thresholds.check()
    embedder = embedder or make_embedder(None)
    test_index = _index(test, embedder, thresholds)
    leaks = []
    for split, records in splits.items():
        if not records or not len(test_index.ids):
            continue
        index = _index(records, embedder, thresholds)
        for m in find_near_duplicates(
            index.prepared, test_index.prepared, embedder=embedder, thresholds=thresholds
        ):
            leaks.append(Leak(
                split=split,
                id=index.ids[m.a],
                image_index=index.image_index[m.a],
                test_id=test_index.ids[m.b],
                test_image_index=test_index.image_index[m.b],
                cosine=round(m.cosine, 6),
                phash_distance=m.phash_distance,
                ssim=round(m.ssim, 6),
                ssim_blur=round(m.ssim_blur, 6),
            ))
    return leaks


def describe(leaks: list[Leak], *, shown: int = SHOWN) -> list[str]:
    """Lines naming the leaking examples: per split the count, then the first `shown` examples
    with the test example(s) each matches."""
    lines = []
    by_split: dict[str, dict[str, list[Leak]]] = {}
    for leak in leaks:
        by_split.setdefault(leak.split, {}).setdefault(leak.id, []).append(leak)
    for split, examples in by_split.items():
        lines.append(
            f"{split}: {len(examples)} example(s) with an image that near-duplicates a test image"
        )
        for rid, ms in list(examples.items())[:shown]:
            m = min(ms, key=lambda x: (x.phash_distance, -x.ssim_blur))
            others = sorted({x.test_id for x in ms} - {m.test_id})
            more = f" (and {len(others)} other test example(s))" if others else ""
            lines.append(
                f"  {split} id {rid} image {m.image_index} ~ test id {m.test_id} image "
                f"{m.test_image_index}{more} (pHash distance {m.phash_distance}, "
                f"SSIM {m.ssim:.3f}, blurred SSIM {m.ssim_blur:.3f})"
            )
        if len(examples) > shown:
            lines.append(f"  ... and {len(examples) - shown} more {split} example(s)")
    return lines


def summary(leaks: list[Leak]) -> dict[str, Any]:
    """What a run records about the leaks it trained with (`metrics.json`, key `leakage`)."""
    examples = {(x.split, x.id) for x in leaks}
    per_split: dict[str, int] = {}
    for split, _ in examples:
        per_split[split] = per_split.get(split, 0) + 1
    return {"examples": dict(sorted(per_split.items())), "pairs": [x.to_dict() for x in leaks]}


def check_leakage(
    data,
    *,
    policy: str = "refuse",
    data_path: str | None = None,
    thresholds=None,
    embedder=None,
    say: Callable[[str], None] | None = None,
) -> list[Leak]:
    """Apply the `leakage` policy to a `livr.training.data.RunData`-like object (`.train`,
    `.validation`, `.test`, each None or with `.records`). Returns the leaks found ([] with
    policy `off` or without a test split); raises `DataError` under `refuse` if there are any.

    `say` prints the warning under `warn` (default: stderr); pass a no-op on non-main processes.
    """
    from livr.errors import ConfigError, DataError

    if policy not in POLICIES:
        raise ConfigError(f"leakage must be one of {', '.join(POLICIES)}, got {policy!r}")
    if policy == "off" or data.test is None or not data.test.records:
        return []
    splits = {name: split.records for name, split in
              (("train", data.train), ("validation", data.validation)) if split is not None}
    leaks = find_leaks(splits, data.test.records, thresholds=thresholds, embedder=embedder)
    if not leaks:
        return []
    where = data_path or "the data folder"
    n = len({(x.split, x.id) for x in leaks})
    dedup = (
        f"livr data dedup --data {data_path or 'DATA'} --out dedup-report.json "
        "--out-data CLEAN_FOLDER"
    )
    if policy == "refuse":
        raise DataError(
            f"leakage: {n} train/validation example(s) of {where} have an image that is a "
            "near-duplicate of a test image of this run, so test accuracy would be inflated:\n"
            + "\n".join(describe(leaks))
            + f"\nremove them with `{dedup}` and train on CLEAN_FOLDER, or pass --leakage warn "
            "(YAML `leakage: warn`) to train anyway; --leakage off skips the check"
        )
    bar = "!" * 78
    text = "\n".join([
        bar,
        f"WARNING (leakage): {n} train/validation example(s) of {where} have an image that is a "
        "near-duplicate of a test image of this run; test accuracy may be inflated.",
        *describe(leaks),
        f"Training goes on because leakage=warn; remove them with `{dedup}`. The pairs are "
        "recorded in the run's metrics.json under 'leakage'.",
        bar,
    ])
    (say or (lambda t: print(t, file=sys.stderr, flush=True)))(text)
    return leaks
