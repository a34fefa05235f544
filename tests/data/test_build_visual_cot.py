"""Visual-CoT builder: questions, free-text answers and ROI boxes from the published layout,
images never shared between splits, unusable items skipped and counted."""

from __future__ import annotations

import pytest

from livr.cli.main import main
from livr.data.build import build_task
from livr.data.build.common import Report
from livr.data.roi import record_roi_tokens, roi_boxes
from livr.errors import DataError
from tests.data import fixtures as fx


def test_records_boxes_and_splits(tmp_path):
    info = fx.write_visual_cot(tmp_path)
    report = Report()
    splits = build_task("visual_cot", tmp_path, {"validation": 1, "test": 1}, seed=0, report=report)
    records = [r for s in ("train", "validation", "test") for r in splits[s]]
    assert len(splits["validation"]) == len(splits["test"]) == 1
    assert 4 <= len(records) <= info["usable"]  # an image asked twice may lose one question to a 1-item split
    fx.fits_features(records)
    fx.assert_disjoint(splits)
    boxes = {(rel, f"answer {rel} {k}"): box for _, rel, _, bs in info["good"] for k, box in enumerate(bs)}
    for record in records:
        meta = fx.meta(record)
        rel = meta["source_images"][0].removeprefix("visual_cot:")
        assert record["task"] == "visual_cot" and record["choices"] == []
        assert record["prompt"] == record["question"] and record["question"].startswith("What is in region")
        assert "bounding box" not in record["question"] and "<image>" not in record["question"]
        expected = boxes[(rel, record["answer"])]
        assert meta["roi_boxes"][0] == pytest.approx(expected, abs=1.0)  # textvqa/2: undone from the padded box
        assert roi_boxes(record) == [[tuple(meta["roi_boxes"][0])]]
    assert report.skipped == {
        "visual-cot: box empty or outside the image": 1,
        "visual-cot: image file missing (archive not extracted?)": 1,
        "visual-cot: item without an image and a box turn (not a Visual-CoT question)": 1,
        "visual-cot: item without a bounding box": 1,
    }


def test_roi_tokens_of_a_visual_cot_record(tmp_path):
    fx.write_visual_cot(tmp_path)
    splits = build_task("visual_cot", tmp_path, {"validation": 0, "test": 0}, seed=0)
    record = next(r for r in splits["train"] if fx.meta(r)["source_images"] == ["visual_cot:cot/gqa/3.jpg"])
    # 160 x 160 processed at 168 x 168: 6 x 6 tokens of 28 px; box (0, 0, 40, 40) -> 42 px -> 2 x 2
    (tokens,) = record_roi_tokens(record, [[1, 12, 12]])
    assert tokens == [0, 1, 6, 7]


def test_cli_build_and_layout_errors(tmp_path, capsys):
    fx.write_visual_cot(tmp_path / "src")
    out = tmp_path / "out"
    assert main(["data", "build", "--task", "visual_cot", "--source", str(tmp_path / "src"), "--out", str(out),
                 "--val", "1", "--test", "1"]) == 0
    from livr.data.loading import load_split
    from livr.data.validate import decode_split

    records = decode_split(load_split(str(out), "test"), "test", str(out))
    assert len(records) == 1 and records[0]["task"] == "visual_cot"
    with pytest.raises(DataError, match="viscot_363k.json"):
        build_task("visual_cot", tmp_path / "out")
