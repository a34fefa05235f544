"""Draw synthetic splits and encode their images in worker processes (`livr data synth`).

A split is cut into parts of `PART_SIZE` records. Each part is drawn by itself
(`generate_split(..., indices=part)`: every record has its own random stream, see
`livr.data.synth`), shrunk to `image_size` and PNG-encoded in a worker process; the parent
receives records whose images are already PNG bytes and puts the parts back in order. Drawing
and encoding so use every core, and the records do not depend on how many workers drew them:
the data folder is the same bytes for any number (tests/data/test_cli_data.py).

Generators whose records depend on earlier ones (`draws_parts(task)` false: vsp) are drawn whole,
as one part. With one worker, or only one part to draw, everything runs in this process, part by
part, as it would in a worker (the images then encoded by `workers` threads, `livr.data.png`).
Workers are forked where the platform allows it, so they start without importing anything again
and inherit what the parent has loaded.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Callable, Iterator

PART_SIZE = 25  # records per part: small enough to share the work evenly, big enough to batch


def parts(task: str, n: int) -> list[range | None]:
    """The parts `n` records of `task` are drawn in: ranges of record numbers, or [None] (the
    whole split at once) when the generator draws whole splits only."""
    from livr.data.synth import draws_parts

    if n == 0:
        return []
    if not draws_parts(task):
        return [None]
    return [range(start, min(start + PART_SIZE, n)) for start in range(0, n, PART_SIZE)]


def draw_part(task: str, split: str, n: int, seed: int, level: str | None, indices: range | None,
              image_size: int | None, threads: int = 1) -> list[dict]:
    """Records `indices` of the split (None: all `n`), images shrunk to `image_size` and
    replaced by their PNG bytes (`{"bytes": ..., "path": None}`, encoded by `threads` threads)."""
    from livr.data.synth import generate_split, shrink_images
    from livr.data.writer import encoded_records

    records = generate_split(task, split, n, seed, level=level, indices=indices)
    return encoded_records(shrink_images(records, image_size), workers=threads)


def _pool(workers: int) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods and os.name == "posix" else None)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def draw_splits(jobs: list[tuple[str, str, int]], seed: int, level: str | None, image_size: int | None,
                workers: int, on_part: Callable[[int], None] | None = None,
                ) -> Iterator[tuple[str, str, list[dict]]]:
    """(task, split, encoded records) for each (task, split, n) of `jobs`, in that order.

    Every part of every job is handed to the `workers` processes at once, so later splits are
    drawn while earlier ones are converted by the caller. `on_part(k)` is called with the number
    of records of each part as it is collected."""
    plan = [(task, split, n, parts(task, n)) for task, split, n in jobs]
    threads = workers  # a single part (vsp) drawn here still has its images encoded by threads
    workers = min(workers, sum(len(pieces) for *_, pieces in plan))  # no idle processes
    if workers <= 1:
        for task, split, n, pieces in plan:
            records = []
            for piece in pieces:
                records += draw_part(task, split, n, seed, level, piece, image_size, threads)
                if on_part:
                    on_part(n if piece is None else len(piece))
            yield task, split, records
        return
    with _pool(workers) as pool:
        try:
            futures: list[list[Future]] = [
                [pool.submit(draw_part, task, split, n, seed, level, piece, image_size) for piece in pieces]
                for task, split, n, pieces in plan
            ]
            for (task, split, n, pieces), futs in zip(plan, futures):
                records = []
                for piece, fut in zip(pieces, futs):
                    records += fut.result()
                    if on_part:
                        on_part(n if piece is None else len(piece))
                yield task, split, records
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
