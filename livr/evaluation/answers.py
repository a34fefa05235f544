"""Answer extraction and scoring, shared by training-time validation and `livr eval`.

Follows lmms-eval's BLINK scoring: a multiple-choice prediction is the leading option letter, with
or without parentheses ("B", "(B)", "B.", " (B) the second image"); if the text does not start
with a letter, the choice whose text appears in it (exactly one of them) is taken. The letter
must stand alone and be one of the record's options: "The answer is B" is not read as "T" and
"I think ..." is not option I of two (a plain `^[\\(\\s]*([A-Z])` would read both).
Counting is open-ended: the first integer (digits or a number word up to twenty) must equal the
answer exactly. VSP plans are checked by simulating them on the record's map
(`livr.data.synth.vsp.simulate_plan`).

    is_correct(record, "(B) the second image")   -> True / False
    score(records, predictions)                  -> {"accuracy", "correct", "total", "per_task"}
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from livr.data.schema import choice_letter

_LEADING_LETTER = re.compile(r"^[\(\s]*([A-Z])(?![A-Za-z])[\)\.\s:]*")
_INTEGER = re.compile(r"(?<!\d)-?\d+")
NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_WORD = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)


def extract_choice(text: str, choices: Sequence[str]) -> str | None:
    """The option letter a response picks, or None if it picks none (or several)."""
    text = text.strip()
    m = _LEADING_LETTER.match(text)
    valid = {choice_letter(i) for i in range(len(choices))} if choices else None
    if m and (valid is None or m.group(1) in valid):  # "I think ..." is not option I of two
        return m.group(1)
    lowered = text.lower()
    hits = [i for i, c in enumerate(choices) if c and c.strip().lower() in lowered]
    if len(hits) == 1:
        return choice_letter(hits[0])
    return None


def extract_count(text: str) -> int | None:
    """The first integer in a response, written in digits or as a number word."""
    digits = _INTEGER.search(text)
    word = _WORD.search(text)
    if digits and (not word or digits.start() < word.start()):
        return int(digits.group(0))
    if word:
        return NUMBER_WORDS[word.group(1).lower()]
    return None


def answer_kind(record: dict[str, Any]) -> str:
    from livr.data.tasks import TASKS

    task = TASKS.get(record.get("task", ""))
    if task is not None:
        return task.answer_kind
    return "choice" if record.get("choices") else "count"


def is_correct(record: dict[str, Any], prediction: str) -> bool:
    """Whether `prediction` (generated text) answers `record` (a schema row) correctly."""
    kind = answer_kind(record)
    answer = str(record["answer"]).strip()
    if kind == "choice":
        return extract_choice(prediction, record.get("choices") or []) == answer.upper()
    if kind == "count":
        predicted = extract_count(prediction)
        return predicted is not None and str(predicted) == answer
    if kind == "plan":
        from livr.data.synth.vsp import simulate_plan

        return bool(simulate_plan(record["metadata"], prediction))
    raise ValueError(f"unknown answer kind {kind!r}")


def score(records: Sequence[dict[str, Any]], predictions: Sequence[str]) -> dict[str, Any]:
    """Accuracy over all records (micro average) and per task."""
    if len(records) != len(predictions):
        raise ValueError(f"{len(records)} records but {len(predictions)} predictions")
    per_task: dict[str, list[int]] = {}
    correct = 0
    for record, prediction in zip(records, predictions):
        ok = int(is_correct(record, prediction))
        correct += ok
        hits = per_task.setdefault(record.get("task", ""), [0, 0])
        hits[0] += ok
        hits[1] += 1
    total = len(records)
    return {
        "accuracy": correct / total if total else 0.0,
        "correct": correct,
        "total": total,
        "per_task": {t: c / n for t, (c, n) in sorted(per_task.items())},
    }
