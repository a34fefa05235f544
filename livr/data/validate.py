"""One full, fast pass over a split before anything trusts it (training, evaluation, writing).

`check_record` refuses a record whose content cannot be scored or trained on: an unknown task,
no images or too many, no prompt, no answer, a multiple-choice record without choices or with an
answer letter outside them, a count that is not a whole number. `decode_split` reads every image
of a `datasets` split itself, so a corrupt, missing or oversized (decompression-bomb) image is a
`DataError` naming the record and the image, found before the first training step rather than
deep inside `datasets` in epoch 7.
"""

from __future__ import annotations

from typing import Any

from livr.data.schema import MAX_IMAGES, choice_letter
from livr.data.tasks import TASKS
from livr.errors import DataError


def check_record(record: dict[str, Any], where: str) -> None:
    """DataError naming `where` (e.g. "train record 'jigsaw-train-000003' of data/x") if unusable."""
    task = TASKS.get(record.get("task"))
    if task is None:
        raise DataError(f"{where} has unknown task {record.get('task')!r}; known tasks: {', '.join(TASKS)}")
    images = record.get("images") or []
    if not 1 <= len(images) <= MAX_IMAGES:
        raise DataError(f"{where} has {len(images)} images; a record holds 1 to {MAX_IMAGES}")
    if not isinstance(record.get("prompt"), str) or not record["prompt"].strip():
        raise DataError(f"{where} has no prompt text")
    answer = record.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        raise DataError(f"{where} has no answer; every record needs one (training and scoring use it)")
    answer = answer.strip()
    if task.answer_kind == "choice":
        choices = record.get("choices") or []
        if not choices:
            raise DataError(f"{where} has no choices, but {task.name} is a multiple-choice task")
        letters = [choice_letter(i) for i in range(len(choices))]
        if answer not in letters:
            raise DataError(f"{where} has answer {answer!r}, which is not one of its choices "
                            f"{', '.join(letters)}")
    elif task.answer_kind == "count" and not answer.isdigit():
        raise DataError(f"{where} has answer {answer!r}; a {task.name} answer is a whole number")


def decode_split(ds, split: str, source: str) -> list[dict[str, Any]]:
    """Every row of a `datasets` split as a dict with its images decoded (RGB PIL images),
    each record checked with `check_record`. Raises DataError naming the first bad record."""
    import datasets

    from livr.data.collator import load_image

    raw = ds.cast_column("images", datasets.List(datasets.Image(decode=False)))
    raw = raw.cast_column("helper_image", datasets.Image(decode=False))
    out = []
    for record in raw:
        where = f"{split} record {record['id']!r} of {source}"
        check_record(record, where)
        record["images"] = [load_image(im, where, i) for i, im in enumerate(record["images"])]
        if record.get("helper_image") is not None:
            record["helper_image"] = load_image(record["helper_image"], where, None)
        out.append(record)
    return out

