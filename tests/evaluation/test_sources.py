"""Where evaluation records come from: a data folder's split, or a local copy of BLINK."""

from __future__ import annotations

import pytest

from livr.errors import DataError
from livr.evaluation.sources import load_eval_records
from tests.data.fixtures import write_blink


def test_data_folder_split_tasks_and_per_task_limit(eval_data):
    everything = load_eval_records(eval_data, "test")
    assert len(everything) == 6 and {r["task"] for r in everything} == {"localization", "counting"}
    first = load_eval_records(eval_data, "test", limit=2)
    expected = [r["id"] for r in everything if r["id"] in {
        *[x["id"] for x in everything if x["task"] == "localization"][:2],
        *[x["id"] for x in everything if x["task"] == "counting"][:2]}]
    assert [r["id"] for r in first] == expected  # the first two of each task, in data order
    only = load_eval_records(eval_data, "validation", tasks=["counting"])
    assert [r["task"] for r in only] == ["counting"]
    assert only[0]["images"][0].size  # decoded PIL images


def test_missing_split_is_named(eval_data):
    with pytest.raises(DataError, match="no split 'dev'"):
        load_eval_records(eval_data, "dev")


def test_local_blink_copy(tmp_path):
    root = write_blink(tmp_path / "BLINK", "Jigsaw", n=3)
    write_blink(root, "Object_Localization", n=2, n_images=1)
    for data in (str(root), f"blink:{root}"):
        records = load_eval_records(data, "test")
        assert sorted({r["task"] for r in records}) == ["jigsaw", "localization"]
        assert len(records) == 5 and all(r["source"] == "blink" for r in records)
    assert len(load_eval_records(str(root), "val", tasks=["jigsaw"], limit=2)) == 2
    with pytest.raises(DataError, match="val split"):
        load_eval_records(str(root), "train")


def test_blink_from_the_hub_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError):
        load_eval_records("blink", "test", tasks=["jigsaw"])
