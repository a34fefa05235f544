"""Offline generators: counting, jigsaw, localization, visual_correspondence, vsp."""

from __future__ import annotations

import collections
import json

import datasets
import numpy as np
import pytest

from livr.data.photos import photo_names_for_split
from livr.data.schema import FEATURES
from livr.data.synth import generate_split
from livr.data.synth import localization, visual_correspondence, vsp
from livr.data.synth._common import pick_photo
from livr.data.tasks import get_task

TASKS = ("counting", "jigsaw", "localization", "visual_correspondence", "vsp")
N = 24  # divisible by 2, 4 and 6 choices/levels, and at least the 9 counts


@pytest.fixture(scope="module")
def records():
    """{(task, split): records}, generated once for the module."""
    out = {}
    for task in TASKS:
        out[task, "validation"] = generate_split(task, "validation", N, seed=0)
        out[task, "test"] = generate_split(task, "test", 8, seed=0)
    return out


def meta(record) -> dict:
    return json.loads(record["metadata"])


def image_bytes(record) -> list[bytes]:
    return [im.tobytes() for im in record["images"]]


@pytest.mark.parametrize("task", TASKS)
def test_schema_ids_and_shape(records, task):
    recs = records[task, "validation"]
    assert len(recs) == N
    datasets.Dataset.from_list(recs[:6], features=FEATURES)  # raises if a field does not fit
    assert len({r["id"] for r in recs}) == N
    assert recs[0]["id"] == f"{task}-validation-000000"
    info = get_task(task)
    for r in recs:
        assert r["task"] == task and r["source"] == f"synthetic:{task}"
        assert len(r["images"]) == info.num_images
        assert all(im.mode == "RGB" and max(im.size) <= 448 for im in r["images"])
        assert len(r["choices"]) == info.num_choices
        assert r["prompt"].startswith(r["question"])


@pytest.mark.parametrize("task", [t for t in TASKS if get_task(t).answer_kind == "choice"])
def test_answer_letters_balanced(records, task):
    k = get_task(task).num_choices
    counts = collections.Counter(r["answer"] for r in records[task, "validation"])
    assert set(counts) == {"ABCD"[i] for i in range(k)}
    assert max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_records_other_seed_differs(task):
    a = generate_split(task, "test", 4, seed=3)
    b = generate_split(task, "test", 4, seed=3)
    c = generate_split(task, "test", 4, seed=4)
    for ra, rb in zip(a, b):
        assert image_bytes(ra) == image_bytes(rb)
        assert {k: v for k, v in ra.items() if k != "images"} == {
            k: v for k, v in rb.items() if k != "images"
        }
    assert [image_bytes(r) for r in a] != [image_bytes(r) for r in c]


@pytest.mark.parametrize("task", ["counting", "jigsaw", "localization", "visual_correspondence"])
def test_photos_come_from_the_split_only(records, task):
    used = {}
    for split in ("validation", "test"):
        used[split] = {meta(r)["photo"] for r in records[task, split]}
        assert used[split] <= set(photo_names_for_split(split))
    assert not used["validation"] & used["test"]


def test_train_split_uses_train_photos():
    recs = generate_split("counting", "train", 6, seed=0)
    assert {meta(r)["photo"] for r in recs} <= set(photo_names_for_split("train"))


def test_pick_photo_never_leaves_the_split():
    rng = np.random.default_rng(0)
    assert {pick_photo("test", rng).name for _ in range(50)} == set(photo_names_for_split("test"))


# ---------------------------------------------------------------- counting


def test_counting_answers_boxes_and_distractors(records):
    recs = records["counting", "validation"]
    counts = [int(r["answer"]) for r in recs]
    assert all(2 <= c <= 10 for c in counts)
    assert len(set(counts)) == 9  # 24 examples over 9 counts: every count appears
    for r in recs:
        m = meta(r)
        assert m["count"] == int(r["answer"]) == len(m["boxes"])
        assert m["object"] in r["question"]
        w, h = r["images"][0].size
        assert all(0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h for x0, y0, x1, y1 in m["boxes"])
        # At least one distractor, and none of the same kind as the counted objects.
        assert m["distractors"]
        assert all(d["label"] != f"{m['colour']} {m['shape']}" for d in m["distractors"])


def test_counting_count_range_knob():
    recs = generate_split("counting", "test", 6, seed=1, min_count=3, max_count=4)
    assert {r["answer"] for r in recs} == {"3", "4"}


# ---------------------------------------------------------------- jigsaw


