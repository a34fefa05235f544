"""Scores that some benchmarks report beside plain accuracy, and free-text matching.

- MMVP: per-question accuracy and pair accuracy (its headline number): the 300 questions form
  150 pairs (metadata `pair`), and a pair counts only if both of its questions are right.
- V*Bench: accuracy per category (direct_attributes, relative_position) and overall, the micro
  average over the 191 questions (the paper's "V*" column).
- VSP: plan success under both scorings, the original benchmark's replay (reaching the goal
  counts, moves after it ignored) and Mirage's strict one (the final position must be the
  goal); `livr eval --vsp-scoring` picks which one the headline accuracy uses.
- Visual-CoT answers are free text: `text_match` is VQA-style normalised matching.

`benchmark_scores(records, rows)` returns `{"mmvp": {...}, "vstar": {...}, "vsp": {...}}` for
the benchmarks present (empty otherwise); `livr eval` adds it to eval.json.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any, Sequence

VSTAR_PREFIX = "vstar_"
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _meta(record: dict) -> dict:
    meta = record.get("metadata") or {}
    return json.loads(meta) if isinstance(meta, str) else meta


def mmvp_scores(records: Sequence[dict], correct: Sequence[bool]) -> dict[str, Any]:
    """Question and pair accuracy of MMVP records (`correct[i]` answers `records[i]`)."""
    pairs: dict[int, list[bool]] = {}
    for record, ok in zip(records, correct):
        pairs.setdefault(int(_meta(record)["pair"]), []).append(bool(ok))
    incomplete = sorted(p for p, oks in pairs.items() if len(oks) != 2)
    whole = {p: oks for p, oks in pairs.items() if len(oks) == 2}
    pairs_correct = sum(all(oks) for oks in whole.values())
    return {
        "questions": len(correct),
        "question_accuracy": sum(map(bool, correct)) / len(correct) if correct else 0.0,
        "pairs": len(whole),
        "pairs_correct": pairs_correct,
        "pair_accuracy": pairs_correct / len(whole) if whole else None,
        "incomplete_pairs": incomplete,  # e.g. under --limit: left out of pair accuracy
    }


def vstar_scores(records: Sequence[dict], correct: Sequence[bool]) -> dict[str, Any]:
    """V*Bench accuracy per category and overall (micro average)."""
    per: dict[str, list[bool]] = {}
    for record, ok in zip(records, correct):
        per.setdefault(record["task"][len(VSTAR_PREFIX):], []).append(bool(ok))
    n = sum(len(v) for v in per.values())
    return {
        "n": n,
        "accuracy": sum(sum(v) for v in per.values()) / n if n else 0.0,
        "per_category": {c: sum(v) / len(v) for c, v in sorted(per.items())},
        "per_category_n": {c: len(v) for c, v in sorted(per.items())},
    }


def vsp_scores(records: Sequence[dict], parsed: Sequence) -> dict[str, Any]:
    """Plan success of VSP records under both scorings (`parsed[i]`: the actions read from the
    prediction for `records[i]`, None when unreadable)."""
    from livr.data.synth.vsp import SCORINGS, simulate_plan

    hits = {s: 0 for s in SCORINGS}
    for record, actions in zip(records, parsed):
        if actions:
            for s in SCORINGS:
                hits[s] += simulate_plan(record["metadata"], "Action plan: " + ", ".join(actions), s)
    n = len(records)
    return {"n": n, **{f"{s}_correct": hits[s] for s in SCORINGS},
            **{f"{s}_accuracy": hits[s] / n if n else 0.0 for s in SCORINGS}}


def benchmark_scores(records: Sequence[dict], rows: Sequence[dict]) -> dict[str, Any]:
    """The extra scores of the benchmarks present in `records` (rows: `score_predictions`'s)."""
    out: dict[str, Any] = {}
    picked = {"mmvp": lambda t: t == "mmvp", "vstar": lambda t: t.startswith(VSTAR_PREFIX)}
    scorers = {"mmvp": mmvp_scores, "vstar": vstar_scores}
    for name, wanted in picked.items():
        chosen = [(r, row["correct"]) for r, row in zip(records, rows) if wanted(r["task"])]
        if chosen:
            out[name] = scorers[name]([r for r, _ in chosen], [ok for _, ok in chosen])
    vsp = [(r, row["parsed"]) for r, row in zip(records, rows) if r["task"] == "vsp"]
    if vsp:
        out["vsp"] = vsp_scores([r for r, _ in vsp], [p for _, p in vsp])
    return out


def normalise_text(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (VQA-style)."""
    text = text.lower().translate(str.maketrans({c: " " for c in string.punctuation}))
    return " ".join(_ARTICLES.sub(" ", text).split())


def text_match(prediction: str, answer: str) -> bool:
    """Whether a free-text prediction gives `answer`: equal after normalisation, or the answer's
    words appear as a whole-word run in the prediction ("It is red." answers "red")."""
    p, a = normalise_text(prediction), normalise_text(answer)
    if not a:
        return False
    return p == a or f" {a} " in f" {p} "
