"""BLINK loader: local parquet copy of the hub repo -> test records; clear errors otherwise."""

from __future__ import annotations

import pytest

from livr.data.build import load_blink
from livr.data.prompts import format_mcq
from livr.errors import DataError
from tests.data import fixtures as fx


def test_local_parquet(tmp_path):
    fx.write_blink(tmp_path, "Jigsaw", n=4, n_images=3)
    records = load_blink("jigsaw", tmp_path)
    assert len(records) == 4
    fx.fits_features(records)
    for i, rec in enumerate(records):
        assert (
            rec["id"] == f"val_Jigsaw_{i + 1}"  # BLINK's own id
            and rec["task"] == "jigsaw"
            and rec["source"] == "blink"
        )
        assert rec["answer"] == "AB"[i % 2]
        assert len(rec["images"]) == 3 and rec["images"][0].size == (40, 30)
        assert rec["prompt"] == format_mcq(rec["question"], rec["choices"])
        assert fx.meta(rec)["blink_idx"] == f"val_Jigsaw_{i + 1}"
    # the config folder itself, and the BLINK config name instead of ours
    assert len(load_blink("Jigsaw", tmp_path / "Jigsaw")) == 4


def test_four_choices_one_image(tmp_path):
    fx.write_blink(tmp_path, "Object_Localization", n=5, n_images=1, n_choices=2)
    records = load_blink("localization", tmp_path)
    assert [len(r["images"]) for r in records] == [1] * 5


def test_missing_config_names_the_file(tmp_path):
    fx.write_blink(tmp_path, "Jigsaw")
    with pytest.raises(DataError, match=rf"{tmp_path}.*Art_Style/val-00000-of-00001\.parquet"):
        load_blink("art_style", tmp_path)


def test_hub_offline_is_a_clear_error(monkeypatch):
    import datasets
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match=r"BLINK config 'Jigsaw'.*--blink PATH"):
        load_blink("jigsaw", "hub")


def test_unknown_task_and_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no BLINK config for task 'vsp'"):
        load_blink("vsp", tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        load_blink("jigsaw", str(tmp_path / "nope" / "deeper" / "blink"))
