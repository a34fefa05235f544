"""What the easier levels of counting, localization and visual_correspondence change, measured on
generated records (the generic level contract is tested in test_levels.py)."""

from __future__ import annotations

import json

import numpy as np

from livr.data.synth import generate_split

N = 16


def meta(record) -> dict:
    return json.loads(record["metadata"])


def box_area(box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def test_counting_easy_has_no_distractors_larger_shapes_and_a_narrow_range():
    paper = generate_split("counting", "validation", N, seed=0)
    easy = generate_split("counting", "validation", N, seed=0, level="easy")
    assert all(meta(r)["distractors"] for r in paper)
    assert not any(meta(r)["distractors"] for r in easy)
    counts = [int(r["answer"]) for r in easy]
    assert set(counts) == {1, 2, 3, 4} and [meta(r)["count"] for r in easy] == counts
    assert all(len(meta(r)["boxes"]) == int(r["answer"]) for r in easy)

    def mean_rel_area(records):  # target box area over the image area
        return np.mean([box_area(b) / (r["images"][0].width * r["images"][0].height)
                        for r in records for b in meta(r)["boxes"]])

    assert mean_rel_area(easy) > 2.5 * mean_rel_area(paper)
    # The softened photo is flatter: less grey-level spread away from the drawn shapes.
    def background_std(records):
        out = []
        for r in records:
            grey = np.asarray(r["images"][0].convert("L"), float)
            keep = np.ones(grey.shape, bool)
            for b in meta(r)["boxes"] + [d["box"] for d in meta(r)["distractors"]]:
                keep[b[1]:b[3], b[0]:b[2]] = False
            out.append(grey[keep].std())
        return np.mean(out)

    assert background_std(easy) < 0.6 * background_std(paper)


def test_counting_medium_distractors_share_neither_colour_nor_shape():
    medium = generate_split("counting", "validation", N, seed=0, level="medium")
    for r in medium:
        m = meta(r)
        assert 1 <= m["count"] <= 6 and 1 <= len(m["distractors"]) <= 3
        for d in m["distractors"]:
            colour, shape = d["label"].split()
            assert colour != m["colour"] and shape != m["shape"]


def test_localization_easy_separates_the_boxes_and_draws_bigger_marks():
    paper = generate_split("localization", "validation", N, seed=0)
    easy = generate_split("localization", "validation", N, seed=0, level="easy")
    assert min(meta(r)["iou"] for r in paper) >= 0.2
    assert max(meta(r)["iou"] for r in easy) <= 0.05
    assert not any("cut-out" in meta(r)["object"] for r in easy)
    # Box A is always red and box B blue, so the object is never drawn in a colour like theirs.
    assert len({tuple(meta(r)["box_colours"]) for r in paper}) > 1
    assert all(meta(r)["box_colours"] == ["red", "blue"] for r in easy)
    assert {meta(r)["object"].split()[0] for r in easy} <= {"green", "yellow", "white"}

    def box_colour_pixels(records):  # pixels exactly in the two box colours, per image area
        from livr.data.synth.localization import BOX_COLOURS

        out = []
        for r in records:
            arr = np.asarray(r["images"][0])
            hit = np.zeros(arr.shape[:2], bool)
            for c in meta(r)["box_colours"]:
                hit |= np.all(arr == BOX_COLOURS[c][0], axis=2)
            out.append(hit.mean())
        return np.mean(out)

    assert box_colour_pixels(easy) > 2 * box_colour_pixels(paper)


def test_visual_correspondence_easy_has_a_small_change_and_far_apart_big_marks():
    paper = generate_split("visual_correspondence", "validation", N, seed=0)
    easy = generate_split("visual_correspondence", "validation", N, seed=0, level="easy")

    def true_point_shift(records):  # how far the REF point moves between the two images
        out = []
        for r in records:
            m = meta(r)
            true = m["candidate_points"]["ABCD".index(r["answer"])]
            out.append(np.hypot(*np.subtract(true, m["ref_point"])) / np.hypot(*m["image_size"]))
        return np.mean(out)

    assert true_point_shift(easy) < 0.3 * true_point_shift(paper)
    def letters_left_to_right(r):
        xs = [p[0] for p in meta(r)["candidate_points"]]
        return xs == sorted(xs)

    assert all(letters_left_to_right(r) for r in easy)
    assert not all(letters_left_to_right(r) for r in paper)
    for r in easy:
        pts = np.array(meta(r)["candidate_points"])
        d = np.linalg.norm(pts[:, None] - pts[None], axis=2)[np.triu_indices(4, 1)]
        # the metadata rounds points to 0.01 px, so two may come up to ~0.015 px closer than drawn
        assert d.min() >= 0.3 * np.hypot(*meta(r)["image_size"]) - 0.015

    def red_pixels(records):  # the rings and labels, per image area of the candidate image
        from livr.data.synth.visual_correspondence import MARK_RED

        return np.mean([np.all(np.asarray(r["images"][1]) == MARK_RED, axis=2).mean() for r in records])

    assert red_pixels(easy) > 3 * red_pixels(paper)
