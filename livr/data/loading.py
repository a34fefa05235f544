"""Load a data folder written by `livr.data.writer` and check it before anything trusts it.

`load_data(path)` returns the `datasets.DatasetDict`; every way the folder can be unusable
(missing, half written, a single split instead of a DatasetDict, a split missing, another schema)
is a `DataError` that names the folder and what to do, instead of a deep `datasets` traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import datasets

from livr.data.schema import FEATURES, SPLITS
from livr.errors import DataError

_HOW_TO_MAKE = "make one with `livr data synth ...` or `livr data build ...`"


def _check_folder(path: Path) -> None:
    if not path.exists():
        raise DataError(f"data folder {path} does not exist; {_HOW_TO_MAKE}")
    if not path.is_dir():
        raise DataError(f"data folder {path} is a file, not a folder; {_HOW_TO_MAKE}")
    if (path / "dataset_info.json").exists() and (path / "state.json").exists():
        raise DataError(
            f"{path} holds a single split (a datasets.Dataset), not a data folder with splits "
            f"{', '.join(SPLITS)}; point at the folder that contains it, or {_HOW_TO_MAKE}"
        )
    if not (path / "dataset_dict.json").exists():
        raise DataError(
            f"{path} is not a data folder (no dataset_dict.json: empty, unfinished or something "
            f"else); {_HOW_TO_MAKE}"
        )


def check_features(features: datasets.Features, where: str) -> None:
    """Raise DataError naming missing / extra / differently typed columns versus `FEATURES`."""
    missing = [c for c in FEATURES if c not in features]
    extra = [c for c in features if c not in FEATURES]
    retyped = [c for c in FEATURES if c in features and features[c] != FEATURES[c]]
    if missing or extra or retyped:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"extra columns {extra}")
        if retyped:
            parts.append(f"columns with another type {retyped}")
        raise DataError(
            f"{where} does not have livr's schema (livr/data/schema.py): {'; '.join(parts)}; "
            "rebuild it with livr data synth / livr data build"
        )


def load_data(
    path_or_dir: str | os.PathLike, splits: Iterable[str] | None = None
) -> datasets.DatasetDict:
    """Load the data folder; `splits` (default: whatever it has) must all be present."""
    path = Path(path_or_dir)
    _check_folder(path)
    try:
        dd = datasets.load_from_disk(str(path))
    except (FileNotFoundError, json.JSONDecodeError, KeyError, ValueError, OSError) as err:
        raise DataError(f"data folder {path} cannot be read ({err}); {_HOW_TO_MAKE}") from None
    if not isinstance(dd, datasets.DatasetDict):
        raise DataError(f"{path} is not a DatasetDict data folder; {_HOW_TO_MAKE}")
    for name in splits or ():
        if name not in dd:
            raise DataError(
                f"data folder {path} has no split {name!r} (it has {', '.join(dd) or 'none'}); "
                "rebuild it with that split or choose another split"
            )
    for name, ds in dd.items():
        check_features(ds.features, f"split {name!r} of {path}")
    return dd


def load_split(path_or_dir: str | os.PathLike, split: str) -> datasets.Dataset:
    return load_data(path_or_dir, [split])[split]
