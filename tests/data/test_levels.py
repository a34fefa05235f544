"""Difficulty levels of the offline generators (`LEVELS` in each livr.data.synth module): the paper's
rules stay the default, and at every level the records stay deterministic, balanced, disjoint
across splits and free of train/test near-duplicates (the leakage guard of `livr train`).
What each level changes is tested beside each generator's own tests."""

from __future__ import annotations

import collections
import json

import pytest

from livr.cli.main import main
from livr.data.synth import DEFAULT_LEVEL, generate_split, level_knobs, levels
from livr.data.tasks import TASK_NAMES, get_task
from livr.errors import ConfigError

N = 36  # divisible by 2, 3, 4 and 6 (choices, vsp grid sizes) and at least 9 counts
PAIRS = [(task, level) for task in TASK_NAMES for level in levels(task)]


def image_bytes(record) -> list[bytes]:
    return [im.tobytes() for im in record["images"]]


def strip(record) -> dict:
    return {k: v for k, v in record.items() if k != "images"}


@pytest.mark.parametrize("task", TASK_NAMES)
def test_paper_level_first_and_empty(task):
    names = list(levels(task))
    assert names[0] == DEFAULT_LEVEL and levels(task)[DEFAULT_LEVEL] == {}
    assert all(name.isidentifier() for name in names)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_default_is_the_paper_level(task):
    a = generate_split(task, "test", 3, seed=5)
    b = generate_split(task, "test", 3, seed=5, level="paper")
    assert [image_bytes(r) for r in a] == [image_bytes(r) for r in b]
    assert [strip(r) for r in a] == [strip(r) for r in b]


def test_unknown_level_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"no level 'hardest'.*paper"):
        generate_split("counting", "test", 2, seed=0, level="hardest")


def test_cli_rejects_an_unknown_level(tmp_path, capsys):
    code = main(["data", "synth", "--task", "localization", "--level", "nope", "--train", "2", "--val", "2",
                 "--test", "2", "--out", str(tmp_path / "d"), "--no-progress"])
    assert code == 2
    assert "--level" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.fixture(scope="module")
def generated():
    """{(task, level): {split: records}} for every level other than the paper's (tested elsewhere)."""
    out = {}
    for task, level in PAIRS:
        if level != DEFAULT_LEVEL:
            out[task, level] = {split: generate_split(task, split, n, seed=0, level=level)
                                for split, n in (("train", N), ("validation", 12), ("test", N))}
    return out


EASIER = [p for p in PAIRS if p[1] != DEFAULT_LEVEL]


def test_every_task_has_an_easier_level():
    assert {task for task, _ in EASIER} == set(TASK_NAMES)


@pytest.mark.parametrize(("task", "level"), EASIER)
def test_same_question_choices_and_answer_format(generated, task, level):
    info = get_task(task)
    paper = generate_split(task, "test", 8, seed=0)
    for record in generated[task, level]["test"]:
        assert record["task"] == task and len(record["images"]) == info.num_images
        assert len(record["choices"]) == info.num_choices
        assert record["question"].split()[:2] == paper[0]["question"].split()[:2]
        if info.answer_kind == "choice":
            assert record["answer"] in "ABCD"[: info.num_choices]
        elif info.answer_kind == "count":
            assert record["answer"].isdigit()
    if len({tuple(r["choices"]) for r in paper}) == 1:  # fixed options stay the same options
        assert {tuple(r["choices"]) for r in generated[task, level]["test"]} == {tuple(paper[0]["choices"])}


@pytest.mark.parametrize(("task", "level"), EASIER)
def test_deterministic(task, level):
    a = generate_split(task, "test", 4, seed=3, level=level)
    b = generate_split(task, "test", 4, seed=3, level=level)
    c = generate_split(task, "test", 4, seed=4, level=level)
    assert [image_bytes(r) for r in a] == [image_bytes(r) for r in b]
    assert [strip(r) for r in a] == [strip(r) for r in b]
    assert [image_bytes(r) for r in a] != [image_bytes(r) for r in c]


@pytest.mark.parametrize(("task", "level"), EASIER)
def test_balanced(generated, task, level):
    info = get_task(task)
    counts = collections.Counter(r["answer"] for r in generated[task, level]["train"])
    if info.answer_kind == "choice":
        assert set(counts) == set("ABCD"[: info.num_choices])
    if info.answer_kind in ("choice", "count"):
        assert max(counts.values()) - min(counts.values()) <= 1, counts


@pytest.mark.parametrize(("task", "level"), EASIER)
def test_splits_share_no_image_and_no_source_photo(generated, task, level):
    by_split = generated[task, level]
    seen = {split: {b for r in recs for b in image_bytes(r)} for split, recs in by_split.items()}
    assert not seen["train"] & seen["test"] and not seen["validation"] & seen["test"]
    photos = {split: {json.loads(r["metadata"]).get("photo") for r in recs} - {None}
              for split, recs in by_split.items()}
    assert not photos["train"] & photos["test"] and not photos["validation"] & photos["test"]


@pytest.mark.parametrize(("task", "level"), EASIER)
def test_no_near_duplicates_of_test_images(generated, task, level):
    """What the leakage guard of `livr train` (default: refuse) would flag."""
    from livr.data.leakage import find_leaks
    from livr.data.synth import shrink_images

    splits = {s: shrink_images([dict(r) for r in recs], 112) for s, recs in generated[task, level].items()}
    leaks = find_leaks({"train": splits["train"], "validation": splits["validation"]}, splits["test"])
    assert leaks == []


@pytest.mark.parametrize(("task", "level"), EASIER)
def test_a_level_is_its_knobs(task, level):
    knobs = level_knobs(task, level)
    assert knobs, f"{task}/{level} changes nothing"
    a = generate_split(task, "validation", 2, seed=1, level=level)
    b = generate_split(task, "validation", 2, seed=1, **knobs)
    assert [image_bytes(r) for r in a] == [image_bytes(r) for r in b]
