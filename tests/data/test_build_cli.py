"""`livr data build` entry points: add_arguments + run write a data folder; bad options fail."""

from __future__ import annotations

import argparse

import datasets
import numpy as np
import pytest

from livr.data.build import add_arguments, run
from livr.errors import ConfigError, DataError
from tests.data import fixtures as fx


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_art_style_with_blink_test(tmp_path, capsys):
    base = fx.write_artbench(tmp_path / "art")
    fx.write_blink(tmp_path / "blink", "Art_Style", n=3)
    out = tmp_path / "out"
    args = _args(
        "--task",
        "art_style",
        "--source",
        str(tmp_path / "art"),
        "--blink",
        str(tmp_path / "blink"),
        "--out",
        str(out),
        "--train",
        "4",
        "--val",
        "2",
        "--seed",
        "3",
    )
    assert run(args) == 0
    dd = datasets.load_from_disk(str(out))
    assert {s: len(dd[s]) for s in dd} == {"train": 4, "validation": 2, "test": 3}
    assert set(dd["test"]["source"]) == {"blink"} and set(dd["train"]["source"]) == {"artbench-10"}
    stored = dd["train"].cast_column("images", datasets.List(datasets.Image(decode=False)))[0][
        "images"
    ][0]
    ref = fx.meta(dd["train"][0])["source_images"][0].removeprefix("artbench:")
    assert stored["bytes"] == (base / "train" / ref).read_bytes()  # written without re-compression
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(DataError, match="already exists"):
        run(args)
    args.overwrite = True
    assert run(args) == 0


def test_source_built_test_split(tmp_path):
    fx.write_funkpoint(tmp_path / "fk")
    out = tmp_path / "out"
    assert (
        run(
            _args(
                "--task",
                "functional_correspondence",
                "--source",
                str(tmp_path / "fk"),
                "--out",
                str(out),
            )
        )
        == 0
    )
    dd = datasets.load_from_disk(str(out))
    assert len(dd["test"]) == 2 and set(dd["test"]["source"]) == {"funkpoint"}


def test_option_errors(tmp_path):
    fx.write_artbench(tmp_path / "art")
    base = ["--source", str(tmp_path / "art"), "--out", str(tmp_path / "out")]
    with pytest.raises(ConfigError, match="--blink PATH"):
        run(_args("--task", "art_style", *base))
    with pytest.raises(ConfigError, match="--test does not apply to art_style"):
        run(_args("--task", "art_style", *base, "--blink", "hub", "--test", "5"))
    with pytest.raises(ConfigError, match="--blink does not apply"):
        run(_args("--task", "visual_correspondence", *base, "--blink", "hub"))
    with pytest.raises(SystemExit):
        _args("--task", "counting_v2", *base)
    with pytest.raises(DataError, match="expected Mirage's VSP files here"):  # vsp reads Mirage's release
        run(_args("--task", "vsp", *base))
    fx.write_blink(tmp_path / "blink", "Visual_Similarity")
    with pytest.raises(DataError, match=r"art: expected the NIGHTS file data\.csv"):
        run(_args("--task", "visual_similarity", *base, "--blink", str(tmp_path / "blink")))
    assert not (tmp_path / "out").exists()


def test_empty_train_reports_why(tmp_path):
    (tmp_path / "coco" / "val2017").mkdir(parents=True)
    fx.smooth_image(np.random.default_rng(0), 300, 200).save(
        tmp_path / "coco" / "val2017" / "a.jpg"
    )
    fx.write_blink(tmp_path / "blink", "Jigsaw")
    args = _args(
        "--task",
        "jigsaw",
        "--source",
        str(tmp_path / "coco"),
        "--out",
        str(tmp_path / "out"),
        "--blink",
        str(tmp_path / "blink"),
    )
    with pytest.raises(DataError, match="no usable COCO 2017 train examples.*smaller than the 400"):
        run(args)
    assert not (tmp_path / "out").exists()
