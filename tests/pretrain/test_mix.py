"""The pretraining mix: determinism, curriculum, balance, answers checked against pixels and
metadata, train-only photos, prompts disjoint from the evaluation tasks, vocabulary coverage."""

from __future__ import annotations

import collections
import re

import numpy as np
import pytest

import livr.data.synth._common as common
from livr.data.photos import PHOTO_SPLITS
from livr.data.prompts import MCQ_SUFFIX, QUESTIONS
from livr.errors import ConfigError
from livr.pretrain.mix import (
    FAMILIES,
    GRID_STEPS,
    LEVELS,
    SKILL_LEVEL,
    SKILL_TEMPLATES,
    families_at,
    generate_family,
    generate_mix,
    mix_vocabulary_text,
)
from livr.pretrain.scenes import NAMED_COLOURS, quadrant_of


def _objects(rec: dict, image: int = 0) -> list[dict]:
    return rec["metadata"]["images"][image]["objects"]


def _luma(img, box=None) -> float:
    a = np.asarray(img if box is None else img.crop(box), dtype=np.float64)
    return float((a @ [0.299, 0.587, 0.114]).mean())


def _same(a: list[dict], b: list[dict]) -> bool:
    return all(
        x["id"] == y["id"] and x["prompt"] == y["prompt"] and x["answer"] == y["answer"]
        and x["metadata"] == y["metadata"]
        and [im.tobytes() for im in x["images"]] == [im.tobytes() for im in y["images"]]
        for x, y in zip(a, b, strict=True)
    )


def test_same_arguments_give_identical_records_and_others_differ():
    a = generate_mix(14, seed=5, level=2)
    assert _same(a, generate_mix(14, seed=5, level=2))
    assert _same(a[:6], generate_mix(6, seed=5, level=2))  # a prefix of a longer run
    for other in (generate_mix(14, seed=5, level=2, split="heldout"), generate_mix(14, seed=6, level=2)):
        assert [r["prompt"] for r in other] != [r["prompt"] for r in a]
        assert [r["images"][0].tobytes() for r in other] != [r["images"][0].tobytes() for r in a]


@pytest.mark.parametrize("level", LEVELS)
def test_each_level_draws_its_families_in_equal_shares(level):
    fams = families_at(level)
    if level == SKILL_LEVEL:  # the skill level holds only the families that start there
        assert fams == [f for f, info in FAMILIES.items() if info.min_level == level] == ["grid_step"]
    else:
        assert fams == [f for f, info in FAMILIES.items() if info.min_level <= level]
    recs = generate_mix(2 * len(fams), seed=1, level=level, image_size=56)
    counts = collections.Counter(r["task"] for r in recs)
    assert counts == {f"pretrain/{f}": 2 for f in fams}
    for r in recs:
        assert all(im.mode == "RGB" and im.size == (56, 56) for im in r["images"])
        want = FAMILIES[r["metadata"]["family"]].images or len(r["images"])
        assert len(r["images"]) == want in (1, 2)


def test_answers_are_balanced():
    recs = generate_family("choice", 400, seed=2, level=1)
    by_k = collections.defaultdict(list)
    for r in recs:
        by_k[len(r["metadata"]["options"])].append(r["answer"])
    assert set(by_k) == {2, 3, 4}
    for k, letters in by_k.items():
        counts = collections.Counter(letters)
        assert set(counts) == set("ABCD"[:k])
        assert all(abs(c / len(letters) - 1 / k) <= 0.15 / k for c in counts.values()), (k, counts)
    for family, values in (("exists", {"yes", "no"}), ("relation", {"left", "right", "above", "below"}),
                           ("count", {"1", "2", "3", "4"})):
        counts = collections.Counter(r["answer"] for r in generate_family(family, 96, seed=2, level=1))
        assert set(counts) == values
        assert max(counts.values()) - min(counts.values()) <= 0.15 * 96 / len(values), (family, counts)


def _check_colour(r):
    o = _objects(r)[0]
    assert o["colour"] == r["answer"]
    pixel = r["images"][0].getpixel((round(o["cx"]), round(o["cy"])))
    assert pixel == NAMED_COLOURS[r["answer"]]
    assert all(p["shape"] != o["shape"] for p in _objects(r)[1:])  # "the <shape>" is unique


def _check_shape(r):
    o = _objects(r)[0]
    assert o["shape"] == r["answer"] and all(p["colour"] != o["colour"] for p in _objects(r)[1:])


def _check_position(r):
    o = _objects(r)[0]
    quadrant = quadrant_of(o["cx"], o["cy"], r["images"][0].width)
    assert r["answer"] == quadrant or r["answer"] in quadrant.split()


