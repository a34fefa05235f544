"""Data folders: atomic, deterministic writing and checked loading (livr.data.writer / loading)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

import livr.io
from livr.data.loading import load_data, load_split
from livr.data.schema import make_record
from livr.data.writer import write_dataset
from livr.errors import DataError


def _records(split: str, n: int, seed: int = 0, task: str = "jigsaw") -> list[dict]:
    rng = np.random.default_rng([seed, len(split)])
    return [
        make_record(
            id=f"{task}-{split}-{i:04d}",
            task=task,
            images=[
                Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)) for _ in range(2)
            ],
            question="Which one?",
            choices=["the second image", "the third image"],
            answer="AB"[i % 2],
            prompt=f"Which one? {i}",
            source="synthetic:test",
            metadata={"i": i, "z": [1, 2]},
        )
        for i in range(n)
    ]


def _splits(n: int = 6, seed: int = 0) -> dict[str, list[dict]]:
    return {
        "train": _records("train", n, seed),
        "validation": _records("validation", 2, seed),
        "test": _records("test", 3, seed),
    }


def _file_digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_round_trip_keeps_every_field(tmp_path):
    splits = _splits()
    write_dataset(splits, tmp_path / "d")
    dd = load_data(tmp_path / "d", ["train", "validation", "test"])
    assert {s: len(dd[s]) for s in dd} == {"train": 6, "validation": 2, "test": 3}
    row = dd["train"][3]
    want = splits["train"][3]
    assert row["id"] == want["id"] and row["answer"] == "B" and row["metadata"] == want["metadata"]
    assert np.array_equal(np.asarray(row["images"][1]), np.asarray(want["images"][1]))
    assert row["helper_image"] is None


def test_same_records_give_byte_identical_folders(tmp_path):
    write_dataset(_splits(), tmp_path / "a")
    write_dataset(_splits(), tmp_path / "b")
    a, b = _file_digests(tmp_path / "a"), _file_digests(tmp_path / "b")
    assert len(a) >= 10  # dataset_dict.json + 3 x (arrow, dataset_info.json, state.json)
    assert a == b
    write_dataset(_splits(seed=1), tmp_path / "c")
    assert _file_digests(tmp_path / "c") != a  # the check can fail: other records, other bytes


def test_existing_folder_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "d"
    write_dataset(_splits(), out)
    with pytest.raises(DataError) as err:
        write_dataset(_splits(n=2), out)
    assert "--overwrite" in str(err.value) and str(out) in str(err.value)
    assert len(load_data(out)["train"]) == 6  # untouched
    write_dataset(_splits(n=2), out, overwrite=True)
    assert len(load_data(out)["train"]) == 2


def test_crash_while_writing_leaves_no_folder(tmp_path, monkeypatch):
    def crash(self, path, **kwargs):
        (Path(path) / "dataset_dict.json").write_text('{"splits": ["train"]}')
        (Path(path) / "train").mkdir()
        raise RuntimeError("power cut")

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", crash)
    out = tmp_path / "d"
    with pytest.raises(RuntimeError, match="power cut"):
        write_dataset(_splits(), out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary folder is cleaned up too


def test_crash_while_overwriting_keeps_the_old_folder(tmp_path, monkeypatch):
    out = tmp_path / "d"
    write_dataset(_splits(), out)
    before = _file_digests(out)

    def disk_full(self, path, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", disk_full)
    with pytest.raises(OSError):
        write_dataset(_splits(n=2), out, overwrite=True)
    assert _file_digests(out) == before


def test_partial_temporary_folder_is_ignored(tmp_path):
    """A build killed hard (no cleanup) leaves `.d.tmp-*`: it never loads as `d`, nor blocks it."""
    out = tmp_path / "d"
    with pytest.raises(KeyboardInterrupt):
        with livr.io.atomic_dir(out) as tmp:
            (tmp / "dataset_dict.json").write_text('{"splits": ["train"]}')
            raise KeyboardInterrupt
    stale = tmp_path / ".d.tmp-killed"
    (stale / "train").mkdir(parents=True)
    (stale / "dataset_dict.json").write_text('{"splits": ["train"]}')
    with pytest.raises(DataError, match="does not exist"):
        load_data(out)
    write_dataset(_splits(), out)
    assert len(load_data(out)["test"]) == 3


def test_empty_split_round_trips(tmp_path):
    write_dataset({"train": _records("train", 2), "validation": [], "test": []}, tmp_path / "d")
    dd = load_data(tmp_path / "d")
    assert len(dd["validation"]) == 0 and len(dd["train"]) == 2


def test_bad_records_are_refused(tmp_path):
    dup = _splits()
    dup["test"][0]["id"] = dup["train"][0]["id"]
    with pytest.raises(DataError, match="more than once"):
        write_dataset(dup, tmp_path / "a")
    extra = _splits()
    extra["train"][1]["score"] = 3
    with pytest.raises(DataError, match="extra columns \\['score'\\]"):
        write_dataset(extra, tmp_path / "b")
    with pytest.raises(DataError, match="unknown split"):
        write_dataset({"val": _records("val", 1)}, tmp_path / "c")
    assert not any(tmp_path.iterdir())


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "nope")
    write_dataset(_splits(), tmp_path / "d")
    with pytest.raises(DataError, match="has no split 'val'.*train, validation, test"):
        load_split(tmp_path / "d", "val")
    with pytest.raises(DataError, match="single split"):
        load_data(tmp_path / "d" / "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a data folder"):
        load_data(tmp_path / "empty")
    other = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"id": ["a"], "task": ["jigsaw"], "label": [1]})}
    )
    other.save_to_disk(str(tmp_path / "other"))
    with pytest.raises(DataError) as err:
        load_data(tmp_path / "other")
    msg = str(err.value)
    assert "missing columns ['images', 'question'" in msg and "extra columns ['label']" in msg


def test_atomic_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    from livr.io import atomic_dir, atomic_write_json

    umask = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "m.json", {"a": 1})
        with atomic_dir(tmp_path / "d") as d:
            (d / "x").write_text("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_image_columns_equal_arrows_own_conversion():
    """The image columns built from one buffer (writer._column) hold what pa.array makes of the
    same values: bytes, null helper images, and (by falling back) images that carry a path."""
    import pyarrow as pa

    from livr.data.writer import _column

    image_t = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    png = [{"bytes": bytes([i]) * (i * 7 + 1), "path": None} for i in range(5)]
    helper = [png[0], None, png[3], None]
    images = [[png[1]], [png[2], png[4]], [], [png[0], png[1], png[2], png[3]]]
    with_path = [[png[1]], [{"bytes": None, "path": "/x.png"}]]
    for values, type_ in [(helper, image_t), ([None, None], image_t), (images, pa.list_(image_t)),
                          (with_path, pa.list_(image_t))]:
        built = _column(values, type_)
        assert built.type == type_ and built.equals(pa.array(values, type=type_)), values
