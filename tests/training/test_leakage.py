"""The leakage guard of `livr train` (livr/data/leakage.py): train or validation images that
near-duplicate a test image of the run stop the run (`leakage: refuse`), or are reported loudly
(`warn`), or are not looked for (`off`). Tiny data from the real generators, 56x56 images."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from livr.cli.main import main
from tests.training.conftest import SIZES, make_data, shrink, tiny


def jpeg(image: Image.Image, quality: int = 75) -> Image.Image:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def brighter_jpeg(image: Image.Image) -> Image.Image:
    """A slightly altered copy: brightness x1.15, then re-encoded as JPEG quality 75."""
    return jpeg(ImageEnhance.Brightness(image).enhance(1.15))


def leaky_data(path: Path, *, train=(), validation=(), task="localization") -> tuple[str, dict]:
    """A localization folder (train 4 / validation 2 / test 2) in which, for each (i, j, alter) of
    `train` / `validation`, record i of that split gets alter(image of test record j) as its image.
    Returns (folder, {split: ids})."""
    from livr.data.synth import generate_split
    from livr.data.writer import write_dataset

    splits = {s: shrink(generate_split(task, s, n, 0)) for s, n in SIZES.items()}
    for split, leaks in (("train", train), ("validation", validation)):
        for i, j, alter in leaks:
            splits[split][i]["images"] = [alter(splits["test"][j]["images"][0])]
    write_dataset(splits, path)
    return str(path), {s: [r["id"] for r in rs] for s, rs in splits.items()}


def cli(*argv) -> int:
    return main(["train", *map(str, argv)])


def flags(values: dict) -> list[str]:
    return [f"--{k}={v}" for k, v in values.items()]


# ----------------------------------------------------------------------------- refuse


def test_train_copy_and_altered_copy_are_refused(tmp_path, capsys):
    leaks = [(0, 0, Image.Image.copy), (2, 1, brighter_jpeg)]
    data, ids = leaky_data(tmp_path / "data", train=leaks)
    out = tmp_path / "run"
    assert cli(*flags(tiny(data, out))) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("livr train: error: leakage: 2 train/validation example(s)")
    for rid in (ids["train"][0], ids["train"][2], ids["test"][0], ids["test"][1]):
        assert rid in err
    assert ids["train"][1] not in err and ids["train"][3] not in err  # clean records not named
    assert f"train id {ids['train'][0]} image 0 ~ test id {ids['test'][0]} image 0" in err
    assert f"train id {ids['train'][2]} image 0 ~ test id {ids['test'][1]} image 0" in err
    assert f"livr data dedup --data {data}" in err and "--leakage warn" in err
    assert not out.exists()


def test_validation_leak_is_refused_and_nothing_is_deleted(tmp_path, capsys):
    data, ids = leaky_data(tmp_path / "data", validation=[(1, 0, jpeg)])
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("an older run")
    assert cli(*flags(tiny(data, out)), "--overwrite") == 2
    err = capsys.readouterr().err
    assert "validation: 1 example(s)" in err
    assert f"validation id {ids['validation'][1]} image 0 ~ test id {ids['test'][0]}" in err
    assert "train id" not in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # --overwrite deleted nothing


def test_many_leaks_are_counted_not_all_listed(tmp_path):
    from types import SimpleNamespace as NS

    from livr.data.leakage import check_leakage
    from livr.data.synth import generate_split
    from livr.errors import DataError

    test = shrink(generate_split("counting", "test", 8, 0))
    train = [dict(r, id=f"copy-{k}") for k, r in enumerate(test)]
    data = NS(train=NS(records=train), validation=None, test=NS(records=test))
    with pytest.raises(DataError) as err:
        check_leakage(data, policy="refuse", data_path="data/x")
    text = str(err.value)
    assert "leakage: 8 train/validation example(s) of data/x" in text
    assert "copy-0" in text and "copy-4" in text and "copy-5" not in text
    assert "... and 3 more train example(s)" in text
    assert check_leakage(data, policy="off") == []
    assert check_leakage(NS(train=data.train, validation=None, test=None), policy="refuse") == []


# ----------------------------------------------------------------------------- warn


def test_warn_trains_and_records_the_pairs(tmp_path, capsys):
    data, ids = leaky_data(tmp_path / "data", train=[(1, 1, brighter_jpeg)])
    out = tmp_path / "run"
    values = tiny(data, out, leakage="warn", method="sft", num_latents=None, stage1_epochs=None,
                  stage2_epochs=1, eval_every_epoch="false", selection="final")
    assert cli(*flags(values)) == 0
    err = capsys.readouterr().err
    assert "WARNING (leakage): 1 train/validation example(s)" in err
    assert f"train id {ids['train'][1]} image 0 ~ test id {ids['test'][1]} image 0" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["leakage"]["examples"] == {"train": 1}
    [pair] = metrics["leakage"]["pairs"]
    assert (pair["split"], pair["id"]) == ("train", ids["train"][1])
    assert pair["test_id"] == ids["test"][1]


# ----------------------------------------------------------------------------- clean data, config


def test_clean_data_passes(tmp_path):
    """The tiny folders of the training tests, and demo-like data (the demo's three tasks at its
    112-pixel image size), have no leaks: train, validation and test use different photos and
    scenes, and the detector does not confuse them."""
    from livr.data.leakage import check_leakage, find_leaks
    from livr.data.synth import generate_split, shrink_images

    for tasks, shrinker in ((["localization", "counting"], shrink),
                            (["counting", "localization", "visual_correspondence"],
                             lambda rs: shrink_images(rs, 112))):
        splits = {s: [r for t in tasks for r in shrinker(generate_split(t, s, n, 0))]
                  for s, n in (("train", 24), ("validation", 6), ("test", 12))}
        assert find_leaks({"train": splits["train"], "validation": splits["validation"]},
                          splits["test"]) == []
    from livr.training.config import load_config
    from livr.training.data import load_run_data

    data = make_data(tmp_path / "data", ["localization"])
    run_data = load_run_data(load_config(None, tiny(data, tmp_path / "run")))
    assert check_leakage(run_data, policy="refuse") == []


def test_leakage_config_values(tmp_path):
    from livr.errors import ConfigError
    from livr.training.config import RESUME_FREE, load_config

    assert load_config(None, tiny("d", "o")).leakage == "refuse"
    with pytest.raises(ConfigError, match=r"leakage must be one of refuse, warn, off, got 'maybe'"):
        load_config(None, tiny("d", "o", leakage="maybe"))
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("leakage: off\n")  # YAML 1.1 reads a bare off as false
    assert load_config(yaml_file, tiny("d", "o")).leakage == "off"
    assert "leakage" in RESUME_FREE  # it changes no result, so a resume may use another value
