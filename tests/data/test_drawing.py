"""Per-record random streams (livr.data.synth.record_rng) and drawing splits in parts
(livr.data.drawing): a part drawn by itself is the same as in the whole split, so workers can
draw parts in any number of processes."""

from __future__ import annotations

import pytest

import livr.data.drawing
from livr.data.drawing import draw_splits, parts
from livr.data.png import encode_png
from livr.data.synth import draws_parts, generate_split, record_rng, split_rng
from livr.data.tasks import TASK_NAMES
from livr.errors import ConfigError


def _plain(records):
    """Records with images as PNG bytes, comparable with ==."""
    return [{k: ([encode_png(im) for im in v] if k == "images" else
                 (encode_png(v) if k == "helper_image" and v is not None else v))
             for k, v in r.items()} for r in records]


def test_record_stream_depends_on_the_split_seed_and_index_only():
    rng = split_rng("counting", "train", 0)
    first = record_rng(rng, 3).integers(1 << 30, size=4)
    rng.integers(10, size=100)  # the split stream's state does not matter
    assert (record_rng(rng, 3).integers(1 << 30, size=4) == first).all()
    assert (record_rng(rng, 4).integers(1 << 30, size=4) != first).any()
    other = split_rng("counting", "validation", 0)
    assert (record_rng(other, 3).integers(1 << 30, size=4) != first).any()


@pytest.mark.parametrize("task", [t for t in TASK_NAMES if t != "vsp"])
def test_parts_drawn_apart_equal_the_whole_split(task):
    assert draws_parts(task)
    whole = generate_split(task, "validation", 5, seed=2)
    apart = (generate_split(task, "validation", 5, seed=2, indices=range(0, 2))
             + generate_split(task, "validation", 5, seed=2, indices=range(2, 5)))
    assert [r["id"] for r in apart] == [r["id"] for r in whole]
    assert _plain(apart) == _plain(whole)


def test_vsp_is_drawn_whole():
    assert not draws_parts("vsp")  # its maps are unique within a split: records depend on earlier ones
    assert parts("vsp", 40) == [None]
    with pytest.raises(ConfigError, match="whole splits only"):
        generate_split("vsp", "train", 4, seed=0, indices=range(2))


def test_parts_cover_the_split_in_order(monkeypatch):
    monkeypatch.setattr(livr.data.drawing, "PART_SIZE", 4)
    assert parts("counting", 10) == [range(0, 4), range(4, 8), range(8, 10)]
    assert parts("counting", 0) == []


def test_draw_splits_same_records_for_one_or_two_processes(monkeypatch):
    monkeypatch.setattr(livr.data.drawing, "PART_SIZE", 2)
    jobs = [("localization", "train", 5), ("vsp", "validation", 2), ("localization", "test", 0)]
    seen = []
    one = list(draw_splits(jobs, seed=1, level=None, image_size=64, workers=1))
    two = list(draw_splits(jobs, seed=1, level=None, image_size=64, workers=2, on_part=seen.append))
    assert [(t, s, len(r)) for t, s, r in two] == [("localization", "train", 5), ("vsp", "validation", 2),
                                                    ("localization", "test", 0)]
    assert one == two  # images already PNG bytes: plain dicts
    assert sorted(seen) == [1, 2, 2, 2]  # localization in parts of 2 (2, 2, 1), vsp whole (2)
    image = two[0][2][0]["images"][0]
    assert set(image) == {"bytes", "path"} and image["bytes"].startswith(b"\x89PNG")
