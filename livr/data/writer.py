"""Write records to a data folder: a `datasets.DatasetDict` saved with `save_to_disk`, atomically.

Every data folder livr trusts is written here. Three properties matter:

* atomic: the folder is written under a temporary name beside its final place
  (`livr.io.atomic_dir`) and renamed only when complete, so an interrupted build never leaves a
  folder that loads as if it were finished;
* no silent overwrite: an existing folder is an error unless `overwrite=True` (`--overwrite`);
* deterministic: the same records give the same bytes on disk. `datasets` stores a fingerprint in
  each split's `state.json`; we set it from a SHA-256 of the split's Arrow data instead of
  relying on however `datasets` derives it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import weakref
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import datasets
import numpy as np
import pyarrow as pa
from PIL import Image as PILImage

from datasets.table import InMemoryTable

from livr.data.png import encode_images
from livr.data.schema import COLUMNS, FEATURES, SPLITS
from livr.data.validate import check_record
from livr.errors import DataError
from livr.io import atomic_dir

SplitData = Union[list[dict[str, Any]], datasets.Dataset]


def _check_record(rec: dict[str, Any], split: str, i: int) -> None:
    keys = set(rec)
    if keys != set(COLUMNS):
        missing = sorted(set(COLUMNS) - keys)
        extra = sorted(keys - set(COLUMNS))
        raise DataError(
            f"{split} record {i} (id {rec.get('id')!r}) does not follow the schema in "
            f"livr/data/schema.py: missing columns {missing}, extra columns {extra}; "
            "build records with livr.data.schema.make_record"
        )
    check_record(rec, f"{split} record {rec['id']!r}")


def check_records(splits: Mapping[str, SplitData]) -> None:
    """Refuse unknown splits, records with other columns, bad image counts and repeated ids.

    A split may be a list of records or a `datasets.Dataset` (checked for the schema's columns).
    """
    from livr.data.loading import check_features

    if not splits:
        raise DataError("no splits to write: give at least one of " + ", ".join(SPLITS))
    seen: dict[str, str] = {}
    for split, data in splits.items():
        if split not in SPLITS:
            raise DataError(
                f"unknown split {split!r}; a data folder has splits {', '.join(SPLITS)}"
            )
        if isinstance(data, datasets.Dataset):
            check_features(data.features, f"split {split!r}")
            ids = list(data["id"])
        else:
            for i, rec in enumerate(data):
                _check_record(rec, split, i)
            ids = [rec["id"] for rec in data]
        for rid in ids:
            if rid in seen:
                raise DataError(
                    f"id {rid!r} appears more than once (in {seen[rid]} and {split}); "
                    "ids must be unique within a data folder"
                )
            seen[rid] = split


def _hash_table(table: pa.Table) -> str:
    """SHA-256 of the Arrow IPC stream of `table` (same data -> same bytes -> same hash)."""
    digest = hashlib.sha256()

    class _Sink:
        closed = False

        def write(self, data) -> int:
            digest.update(data)
            return len(data)

        def flush(self) -> None:
            pass

    with pa.ipc.new_stream(pa.PythonFile(_Sink(), mode="w"), table.schema) as writer:
        writer.write_table(table)
    return digest.hexdigest()


def _content_fingerprint(table: pa.Table, indices: pa.Table | None, split: str) -> str:
    """A fingerprint derived from the content (and row order) only."""
    key = f"livr/{split}/{_hash_table(table)}"
    if indices is not None:  # a select()/shuffle: the order is part of the content
        key += f"/{_hash_table(indices)}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# Datasets made by `to_dataset` -> their split: they already carry the content fingerprint, so
# writing them needs no second SHA-256 of their Arrow data (hundreds of MB for photo tasks).
_CONTENT_FINGERPRINTED: "weakref.WeakKeyDictionary[datasets.Dataset, str]" = weakref.WeakKeyDictionary()


def _fingerprinted(ds: datasets.Dataset, split: str) -> datasets.Dataset:
    """The same rows with a fingerprint derived from the content (and row order) only."""
    if _CONTENT_FINGERPRINTED.get(ds) == split:
        return ds
    indices = ds._indices.table if ds._indices is not None else None
    return datasets.Dataset(
        ds.data, info=ds.info, split=split, indices_table=ds._indices,
        fingerprint=_content_fingerprint(ds.data.table, indices, split),
    )


PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")


def _drawn(image: Any) -> bool:
    """An image we drew (no file format behind it) in a mode PNG holds: encoded here; anything
    else (bytes dicts, JPEG-decoded images) is left to datasets."""
    return isinstance(image, PILImage.Image) and image.format is None and image.mode in PNG_MODES


def encoded_records(records: list[dict[str, Any]], workers: int = 1) -> list[dict[str, Any]]:
    """The records with every drawn image replaced by its PNG bytes (livr.data.png), encoded
    `workers` at a time; the bytes do not depend on `workers`."""
    drawn = [
        im
        for rec in records
        for im in (*rec["images"], rec["helper_image"])
        if _drawn(im)
    ]
    png = dict(zip(map(id, drawn), encode_images(drawn, workers)))

    def enc(image: Any) -> Any:
        return {"bytes": png[id(image)], "path": None} if _drawn(image) else image

    out = []
    for rec in records:
        rec = dict(rec)
        rec["images"] = [enc(im) for im in rec["images"]]
        if rec["helper_image"] is not None:
            rec["helper_image"] = enc(rec["helper_image"])
        out.append(rec)
    return out


_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # datasets.Image storage
_MAX_BINARY = 2**31 - 1  # bytes in one Arrow `binary` array (int32 offsets)


def _image_structs(values: list[dict[str, Any] | None]) -> pa.StructArray | None:
    """Image storage for encoded images ({"bytes": ..., "path": None}; None for no image) with
    all their bytes copied once into one buffer; `pa.array` grows its buffer by doubling, 4-6x
    slower for a few hundred MB. None when some image has a path or the bytes do not fit."""
    if any(v is not None and (v["path"] is not None or v["bytes"] is None) for v in values):
        return None
    blobs = [b"" if v is None else v["bytes"] for v in values]
    sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    if sizes.sum() > _MAX_BINARY:
        return None
    offsets = np.zeros(len(blobs) + 1, dtype=np.int32)
    np.cumsum(sizes, out=offsets[1:])
    data = pa.Array.from_buffers(pa.binary(), len(blobs),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(blobs))])
    missing = [v is None for v in values]
    return pa.StructArray.from_arrays([data, pa.nulls(len(values), pa.string())], fields=list(_IMAGE),
                                      mask=pa.array(missing) if any(missing) else None)


def _column(values: list, type_: pa.DataType) -> pa.Array:
    """One column of the split's Arrow table; image columns built by `_image_structs`."""
    if type_ == _IMAGE:
        structs = _image_structs(values)
    elif pa.types.is_list(type_) and type_.value_type == _IMAGE:
        structs = _image_structs([im for images in values for im in images])
        if structs is not None:
            offsets = np.zeros(len(values) + 1, dtype=np.int32)
            np.cumsum([len(images) for images in values], out=offsets[1:])
            return pa.ListArray.from_arrays(pa.array(offsets), structs, type=type_)
    else:
        structs = None
    return structs if structs is not None else pa.array(values, type=type_)


def to_dataset(records: list[dict[str, Any]], split: str, workers: int = 1) -> datasets.Dataset:
    """One split as a `datasets.Dataset` with `FEATURES` and a content-derived fingerprint.

    The images are encoded (PNG, or their original bytes) into Arrow memory, so converting
    records early frees the decoded images (what `livr data synth` does per task). `workers`
    threads encode the PNGs; the result is the same for any number.
    """
    for i, rec in enumerate(records):
        _check_record(rec, split, i)
    # The Arrow table is built here rather than by `Dataset.from_list`, which would first
    # fingerprint it by pickling every image byte (~1 s per 1,000 visual_correspondence records).
    encoded = encoded_records(records, workers)
    columns = FEATURES.encode_batch({c: [r[c] for r in encoded] for c in COLUMNS})
    schema = FEATURES.arrow_schema
    table = pa.Table.from_arrays([_column(columns[c], schema.field(c).type) for c in COLUMNS],
                                 schema=schema)
    ds = datasets.Dataset(
        InMemoryTable(table), info=datasets.DatasetInfo(features=FEATURES), split=split,
        fingerprint=_content_fingerprint(table, None, split),
    )
    _CONTENT_FINGERPRINTED[ds] = split
    return ds


def to_dataset_dict(splits: Mapping[str, SplitData]) -> datasets.DatasetDict:
    check_records(splits)
    out = {}
    # Splits always in the canonical order so dataset_dict.json does not depend on dict order.
    for s in SPLITS:
        if s in splits:
            data = splits[s]
            out[s] = (
                _fingerprinted(data, s)
                if isinstance(data, datasets.Dataset)
                else to_dataset(list(data), s)
            )
    return datasets.DatasetDict(out)


def refuse_existing(out: str | os.PathLike, overwrite: bool, what: str = "output folder") -> None:
    """Fail early (before any work) if `out` exists and may not be replaced.

    `what` names the folder in the message: the option it came from (e.g. "--out") in the CLI.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{what} {out} exists and is not a folder; choose another path")
    if out.exists() and not overwrite:
        raise DataError(
            f"{what} {out} already exists; pass --overwrite to replace it, or choose another folder"
        )


@contextlib.contextmanager
def _quiet_datasets() -> Iterable[None]:
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def save_dataset_dict(
    dd: datasets.DatasetDict, out: str | os.PathLike, overwrite: bool = False
) -> None:
    """Save an existing DatasetDict atomically (de-duplication writes its cleaned copy so)."""
    refuse_existing(out, overwrite)
    with _quiet_datasets(), atomic_dir(out, overwrite=overwrite) as tmp:
        # An empty split would get zero shards, which `load_from_disk` cannot read back.
        dd.save_to_disk(str(tmp), num_shards={k: 1 for k, ds in dd.items() if len(ds) == 0})


def write_dataset(
    splits: Mapping[str, SplitData], out: str | os.PathLike, overwrite: bool = False
) -> datasets.DatasetDict:
    """Write `splits` (split name -> records, or a Dataset) to `out`; return the DatasetDict.

    Raises `DataError` if `out` exists and `overwrite` is false, or if a record breaks the schema.
    """
    refuse_existing(out, overwrite)
    dd = to_dataset_dict(splits)
    save_dataset_dict(dd, out, overwrite=overwrite)
    return dd