def _check_count(r):
    filt = r["metadata"]["filter"]
    hits = [o for o in _objects(r) if o["colour"] == filt.get("colour", o["colour"])
            and o["shape"] + "s" == filt.get("shapes", o["shape"] + "s")]
    assert str(len(hits)) == r["answer"]


def _check_exists(r):
    q, kind = r["metadata"]["query"], r["metadata"]["kind"]
    keys = {"full": ("colour", "shape"), "colour": ("colour",), "shape": ("shape",)}[kind]
    found = any(all(o[k] == q[k] for k in keys) for o in _objects(r))
    assert r["answer"] == ("yes" if found else "no")


def _check_size(r):
    a, b = _objects(r)[:2]
    a_big = a["area"] > b["area"]
    kind = r["metadata"]["kind"]
    if kind.startswith("yn"):
        assert (r["answer"] == "yes") == (a_big == (kind == "yn_bigger"))
    else:
        big, small = (a, b) if a_big else (b, a)
        want = big if kind == "bigger" else small
        assert r["answer"] == f"{want['colour']} {want['shape']}"


def _check_relation(r):
    a, b = _objects(r)[:2]
    axis = "cx" if r["metadata"]["kind"] == "lr" else "cy"
    lower = a[axis] < b[axis]
    assert r["answer"] == ({"cx": "left", "cy": "above"} if lower else {"cx": "right", "cy": "below"})[axis]


def _check_brightness(r):
    img, size = r["images"][0], r["images"][0].width
    h = size // 2
    boxes = {"left": (0, 0, h, size), "right": (size - h, 0, size, size),
             "top": (0, 0, size, h), "bottom": (0, size - h, size, size)}
    bright = r["metadata"]["images"][0]["bright_half"]
    opposite = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}[bright]
    assert _luma(img, boxes[bright]) > _luma(img, boxes[opposite]) + 30
    if r["metadata"]["kind"] != "yn":
        assert r["answer"] == (bright if r["metadata"]["ask"] == "brighter" else opposite)


def _check_pair_brighter(r):
    first_brighter = _luma(r["images"][0]) > _luma(r["images"][1])
    want_first = first_brighter == (r["metadata"]["kind"] == "brighter")
    assert r["answer"] == ("first" if want_first else "second")


def _check_pair_which(r):
    q, kind = r["metadata"]["query"], r["metadata"]["kind"]
    keys = {"full": ("colour", "shape"), "colour": ("colour",), "shape": ("shape",)}[kind]
    has = [any(all(o[k] == q[k] for k in keys) for o in _objects(r, i)) for i in (0, 1)]
    assert has == [r["answer"] == "first", r["answer"] == "second"]


def _check_pair_same(r):
    attr = r["metadata"]["kind"]
    same = _objects(r, 0)[0][attr] == _objects(r, 1)[0][attr]
    assert r["answer"] == ("yes" if same else "no")


def _check_describe(r):
    o = _objects(r)[0]
    quadrant = quadrant_of(o["cx"], o["cy"], r["images"][0].width)
    assert r["answer"] == f"a {r['metadata']['size_word']} {o['colour']} {o['shape']} at the {quadrant}"


def _check_grid_step(r):
    meta = r["metadata"]
    a, b = _objects(r)[:2]
    step = (meta["b_cell"][0] - meta["a_cell"][0], meta["b_cell"][1] - meta["a_cell"][1])
    assert GRID_STEPS[r["answer"]] == step
    img, cells = r["images"][0], meta["cells"]
    cell = img.width / cells
    for o, (row, col) in ((a, meta["a_cell"]), (b, meta["b_cell"])):
        # each object is drawn in its cell: its fill at the cell centre, and inside the cell
        assert (o["cx"], o["cy"]) == ((col + 0.5) * cell, (row + 0.5) * cell)
        assert img.getpixel((int(o["cx"]), int(o["cy"]))) == NAMED_COLOURS[o["colour"]]
        assert o["r"] < cell / 2
    # the question names the two objects, the first one first where the sentence is "from a to b"
    assert f"{a['colour']} {a['shape']}" in r["prompt"] and f"{b['colour']} {b['shape']}" in r["prompt"]
    others = [f"{o['colour']} {o['shape']}" for o in _objects(r)[2:]]
    assert f"{a['colour']} {a['shape']}" not in others and f"{b['colour']} {b['shape']}" not in others


