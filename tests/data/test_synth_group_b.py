"""Synthetic generators: art_style, semantic_correspondence, functional_correspondence,
relative_reflectance, visual_similarity.

Run as a script (`python tests/data/test_synth_group_b.py`) to write a contact sheet per task to
/tmp/synth_b_<task>.png for a visual check.
"""

from __future__ import annotations

import collections
import json
import sys

import datasets
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from livr.data.photos import photo_names_for_split
from livr.data.schema import FEATURES
from livr.data.synth import generate_split
from livr.data.synth.relative_reflectance import SAME_THRESHOLD, label_from_luminance, rel_difference
from livr.data.tasks import get_task

TASKS = [
    "art_style",
    "semantic_correspondence",
    "functional_correspondence",
    "relative_reflectance",
    "visual_similarity",
]
N = 24


@pytest.fixture(scope="module", params=TASKS)
def task_records(request):
    return request.param, generate_split(request.param, "train", N, seed=0)


def _meta(rec):
    return json.loads(rec["metadata"])


def test_records_fit_schema(task_records):
    task, recs = task_records
    info = get_task(task)
    ds = datasets.Dataset.from_list(recs[:12], features=FEATURES)
    assert len(ds) == 12
    for r in recs:
        assert r["task"] == task
        assert r["source"] == f"synthetic:{task}"
        assert len(r["images"]) == info.num_images
        assert len(r["choices"]) == info.num_choices
        assert r["answer"] in "ABCD"[: info.num_choices]
        assert r["prompt"].startswith(r["question"])
        for im in r["images"]:
            assert im.mode == "RGB" and 200 <= min(im.size) and max(im.size) <= 400


def test_ids_unique_and_formatted(task_records):
    task, recs = task_records
    ids = [r["id"] for r in recs]
    assert len(set(ids)) == len(ids)
    assert ids[0] == f"{task}-train-000000" and ids[-1] == f"{task}-train-{N - 1:06d}"


def test_answers_balanced(task_records):
    task, recs = task_records
    counts = collections.Counter(r["answer"] for r in recs)
    if task == "relative_reflectance":
        assert counts["C"] == round(N / 4)
        assert abs(counts["A"] - counts["B"]) <= 1
    else:
        k = get_task(task).num_choices
        per = [counts["ABCD"[i]] for i in range(k)]
        assert max(per) - min(per) <= 1, counts


def test_same_seed_same_records_and_other_seed_differs():
    for task in TASKS:
        a = generate_split(task, "validation", 3, seed=7)
        b = generate_split(task, "validation", 3, seed=7)
        c = generate_split(task, "validation", 3, seed=8)
        for ra, rb in zip(a, b):
            assert {k: v for k, v in ra.items() if k != "images"} == {k: v for k, v in rb.items() if k != "images"}
            assert [im.tobytes() for im in ra["images"]] == [im.tobytes() for im in rb["images"]]
        assert [im.tobytes() for im in a[0]["images"]] != [im.tobytes() for im in c[0]["images"]]


def test_photos_come_from_the_split():
    """Nothing a test example shows is cut from a photo of another split."""
    allowed = set(photo_names_for_split("test"))
    for task in ("art_style", "semantic_correspondence", "functional_correspondence", "visual_similarity"):
        for r in generate_split(task, "test", 6, seed=3):
            text = r["metadata"]
            used = {name for name in photo_names_for_split("train") + photo_names_for_split("validation")
                    if f'"{name}"' in text}
            assert not used, (task, used)
            assert any(f'"{name}"' in text for name in allowed) or '"photo"' not in text


# --- task-specific checks ---------------------------------------------------------------------


def test_art_style_answer_matches_styles_and_contents_differ():
    for r in generate_split("art_style", "validation", 16, seed=1):
        m = _meta(r)
        ref, a, b = m["styles"]
        pos = 1 if r["answer"] == "A" else 2
        assert m["styles"][pos] == ref and m["styles"][3 - pos] != ref
        srcs = [json.dumps(s, sort_keys=True) for s in m["contents"]]
        photos = [s["photo"] for s in m["contents"] if s["kind"] == "photo"]
        assert len(set(photos)) == len(photos)  # never two crops of one photo in an example
        assert len(set(srcs)) == 3 or any(s["kind"] == "scene" for s in m["contents"])


def test_art_style_mean_colour_heuristic_near_chance():
    recs = generate_split("art_style", "train", 160, seed=2)
    hits = []
    for r in recs:
        means = [np.asarray(im, np.float32).mean((0, 1)) for im in r["images"]]
        guess = "A" if np.linalg.norm(means[0] - means[1]) < np.linalg.norm(means[0] - means[2]) else "B"
        hits.append(guess == r["answer"])
    assert 0.35 <= np.mean(hits) <= 0.65, np.mean(hits)


