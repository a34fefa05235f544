"""What the easy levels of semantic_correspondence, functional_correspondence and vsp change
(`LEVELS` in their modules), measured on generated records against the paper's level."""

from __future__ import annotations

import json

import numpy as np
import pytest

from livr.data.synth import generate_split, level_knobs

N = 24


def red_pixels(image) -> int:
    """Pixels of the marks' red (MARK_RED, 230/20/20) in an image."""
    a = np.asarray(image).astype(int)
    return int(((a[..., 0] > 200) & (a[..., 1] < 60) & (a[..., 2] < 60)).sum())


def correspondence_stats(task: str, level: str) -> dict:
    records = generate_split(task, "validation", N, seed=2, level=level)
    nearest, seps, same, rotations, red, blue, ordered = [], [], [], [], [], [], []
    for r in records:
        m = json.loads(r["metadata"])
        k1, k2 = np.array(m["keypoints_1"]), np.array(m["keypoints_2"])
        cand = k2[m["candidate_indices"]]
        # the true candidate is where REF is, on the other object
        nearest.append(int(np.argmin(np.linalg.norm(cand - k1[m["ref_index"]], axis=1))) == "ABCD".index(r["answer"]))
        d = np.linalg.norm(cand[:, None] - cand[None], axis=2)
        seps.append(d[np.triu_indices(4, 1)].min())
        ordered.append(bool(np.all(np.diff(cand[:, 0]) > 0)))  # A-D from left to right
        p1, p2 = m["pose_1"], m["pose_2"]
        same.append(p1["rotation_deg"] == p2["rotation_deg"] and p1["mirrored"] == p2["mirrored"])
        rotations.append(p1["rotation_deg"])
        red.append(red_pixels(r["images"][1]))
        a = np.asarray(r["images"][1]).astype(int)
        blue.append(int((np.abs(a - np.array([35, 85, 230])).max(axis=2) < 12).sum()) >= 20)  # the B label
    return {"nearest": np.mean(nearest), "min_sep": min(seps), "same_pose": np.mean(same),
            "rotations": len(set(rotations)), "red": np.mean(red), "blue_b": np.mean(blue),
            "ordered": np.mean(ordered)}


@pytest.mark.parametrize("task", ["semantic_correspondence", "functional_correspondence"])
def test_easy_correspondence_keeps_the_pose_and_enlarges_the_marks(task):
    paper, easy = correspondence_stats(task, "paper"), correspondence_stats(task, "easy")
    # both objects of a record in one pose (the paper rotates and mirrors them independently),
    # which still varies from record to record
    assert easy["same_pose"] == 1.0 and paper["same_pose"] < 0.2
    if task == "semantic_correspondence":  # the tools of functional_correspondence lie level
        assert easy["rotations"] > N // 2
    # so the true point sits (almost always) where REF is, far more often than at the paper's level
    assert easy["nearest"] >= 0.75 and easy["nearest"] >= paper["nearest"] + 0.2
    # letters from left to right (at random at the paper's level), candidates farther apart than the
    # level's min_sep, and larger red marks
    assert easy["ordered"] == 1.0 and paper["ordered"] < 0.3
    assert easy["min_sep"] >= level_knobs(task, "easy")["min_sep"] * 320 - 1e-6 > paper["min_sep"]
    assert easy["red"] > 3 * paper["red"]
    # each letter in its own colour: a blue B beside its red ring
    assert easy["blue_b"] > 0.9 and paper["blue_b"] < 0.3


def test_easy_correspondence_backgrounds_are_plainer():
    """A larger grey blend: less photo detail (pixel spread) around the object."""
    def spread(level):
        recs = generate_split("semantic_correspondence", "validation", N, seed=2, level=level)
        return np.median([np.asarray(r["images"][0].convert("L"))[:40, :40].std() for r in recs])

    assert spread("easy") < 0.8 * spread("paper")


def ice_tile_brightness(record) -> set[int]:
    """The brightness of a plain stretch of every ice tile of a vsp map (rounded)."""
    m = json.loads(record["metadata"])
    grey = np.asarray(record["images"][0].convert("L")).astype(float)
    cell = grey.shape[0] // m["size"]
    return {round(grey[i * cell + cell // 4, j * cell + cell - cell // 8] / 4)
            for i, row in enumerate(m["grid"]) for j, kind in enumerate(row) if kind == "F"}


def test_easy_vsp_is_one_move_on_small_maps_with_shaded_tiles():
    paper_records = generate_split("vsp", "train", N, seed=2)
    records = generate_split("vsp", "train", N, seed=2, level="easy")
    paper, easy = ([json.loads(r["metadata"]) for r in recs] for recs in (paper_records, records))
    assert {m["size"] for m in easy} == {4} and len({m["size"] for m in paper}) == 6
    assert all(m["plan_length"] == 1 for m in easy) and max(m["plan_length"] for m in paper) > 3
    for r, m in zip(records, easy):  # still a valid shortest "Action plan: ..." for the 4x4 question
        assert r["answer"] in {"Action plan: L", "Action plan: D", "Action plan: R", "Action plan: U"}
        assert r["question"].startswith("You are a maze solver") and "4x4 grid" in r["question"]
    # every answer occurs (the gift is beside the elf on any side)
    assert len({r["answer"] for r in records}) == 4
    # the ice tiles of one map are shaded differently (at the paper's level they are all alike)
    assert all(len(ice_tile_brightness(r)) == 1 for r in paper_records)
    assert np.mean([len(ice_tile_brightness(r)) > 1 for r in records]) > 0.9


def test_medium_vsp_is_3x3_with_few_holes_and_short_plans():
    # the train split: the small splits hold few 3x3 maps, so never repeating a map there takes more holes
    paper = [json.loads(r["metadata"]) for r in generate_split("vsp", "train", N, seed=2)]
    medium = [json.loads(r["metadata"]) for r in generate_split("vsp", "train", N, seed=2, level="medium")]
    assert {m["size"] for m in medium} == {3} and all(1 <= m["plan_length"] <= 3 for m in medium)

    def holes(metadata):
        return np.mean([sum(row.count("H") for row in m["grid"]) / (m["size"] ** 2 - 2) for m in metadata])

    assert holes(medium) < 0.15 < holes(paper)