def test_jigsaw_canvas_patches_and_rules(records):
    seam_ok = 0
    for r in records["jigsaw", "validation"]:
        m = meta(r)
        canvas, opt_a, opt_b = (np.asarray(im).astype(int) for im in r["images"])
        h, w = canvas.shape[:2]
        assert w == 400 and 170 <= h <= 230 and h % 2 == 0 and m["canvas_size"] == [w, h]
        assert opt_a.shape == opt_b.shape == (h // 2, w // 2, 3)
        assert not canvas[h // 2 :, w // 2 :].any()  # the bottom-right quadrant is blacked out
        gt, other = (opt_a, opt_b) if r["answer"] == "A" else (opt_b, opt_a)
        x0, y0, x1, y1 = m["distractor_box_canvas"]
        assert x0 < w and x1 > 0 and y0 < h and y1 > 0  # (i) intersects the canvas
        assert x1 <= w // 2 or x0 >= w or y1 <= h // 2 or y0 >= h  # (ii) misses the gt patch
        dist = np.hypot(x0 - w // 2, y0 - h // 2)
        assert dist >= 0.25 * np.hypot(w, h)  # (iii) far from the gt centre
        # Where the distractor overlaps the visible canvas it shows the same pixels.
        vis = np.ones((h, w), bool)
        vis[h // 2 :, w // 2 :] = False
        ys, xs = slice(max(y0, 0), min(y1, h)), slice(max(x0, 0), min(x1, w))
        sub = other[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
        assert np.array_equal(sub[vis[ys, xs]], canvas[ys, xs][vis[ys, xs]])

        def seam(p):  # how well a patch continues the pixels above and left of the hole
            return (np.abs(p[0] - canvas[h // 2 - 1, w // 2 :]).mean()
                    + np.abs(p[:, 0] - canvas[h // 2 :, w // 2 - 1]).mean())

        seam_ok += seam(gt) < seam(other)
        # Mirage's helper image: the completed picture, the true piece in the hole
        helper = np.asarray(r["helper_image"]).astype(int)
        assert helper.shape == canvas.shape
        assert np.array_equal(helper[vis], canvas[vis])
        assert np.array_equal(helper[h // 2 :, w // 2 :], gt)
        assert not np.array_equal(helper[h // 2 :, w // 2 :], other)
    assert seam_ok >= 0.9 * N


def test_vsp_helper_is_the_board_a_later_step_into_the_plan(records):
    for r in records["vsp", "validation"]:
        m = meta(r)
        plan = vsp.parse_plan(r["answer"])
        step = vsp.helper_step(len(plan))
        assert 1 <= step <= len(plan)
        later = vsp.later_map(m["grid"], plan, step)
        assert later != m["grid"] and sum(row.count("S") for row in later) == 1
        assert r["helper_image"].tobytes() == vsp.render_map(later).tobytes()
        # the player stands where the first `step` moves take it, on no hole
        i = next(i for i, row in enumerate(later) if "S" in row)
        assert m["grid"][i][later[i].index("S")] in "FG"
        # done by hand for one move: the player's new cell is one move from the start
        if step == 1:
            s = next((i, row.index("S")) for i, row in enumerate(m["grid"]) if "S" in row)
            dr, dc = vsp.MOVES[plan[0]]
            assert later[s[0] + dr][s[1] + dc] == "S"


def test_vsp_shaded_helper_keeps_the_shades():
    rec = vsp.generate("validation", 2, np.random.default_rng(3), **vsp.LEVELS["medium"])[0]
    board, helper = (np.asarray(im).astype(int) for im in (rec["images"][0], rec["helper_image"]))
    m = meta(rec)
    cell = vsp.IMAGE_SIZE // m["size"]
    plan = vsp.parse_plan(rec["answer"])
    later = vsp.later_map(m["grid"], plan, vsp.helper_step(len(plan)))
    for i, row in enumerate(m["grid"]):
        for j, kind in enumerate(row):
            tile = np.s_[i * cell : (i + 1) * cell, j * cell : (j + 1) * cell]
            same = np.array_equal(board[tile], helper[tile])
            assert same == (kind == later[i][j]), (i, j)


# ---------------------------------------------------------------- localization


def test_localization_boxes_iou_and_no_size_shortcut(records):
    recs = records["localization", "validation"]
    gold_bigger = 0
    for r in recs:
        m = meta(r)
        w, h = r["images"][0].size
        gold, dis = m["gold_box"], m["distractor_box"]
        v = float(localization.iou(gold, dis))
        assert 0.2 <= v <= 0.5 and abs(v - m["iou"]) < 1e-3
        assert 0.15 <= (gold[2] - gold[0]) * (gold[3] - gold[1]) / (w * h) <= 0.5
        assert 0 < dis[0] < dis[2] < w and 0 < dis[1] < dis[3] < h  # never clipped to the border
        assert m["object"] in r["question"]
        area = (gold[2] - gold[0]) * (gold[3] - gold[1])
        gold_bigger += area > (dis[2] - dis[0]) * (dis[3] - dis[1])
    assert 0.25 * N <= gold_bigger <= 0.75 * N


def test_localization_iou_knob_and_jitter():
    rng = np.random.default_rng(0)
    gold = [100, 80, 220, 200]
    for larger in (True, False):
        box = localization.jitter_box(gold, 400, 320, (0.3, 0.4), larger, rng)
        assert 0.3 <= localization.iou(gold, box) <= 0.4
        area = (box[2] - box[0]) * (box[3] - box[1])
        assert (area > 120 * 120) == larger
    recs = generate_split("localization", "test", 4, seed=2, iou_range=(0.4, 0.45))
    assert all(0.4 <= meta(r)["iou"] <= 0.45 for r in recs)


# ---------------------------------------------------------------- visual correspondence


def test_correspondence_points_follow_the_homography(records):
    for r in records["visual_correspondence", "validation"]:
        m = meta(r)
        h = np.array(m["homography"])
        cands = np.array(m["candidate_points"])
        true = visual_correspondence.apply_homography(h, [m["ref_point"]])[0]
        k = "ABCD".index(r["answer"])
        assert np.allclose(cands[k], true, atol=0.02)
        w, hh = m["image_size"]
        assert np.all((cands > 0) & (cands < [w, hh]))
        d = np.linalg.norm(cands[:, None] - cands[None], axis=2) + np.eye(4) * 1e9
        assert d.min() >= 0.15 * np.hypot(w, hh) - 0.05


def test_correspondence_true_point_is_findable():
    """Plain template matching on the unmarked pair picks the true point: the warp is right and
    the question is answerable."""
    rng = np.random.default_rng(1)

    def patch(img, p, r=10):
        g = np.asarray(img.convert("L"), float)
        x, y = int(round(p[0])), int(round(p[1]))
        q = g[y - r : y + r + 1, x - r : x + r + 1]
        return (q - q.mean()) / (q.std() + 1e-6)

    wins = tries = attempts = 0
    while tries < 20 and attempts < 200:
        attempts += 1
        pair = visual_correspondence.make_pair(pick_photo("test", rng), 320, 256, 1.0, rng)
        if pair is None:
            continue
        source, target, h, _, _ = pair
        pts = visual_correspondence.pick_points(source, h, rng, 0.15, 10.0)
        if pts is None:
            continue
        ref, cands = pts
        scores = [(patch(source, ref) * patch(target, c)).mean() for c in cands]
        wins += int(np.argmax(scores) == 0)
        tries += 1
    assert wins >= 16


def test_homography_from_points_is_exact():
    src = np.array([[0, 0], [300, 0], [300, 200], [0, 200]], float)
    dst = src + np.array([[5, -3], [-10, 4], [7, 9], [-2, -6]])
    h = visual_correspondence.homography_from_points(src, dst)
    assert np.allclose(visual_correspondence.apply_homography(h, src), dst)


# ---------------------------------------------------------------- vsp


def test_vsp_plans_solve_their_maps_and_corruptions_fail(records):
    recs = records["vsp", "validation"]
    assert collections.Counter(meta(r)["size"] for r in recs) == {s: 4 for s in range(3, 9)}
    for r in recs:
        m = meta(r)
        rows = m["grid"]
        assert len(rows) == m["size"] and all(len(row) == m["size"] for row in rows)
        assert "".join(rows).count("S") == 1 and "".join(rows).count("G") == 1
        assert r["answer"].startswith("Action plan: ")
        assert vsp.simulate_plan(m, r["answer"])
        assert vsp.simulate_plan(r["metadata"], "I think so.\nAction plan: " + r["answer"][13:])
        assert len(vsp.parse_plan(r["answer"])) == m["plan_length"] >= m["size"] - 1
        assert r["images"][0].size == (384 // m["size"] * m["size"],) * 2
        # Dropping the last move stops short of the goal (the plan is shortest).
        assert not vsp.simulate_plan(m, vsp.format_plan(vsp.parse_plan(r["answer"])[:-1]))
    assert not vsp.simulate_plan(recs[0]["metadata"], "no plan here")


def test_simulate_plan_rules():
    grid = ["SFH", "FHF", "FFG"]
    assert vsp.simulate_plan(grid, "Action plan: D, D, R, R")
    assert vsp.simulate_plan(grid, "action plan: down, down, right, right.")
    assert vsp.simulate_plan(grid, "Action plan: L, U, D, D, R, R")  # off-board moves stay put
    assert vsp.simulate_plan(grid, "Action plan: D, D, R, R, U, U")  # ends on reaching G
    assert not vsp.simulate_plan(grid, "Action plan: R, R")  # into the hole
    assert not vsp.simulate_plan(grid, "Action plan: D, R")  # into the hole at (1, 1)
    assert not vsp.simulate_plan(grid, "Action plan: D, D, R")  # stops short
    assert not vsp.simulate_plan(grid, "Action plan: D, D, X, R")  # not an action
    assert not vsp.simulate_plan(grid, "Action plan:")
    assert vsp.shortest_plan(grid) == ["D", "D", "R", "R"]
    assert vsp.shortest_plan(["SH", "HG"]) is None


def test_vsp_maps_never_shared_across_splits(records):
    for split in ("validation", "test"):
        for r in records["vsp", split]:
            assert vsp.map_split(meta(r)["grid"]) == split
    grids = [tuple(meta(r)["grid"]) for r in records["vsp", "validation"]]
    assert len(set(grids)) == len(grids)
