"""Art-style questions from ArtBench-10 (paper Appendix A.5).

Expected layout under `--source` (the official 256 x 256 ImageFolder release,
`artbench-10-imagefolder-split`, or its parent):

    train/<style>/*.jpg      styles: art_nouveau, baroque, expressionism, impressionism, ...
    test/<style>/*.jpg       (not used)

Only ArtBench's train split is used. Every image goes to at most one of our splits and is used
at most once: the images of each style are shuffled and cut between train and validation in
proportion to the requested sizes (a style-balanced pool). Each question takes a reference, a
positive of the same style (another image) and a negative of another style; reference styles
cycle through the styles so they stay balanced, and the positive lands at A or B at random.
Images are stored as they are in the release (no re-encoding). The test split is BLINK's
Art_Style val split, added by the CLI.
"""

from __future__ import annotations

from pathlib import Path

from livr.data.build.common import (
    Report,
    image_from_file,
    list_images,
    mcq_record,
    place_answer,
    require_dir,
    shuffled,
    task_rng,
)
from livr.errors import DataError

TASK = "art_style"
SOURCE = "artbench-10"


def find_styles(source: Path) -> dict[str, list[Path]]:
    source = require_dir(source, "ArtBench-10 ImageFolder: train/<style>/*.jpg")
    for root in (source, source / "artbench-10-imagefolder-split"):
        if (root / "train").is_dir():
            styles = {
                p.name: list_images(p) for p in sorted((root / "train").iterdir()) if p.is_dir()
            }
            styles = {k: v for k, v in styles.items() if v}
            if len(styles) < 2:
                raise DataError(
                    f"{root / 'train'}: expected at least two <style>/ folders with images"
                )
            return styles
    raise DataError(
        f"{source}: expected the ArtBench-10 ImageFolder folder train/ with one sub-folder per "
        "style (train/<style>/*.jpg, as in artbench-10-imagefolder-split/)"
    )


def build(source: Path, sizes: dict, seed: int, report: Report, **_) -> dict[str, list]:
    styles = find_styles(Path(source))
    want_t, want_v = sizes.get("train") or 0, sizes.get("validation") or 0
    val_share = want_v / max(1, want_t + want_v)
    pools: dict[str, dict[str, list[Path]]] = {"train": {}, "validation": {}}
    for style, paths in styles.items():
        paths = shuffled(paths, task_rng(TASK, f"pool/{style}", seed))
        n_val = int(round(len(paths) * val_share))
        pools["validation"][style] = paths[:n_val]
        pools["train"][style] = paths[n_val:]
    out = {}
    for split, pool in pools.items():
        want = sizes.get(split)
        out[split] = _build_split(pool, want, task_rng(TASK, split, seed), split)
        report.short(split, want, len(out[split]), "the ArtBench-10 style pools")
    return out


def _build_split(pool: dict[str, list[Path]], want, rng, split) -> list[dict]:
    pool = {k: list(v) for k, v in pool.items()}
    names = sorted(pool)
    records: list[dict] = []
    stalled = 0
    turn = 0
    while (want is None or len(records) < want) and stalled < len(names):
        style = names[turn % len(names)]
        turn += 1
        others = [s for s in names if s != style and pool[s]]
        if len(pool[style]) < 2 or not others:
            stalled += 1
            continue
        stalled = 0
        neg_style = others[int(rng.integers(0, len(others)))]
        ref, pos, neg = pool[style].pop(), pool[style].pop(), pool[neg_style].pop()
        options, answer = place_answer(pos, [neg], rng)
        meta = {
            "source_images": [f"artbench:{p.parent.name}/{p.name}" for p in (ref, *options)],
            "reference_style": style,
            "negative_style": neg_style,
        }
        images = [image_from_file(p) for p in (ref, *options)]
        records.append(mcq_record(TASK, split, len(records), images, answer, SOURCE, meta))
    return records
