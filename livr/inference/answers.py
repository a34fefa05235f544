"""Answer extraction and scoring, shared by training-time validation and `livr eval`.

Follows lmms-eval's BLINK scoring: a multiple-choice prediction is the leading option letter, with
or without parentheses ("B", "(B)", "B.", " (B) the second image"); if the text does not start
with a letter, the choice whose text appears in it (exactly one of them) is taken. The letter
must stand alone and be one of the record's options: "The answer is B" is not read as "T" and
"I think ..." is not option I of two (a plain `^[\\(\\s]*([A-Z])` would read both).
Counting is open-ended: the first integer (digits or a number word up to twenty) must equal the
answer exactly. VSP plans are checked by simulating them on the record's map
(`livr.data.synth.vsp.simulate_plan`), with the original benchmark's replay (reaching the goal
counts; the default) or Mirage's strict scoring (the final position must be the goal):
`vsp_scoring="replay" | "strict"`.

    is_correct(record, "(B) the second image")   -> True / False
    parse_answer(record, "(B) the second image") -> "B"   (None: unreadable, counted wrong)
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


def parse_answer(record: dict[str, Any], prediction: str):
    """What a response answers, in the record's terms: an option letter, an integer, a list of
    VSP actions, or None when the parser cannot read it (scored wrong and counted as unparsed)."""
    kind = answer_kind(record)
    if kind == "choice":
        return extract_choice(prediction, record.get("choices") or [])
    if kind == "count":
        return extract_count(prediction)
    if kind == "plan":
        from livr.data.synth.vsp import parse_plan

        return parse_plan(prediction) or None
    raise ValueError(f"unknown answer kind {kind!r}")


def is_correct(record: dict[str, Any], prediction: str, vsp_scoring: str = "replay") -> bool:
    """Whether `prediction` (generated text) answers `record` (a schema row) correctly;
    `vsp_scoring` picks how a VSP plan is judged (see the module docstring)."""
    kind = answer_kind(record)
    answer = str(record["answer"]).strip()
    parsed = parse_answer(record, prediction)
    if parsed is None:
        return False
    if kind == "choice":
        return parsed == answer.upper()
    if kind == "count":
        return str(parsed) == answer
    from livr.data.synth.vsp import simulate_plan

    return bool(simulate_plan(record["metadata"], "Action plan: " + ", ".join(parsed), vsp_scoring))


def random_plan_success(grid_metadata, length: int) -> float:
    """Probability that `length` uniformly random moves reach the goal (FrozenLake rules:
    off-board moves stay, a hole ends the episode, the goal ends it with success). Exact, by
    dynamic programming over the cells."""
    from livr.data.synth.vsp import MOVES, _grid_rows

    rows = _grid_rows(grid_metadata)
    n_rows, n_cols = len(rows), len(rows[0])
    alive = {(r, c): 1.0 for r, row in enumerate(rows) for c, cell in enumerate(row) if cell == "S"}
    success = 0.0
    for _ in range(length):
        nxt: dict[tuple[int, int], float] = {}
        for (r, c), p in alive.items():
            for dr, dc in MOVES.values():
                rr, cc = min(max(r + dr, 0), n_rows - 1), min(max(c + dc, 0), n_cols - 1)
                cell = rows[rr][cc]
                if cell == "G":
                    success += p / len(MOVES)
                elif cell != "H":
                    nxt[(rr, cc)] = nxt.get((rr, cc), 0.0) + p / len(MOVES)
        alive = nxt
    return success


def random_accuracy(records: Sequence[dict[str, Any]]) -> list[float]:
    """Each record's expected accuracy under a random answer of its format: 1 / number of
    options (multiple choice), 1 / number of distinct counts of its task in `records`
    (counting: 1/9 for counts 2..10, the paper's 11.11), and the chance that a random plan as
    long as the gold plan succeeds (vsp)."""
    counts: dict[str, set[str]] = {}
    for record in records:
        if answer_kind(record) == "count":
            counts.setdefault(record.get("task", ""), set()).add(str(record["answer"]).strip())
    out = []
    for record in records:
        kind = answer_kind(record)
        if kind == "choice":
            out.append(1.0 / max(len(record.get("choices") or []), 1))
        elif kind == "count":
            out.append(1.0 / len(counts[record.get("task", "")]))
        else:
            from livr.data.synth.vsp import parse_plan

            gold = parse_plan(str(record["answer"])) or []
            out.append(random_plan_success(record["metadata"], len(gold)))
    return out


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