def _check_marker(r):
    o = _objects(r)[0]
    assert r["answer"] == o[r["metadata"]["kind"].split("_")[1]]
    m = r["metadata"]["images"][0]["marker"]
    if m["marker"] == "arrow":  # the tip sits just outside the target
        assert np.hypot(m["tip"][0] - o["cx"], m["tip"][1] - o["cy"]) <= o["r"] + 3


CHECKS = {
    "colour": _check_colour, "shape": _check_shape, "position": _check_position, "count": _check_count,
    "exists": _check_exists, "size": _check_size, "relation": _check_relation,
    "brightness": _check_brightness, "pair_brighter": _check_pair_brighter,
    "pair_which": _check_pair_which, "pair_same": _check_pair_same, "describe": _check_describe,
    "marker": _check_marker, "grid_step": _check_grid_step,
}


def test_answers_agree_with_pixels_and_metadata():
    assert set(CHECKS) == set(FAMILIES) - {"choice"}
    for family, check in CHECKS.items():
        for r in generate_family(family, 12, seed=3, level=max(2, FAMILIES[family].min_level)):
            check(r)
    for r in generate_family("choice", 40, seed=3, level=2):
        meta = r["metadata"]
        assert meta["options"]["ABCD".index(r["answer"])] == meta["base_answer"]
        assert len(set(meta["options"])) == len(meta["options"])
        CHECKS[meta["base"]]({**r, "answer": meta["base_answer"]})


def test_photos_come_only_from_the_train_split(monkeypatch):
    asked = []
    real = common.photo_names_for_split

    def recording(split):
        asked.append(split)
        return real(split)

    monkeypatch.setattr(common, "photo_names_for_split", recording)
    recs = generate_mix(42, seed=4, level=2, split="heldout")
    assert asked and set(asked) == {"train"}
    photos = [img["background"]["photo"] for r in recs for img in r["metadata"]["images"]
              if img["background"]["kind"] == "photo"]
    assert photos and all(PHOTO_SPLITS[p] == "train" for p in photos)


def test_prompts_avoid_the_evaluation_formats_and_answers_are_short():
    recs = [r for level in LEVELS for r in generate_mix(60, seed=7, level=level)]
    eval_texts = set(QUESTIONS.values())
    for r in recs:
        p = r["prompt"]
        for banned in (MCQ_SUFFIX, "(A)", "(B)", "Select from the following", "How many", "REF"):
            assert banned not in p, (banned, p)
        assert p not in eval_texts and p.strip() == p
        assert 1 <= len(r["answer"].split()) <= 8


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]", text))


def test_vocabulary_covers_every_emitted_word():
    vocab = set().union(*map(_words, mix_vocabulary_text()))
    recs = [r for level in LEVELS if level != SKILL_LEVEL for r in generate_mix(56, seed=8, level=level)]
    emitted = set().union(*(_words(r["prompt"] + " " + r["answer"]) for r in recs))
    assert emitted <= vocab, emitted - vocab


def test_the_skill_level_leaves_the_tokenizer_corpus_alone_and_the_shipped_tokenizer_reads_it():
    # the shipped livr-tiny tokenizer was trained on mix_vocabulary_text before level 3 existed
    corpus = "\n".join(mix_vocabulary_text())
    for templates in SKILL_TEMPLATES.values():
        for t in templates:
            assert t.format(a="red circle", b="blue star") not in corpus
    from transformers import AutoTokenizer

    from livr.pretrain.base import ASSET_DIR

    tokenizer = AutoTokenizer.from_pretrained(str(ASSET_DIR))
    for r in generate_mix(24, seed=9, level=SKILL_LEVEL):
        ids = tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == r["prompt"] and tokenizer.unk_token_id not in ids
        assert len(ids) <= 60  # whole words and pieces, not a byte per character


def test_grid_step_answers_are_balanced_and_the_level_holds_nothing_else():
    recs = generate_mix(80, seed=2, level=SKILL_LEVEL)
    assert collections.Counter(r["answer"] for r in recs) == {k: 20 for k in GRID_STEPS}
    assert {r["task"] for r in recs} == {"pretrain/grid_step"}
    with pytest.raises(ConfigError, match="draws only grid_step"):
        generate_family("colour", 1, seed=0, level=SKILL_LEVEL)


@pytest.mark.parametrize("kwargs", [dict(level=4), dict(level=0, split="test"), dict(level=0, image_size=20)])
def test_bad_arguments_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        generate_mix(2, seed=0, **kwargs)


def test_a_family_is_refused_below_its_level():
    with pytest.raises(ConfigError, match="starts at level 2"):
        generate_family("marker", 1, seed=0, level=1)
    with pytest.raises(ConfigError, match="unknown family"):
        generate_family("jigsaw", 1, seed=0, level=2)
