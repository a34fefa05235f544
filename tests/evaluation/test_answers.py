"""Answer extraction and scoring (shared by validation during training and `livr eval`)."""

import json

import pytest

from livr.evaluation.answers import extract_choice, extract_count, is_correct, score

CHOICES = ["the second image", "the third image"]


@pytest.mark.parametrize("text,letter", [
    ("B", "B"), ("(B)", "B"), (" (B) the third image", "B"), ("B.", "B"), ("A: yes", "A"),
    ("the third image", "B"), ("I think it is the second image.", "A"),
    ("The answer is B", None),  # not read as "T"; no choice text either
    ("the second image or the third image", None),  # two choices named: no answer
    ("", None), ("banana", None),
])
def test_extract_choice(text, letter):
    assert extract_choice(text, CHOICES) == letter


@pytest.mark.parametrize("text,count", [
    ("3", 3), ("There are 12 cows.", 12), ("three", 3), ("Seven apples", 7), ("none", None),
    ("2 or 3", 2), ("twenty", 20), ("0", 0),
])
def test_extract_count(text, count):
    assert extract_count(text) == count


def test_is_correct_by_kind():
    mcq = {"task": "jigsaw", "answer": "B", "choices": CHOICES, "metadata": "{}"}
    assert is_correct(mcq, "(B)") and not is_correct(mcq, "A") and not is_correct(mcq, "")
    count = {"task": "counting", "answer": "4", "choices": [], "metadata": "{}"}
    assert is_correct(count, "four") and is_correct(count, "4") and not is_correct(count, "14")
    vsp = {"task": "vsp", "answer": "Action plan: R, D", "choices": [],
           "metadata": json.dumps({"grid": ["SF", "HG"]})}
    assert is_correct(vsp, "Action plan: R, D") and is_correct(vsp, "Action plan: RIGHT, DOWN")
    assert not is_correct(vsp, "Action plan: D, R")  # steps into the hole


def test_score_per_task():
    records = [{"task": "jigsaw", "answer": "A", "choices": CHOICES},
               {"task": "jigsaw", "answer": "B", "choices": CHOICES},
               {"task": "counting", "answer": "2", "choices": []}]
    report = score(records, ["A", "A", "two"])
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["per_task"] == {"counting": 1.0, "jigsaw": 0.5}


# ---------------------------------------------------------------- parsing and chance


def test_parse_answer_per_kind():
    from livr.evaluation.answers import parse_answer

    mcq = {"task": "localization", "choices": ["left box", "right box"], "answer": "B"}
    assert parse_answer(mcq, "(B) right") == "B"
    assert parse_answer(mcq, "the right box") == "B"
    assert parse_answer(mcq, "no idea") is None
    count = {"task": "counting", "choices": [], "answer": "4"}
    assert parse_answer(count, "four") == 4 and parse_answer(count, "many") is None
    plan = {"task": "vsp", "choices": [], "answer": "Action plan: R, D", "metadata": '{"grid": ["SF", "FG"]}'}
    assert parse_answer(plan, "Action plan: R, D") == ["R", "D"]
    assert parse_answer(plan, "go right then down") is None


def test_random_accuracy_per_kind():
    from livr.evaluation.answers import random_accuracy

    records = [{"task": "localization", "choices": ["a", "b"], "answer": "A"},
               {"task": "visual_correspondence", "choices": ["a", "b", "c", "d"], "answer": "C"},
               *({"task": "counting", "choices": [], "answer": str(c)} for c in (2, 3, 3, 5))]
    assert random_accuracy(records) == pytest.approx([0.5, 0.25, 1 / 3, 1 / 3, 1 / 3, 1 / 3])


def test_random_plan_success_matches_enumeration():
    """The dynamic programme against brute force over all 4^n plans."""
    import itertools

    from livr.data.synth.vsp import simulate_plan
    from livr.evaluation.answers import random_plan_success

    grids = [["SFF", "FHF", "FFG"], ["SH", "FG"], ["FFFS", "FHHF", "GFFF", "FFHF"]]
    for grid in grids:
        for n in range(1, 6):
            wins = sum(simulate_plan(grid, "Action plan: " + ", ".join(p)) for p in itertools.product("LDRU", repeat=n))
            assert random_plan_success(grid, n) == pytest.approx(wins / 4 ** n)
