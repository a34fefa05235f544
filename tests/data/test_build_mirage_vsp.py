"""Mirage's released VSP layout from a local copy: `livr data build --task vsp` and the eval source
`mirage_vsp:PATH`; the fixture writes the layout docs/data.md describes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from livr.cli.main import main
from livr.data.build.mirage_vsp import gold_plan, grid_rows
from livr.data.loading import load_data
from livr.data.synth import vsp
from livr.errors import DataError
from livr.evaluation.sources import load_eval_records
from tests.data import fixtures as fx


@pytest.fixture
def copy(tmp_path):
    root = tmp_path / "mirage_vsp"
    return root, fx.write_mirage_vsp(root, n_train=10, n_test=3)


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_build_reads_the_layout_into_vsp_records(copy, tmp_path, capsys):
    root, lines = copy
    out = tmp_path / "out"
    assert main(["data", "build", "--task", "vsp", "--source", str(root), "--out", str(out)]) == 0
    assert "carved" in capsys.readouterr().err  # no val.jsonl: validation carved from train
    dd = load_data(out)
    assert (len(dd["train"]), len(dd["validation"]), len(dd["test"])) == (9, 1, 3)
    by_grid = {json.dumps(x["grid"]): x for split in lines.values() for x in split}
    for split in ("train", "validation", "test"):
        for rec in dd[split]:
            meta = json.loads(rec["metadata"])
            line = by_grid[json.dumps(meta["grid"])]  # map_desc 0/1/2/-1 read as rows of F/S/G/H
            assert rec["task"] == "vsp" and rec["source"] == "mirage_vsp"
            assert rec["answer"] == vsp.format_plan(line["plan"])  # both "Action plan:" and \boxed{}
            assert vsp.simulate_plan(meta, rec["answer"])
            assert meta["mirage_text_input"] == line["text_input"] and meta["size"] == len(line["grid"])
            assert rec["prompt"].endswith('e.g. "Action plan: R, D".')  # livr's vsp prompt
            # the question image is image_input and the helper is image_output, pixel for pixel
            assert np.array_equal(_pixels(rec["images"][0]), _pixels(Image.open(root / line["image_input"])))
            assert np.array_equal(_pixels(rec["helper_image"]), _pixels(Image.open(root / line["image_output"])))
            # and the helper is the map a later step into the plan (Mirage's supervision)
            later = vsp.later_map(line["grid"], line["plan"], vsp.helper_step(len(line["plan"])))
            assert np.array_equal(_pixels(rec["helper_image"]), _pixels(vsp.render_map(later)))


def test_build_uses_val_jsonl_and_caps_sizes(tmp_path, capsys):
    root = tmp_path / "c"
    fx.write_mirage_vsp(root, n_train=5, n_test=4, val=2)
    out = tmp_path / "out"
    assert main(["data", "build", "--task", "vsp", "--source", str(root), "--out", str(out),
                 "--train", "3", "--test", "2"]) == 0
    dd = load_data(out)
    assert (len(dd["train"]), len(dd["validation"]), len(dd["test"])) == (3, 2, 2)
    assert dd["train"]["id"] == ["vsp-train-000000", "vsp-train-000001", "vsp-train-000002"]


def test_eval_source_reads_each_split(copy):
    root, lines = copy
    test = load_eval_records(f"mirage_vsp:{root}", "test")
    assert [json.loads(r["metadata"])["grid"] for r in test] == [x["grid"] for x in lines["test"]]
    assert len(load_eval_records(f"mirage_vsp:{root}", "train", limit=4)) == 4
    with pytest.raises(DataError, match="no val.jsonl or validation.jsonl"):
        load_eval_records(f"mirage_vsp:{root}", "val")
    with pytest.raises(DataError, match="mirage_vsp needs a local copy"):
        load_eval_records("mirage_vsp", "test")
    with pytest.raises(DataError, match="no such folder"):
        load_eval_records(f"mirage_vsp:{root}/nope", "test")


def _rewrite(root, change):
    path = root / "test.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    change(rows[1])
    path.write_text("".join(json.dumps(x) + "\n" for x in rows))
    return f"{path} line 2"


@pytest.mark.parametrize("change, needle", [
    (lambda r: r.pop("map_desc"), "missing Mirage VSP fields ['map_desc']"),
    (lambda r: r.update(map_desc=[[1, 0], [0, 7]]), "cells must be 0 (ice), 1 (start), 2 (goal) or -1"),
    (lambda r: r.update(map_desc=[[1, 0], [0, 0]]), "exactly one start and one goal"),
    (lambda r: r.update(text_output="I do not know."), "no plan in text_output"),
    (lambda r: r.update(image_input="images/missing.png"), "image_input images/missing.png not found"),
    (lambda r: r.update(text_output="Action plan: U"), "does not solve its map"),
])
def test_bad_lines_are_named(copy, change, needle):
    root, _ = copy
    where = _rewrite(root, change)
    with pytest.raises(DataError) as err:
        load_eval_records(f"mirage_vsp:{root}", "test")
    assert where in str(err.value) and needle in str(err.value)


def test_map_and_plan_parsing():
    assert grid_rows([[1, 0, -1], [0, 0, 2]], "x") == ["SFH", "FFG"]
    assert grid_rows(["SFH", "FFG"], "x") == ["SFH", "FFG"]
    assert gold_plan("so \\boxed{RDD}", "x") == ["R", "D", "D"]
    assert gold_plan("so \\boxed{right, down}", "x") == ["R", "D"]
    assert gold_plan("first \\boxed{L} then Action plan: U, R", "x") == ["U", "R"]
