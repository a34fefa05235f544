"""What the `easy` level of jigsaw, art_style, visual_similarity and relative_reflectance changes,
measured on the generated records: a simple pixel heuristic that the paper's rules defeat scores
(nearly) perfectly at the easy level, and the easy records carry the level's settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from livr.data.synth import generate_split, level_knobs

N = 32


def records(task: str, level: str) -> list[dict]:
    return generate_split(task, "test", N, seed=0, level=level)


def meta(record: dict) -> dict:
    return json.loads(record["metadata"])


def accuracy(recs: list[dict], heuristic) -> float:
    return float(np.mean([heuristic(r) == r["answer"] for r in recs]))


def pixels(im) -> np.ndarray:
    return np.asarray(im, np.float32)


def mean_colour(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, 3).mean(0)


@pytest.mark.parametrize("task", ["jigsaw", "art_style", "visual_similarity", "relative_reflectance"])
def test_easy_level_is_declared_after_the_paper_one(task):
    from livr.data.synth import levels

    names = list(levels(task))
    assert names[0] == "paper" and "easy" in names and level_knobs(task, "easy")


def test_jigsaw_easy_distractor_is_another_photo_of_another_colour():
    def colour_match(r):  # the option whose mean colour is closer to the visible canvas
        canvas, a, b = (pixels(im) for im in r["images"])
        h, w = canvas.shape[0] // 2, canvas.shape[1] // 2
        seen = mean_colour(np.concatenate([canvas[:h].reshape(-1, 3), canvas[h:, :w].reshape(-1, 3)]))
        da, db = (np.abs(mean_colour(x) - seen).mean() for x in (a, b))
        return "A" if da < db else "B"

    easy, paper = records("jigsaw", "easy"), records("jigsaw", "paper")
    for r in easy:
        m = meta(r)
        assert m["distractor_photo"] != m["photo"] and m["colour_gap"] >= 30
        assert m["distractor_box_canvas"] is None
    assert accuracy(easy, colour_match) == 1.0
    assert accuracy(paper, colour_match) <= 0.75


def test_art_style_easy_has_three_styles_each_with_its_own_colour():
    def nearest_mean_colour(r):
        ref, a, b = (mean_colour(pixels(im)) for im in r["images"])
        return "A" if np.abs(ref - a).sum() < np.abs(ref - b).sum() else "B"

    easy, paper = records("art_style", "easy"), records("art_style", "paper")
    assert {s for r in easy for s in meta(r)["styles"]} <= {"watercolour", "mosaic", "cross-hatching"}
    assert len({s for r in paper for s in meta(r)["styles"]}) > 3
    assert accuracy(easy, nearest_mean_colour) >= 0.9
    assert accuracy(paper, nearest_mean_colour) <= 0.75


def test_visual_similarity_easy_recolours_the_structural_variant():
    def pixel_mse(r):
        ref, a, b = (pixels(im) for im in r["images"])
        return "A" if ((ref - a) ** 2).mean() < ((ref - b) ** 2).mean() else "B"

    easy, paper = records("visual_similarity", "easy"), records("visual_similarity", "paper")
    for r in easy:
        ops = meta(r)["transforms"]
        assert {op["op"] for op in ops["mild"]} <= {"blur", "nudge"}
        assert [op["op"] for op in ops["structural"]] == ["recolour"]
    easy_acc, paper_acc = accuracy(easy, pixel_mse), accuracy(paper, pixel_mse)
    assert easy_acc >= 0.95 and easy_acc > paper_acc


def test_relative_reflectance_easy_pixels_show_the_albedo():
    from livr.data.synth.relative_reflectance import LUMA, _srgb_lut, disk_mean, label_from_luminance

    def read_pixels(r):  # the paper's rule applied to the rendered pixels at the marked points
        y = disk_mean(np.asarray(r["images"][0]), np.array(meta(r)["points"]), lut=_srgb_lut()) @ LUMA
        return label_from_luminance(float(y[0]), float(y[1]))

    easy, paper = records("relative_reflectance", "easy"), records("relative_reflectance", "paper")
    for r in easy:
        m = meta(r)
        assert not m["shading_misleads"] and m["shading"] == {"flat": True}
        assert r["answer"] == "C" or m["rel"] > 0.75
        (xa, _), (xb, _) = m["points"]
        assert xa < 0.4 * 256 < 0.6 * 256 < xb  # A on the left, B on the right
    # the larger marks: red ring pixels 16 px from every marked point
    r = easy[0]
    img = pixels(r["images"][0])
    for x, y in meta(r)["points"]:
        ring = img[y, x + 15 : x + 18]
        assert ((ring[:, 0] > 180) & (ring[:, 1] < 80)).any()
    assert accuracy(easy, read_pixels) >= 0.95
    assert accuracy(paper, read_pixels) <= 0.8