@pytest.mark.parametrize("task", ["semantic_correspondence", "functional_correspondence"])
def test_correspondence_candidates(task):
    for r in generate_split(task, "train", 16, seed=4):
        m = _meta(r)
        cand = m["candidate_indices"]
        assert len(cand) == 4 and len(set(cand)) == 4
        assert cand["ABCD".index(r["answer"])] == m["ref_index"]
        pts = np.array(m["keypoints_2"])[cand]
        d = np.linalg.norm(pts[:, None] - pts[None], axis=2) + np.eye(4) * 1e9
        assert d.min() >= 0.1 * r["images"][1].width - 1
        w, h = r["images"][1].size
        assert np.all((pts >= 0) & (pts <= [w, h]))
        assert len(m["keypoint_names"]) == len(m["keypoints_1"]) == len(m["keypoints_2"])
        if task == "functional_correspondence":
            assert f'"{m["action"]}"' in r["question"]
            assert m["tools"][0] != m["tools"][1] and len(m["keypoint_names"]) == 5


def test_reflectance_label_follows_albedo_rule():
    recs = generate_split("relative_reflectance", "train", 40, seed=5)
    for r in recs:
        m = _meta(r)
        rel = rel_difference(m["YA"], m["YB"])
        assert abs(rel - m["rel"]) < 1e-4
        assert r["answer"] == label_from_luminance(m["YA"], m["YB"])
        assert (r["answer"] == "C") == (rel <= SAME_THRESHOLD)
        (xa, ya), (xb, yb) = m["points"]
        assert np.hypot(xa - xb, ya - yb) >= 0.2 * r["images"][0].width - 1


def test_reflectance_brightness_heuristic_is_misled():
    """The best threshold rule on observed brightness beats chance but is far from perfect."""
    recs = generate_split("relative_reflectance", "train", 200, seed=6)
    ms = [_meta(r) for r in recs]
    ans = np.array([r["answer"] for r in recs])
    oa = np.array([m["observed_YA"] for m in ms])
    ob = np.array([m["observed_YB"] for m in ms])
    rel = np.abs(oa - ob) / np.maximum(np.maximum(oa, ob), 1e-8)
    best = max(
        np.mean(np.where(rel <= t, "C", np.where(oa < ob, "A", "B")) == ans) for t in np.linspace(0, 1, 101)
    )
    assert 0.4 <= best <= 0.75, best
    assert abs(np.mean(ans == "C") - 0.25) < 0.02


def test_visual_similarity_pixel_mse_not_perfect():
    recs = generate_split("visual_similarity", "train", 160, seed=9)
    hits = []
    for r in recs:
        m = _meta(r)
        assert m["closer"] == r["answer"]
        assert m["transforms"]["mild"] and m["transforms"]["structural"]
        guess = "A" if m["pixel_mse"][0] < m["pixel_mse"][1] else "B"
        hits.append(guess == r["answer"])
    assert 0.55 <= np.mean(hits) <= 0.9, np.mean(hits)


def test_visual_similarity_margin_is_checked():
    from livr.errors import ConfigError

    with pytest.raises(ConfigError, match="margin"):
        generate_split("visual_similarity", "train", 1, seed=0, margin=2.0)


# --- contact sheets ----------------------------------------------------------------------------


def contact_sheet(records: list[dict], thumb: int = 200) -> Image.Image:
    """A grid with one row per record: its images side by side and the answer underneath."""
    font = ImageFont.load_default(size=14)
    rows = []
    for r in records:
        ims = [im.resize((thumb, round(thumb * im.height / im.width))) for im in r["images"]]
        height = max(im.height for im in ims) + 22
        row = Image.new("RGB", (max((thumb + 6) * len(ims), 420), height), "white")
        for j, im in enumerate(ims):
            row.paste(im, (j * (thumb + 6), 0))
        ImageDraw.Draw(row).text((3, height - 19), f"{r['id']}  answer: {r['answer']}", fill="black", font=font)
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height
    return sheet


def test_contact_sheet_renders(tmp_path):
    recs = generate_split("semantic_correspondence", "train", 2, seed=0)
    path = tmp_path / "sheet.png"
    contact_sheet(recs).save(path)
    assert Image.open(path).size[1] > 2 * 200


if __name__ == "__main__":
    for task in TASKS:
        out = f"/tmp/synth_b_{task}.png"
        contact_sheet(generate_split(task, sys.argv[1] if len(sys.argv) > 1 else "train", 6, seed=0)).save(out)
        print(out)
