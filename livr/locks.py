"""Output-folder locks: one writer per output path, and no writer under a running reader.

Every command that writes an output (a folder or a file) holds `output_lock(path)` for its whole
run; a training also holds `output_lock(data, read=True)` on the data folder it reads. The lock
lives beside the path it protects (`.NAME.lock`, a `filelock.ReadWriteLock`), never inside it, so
that `--overwrite` replacing the folder cannot remove it. The OS drops the lock when its holder
dies; a holder record (`.NAME.lock.json`: pid, host, start time) says who holds it, and one left
by a dead process is reported when the lock is taken over. A second acquisition of the same path
by the same process is re-entrant (the CLI and the Python API may both take it).

The lock file stays after the command, as with any `filelock` lock: deleting it on release would
let a process that opened the old file and one that creates a new one both "hold" the lock. It is
empty, hidden, beside the output (never inside it, so no data set, run or export contains one),
and safe to delete by hand when no livr command runs. `is_lock_file` tells it from data.

Taking a write lock also removes the temporaries that killed writers left at that path
(`livr.io.clean_leftovers`), and names those that a live process still owns.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from livr.errors import LivrError
from livr.io import pid_alive


class OutputBusy(LivrError):
    """Another live process writes (or reads, for a training's data) the output asked for."""


_HELD: dict[Path, list] = {}  # path -> [lock, count, read]


def lock_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(the lock file, the holder record) of `path`: both beside it, hidden."""
    path = Path(os.path.abspath(path))
    return path.parent / f".{path.name}.lock", path.parent / f".{path.name}.lock.json"


def is_lock_file(name: str) -> bool:
    """True for the entries `output_lock` leaves beside an output (`.NAME.lock`, `.NAME.lock.json`)."""
    return name.startswith(".") and (name.endswith(".lock") or name.endswith(".lock.json"))


def _clean(key: Path, record: Path) -> None:
    from livr.io import clean_leftovers

    found = clean_leftovers(key, names=(record.name,))
    if found["removed"]:
        n = len(found["removed"])
        print(f"livr: removed {n} leftover temporar{'y' if n == 1 else 'ies'} of killed writers at {key}",
              file=sys.stderr)
    for entry in found["live"]:
        print(f"livr: left {entry} alone: the process that writes it still runs", file=sys.stderr)
    for entry in found["stuck"]:
        print(f"livr: could not delete {entry}, a leftover temporary of a killed writer", file=sys.stderr)


def _holder(record: Path) -> dict | None:
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return None


def _describe(h: dict | None) -> str:
    if not h:
        return "an unknown process"
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(h.get("started", 0)))
    return f"pid {h.get('pid')} on {h.get('host')} (started {started}, {h.get('role', 'writer')})"


@contextlib.contextmanager
def output_lock(path: str | os.PathLike, *, read: bool = False, what: str = "") -> Iterator[None]:
    """Hold the lock of `path` (exclusive, or shared with other readers when `read`) or raise
    OutputBusy naming the path and its holder; never waits."""
    from filelock import ReadWriteLock, Timeout

    from livr.io import atomic_write_json

    key = Path(os.path.abspath(path))
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    lock_file, record = lock_paths(key)
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        yield  # an unusable place: nothing can be written there, and the command names why
        return
    lock = ReadWriteLock(lock_file, is_singleton=False)
    label = f"{what} {key}".strip()
    try:
        ctx = lock.read_lock(timeout=0, blocking=False) if read else lock.write_lock(timeout=0, blocking=False)
        ctx.__enter__()
    except Timeout:
        held = _holder(record)
        kind = "written" if held else "read by a running training"
        raise OutputBusy(f"{label} is in use: {kind} by {_describe(held)}; wait for it to finish "
                         "or choose another path") from None
    try:
        if not read:
            old = _holder(record)
            if old and not (old.get("host") == socket.gethostname() and pid_alive(int(old.get("pid", -1)))):
                print(f"livr: took over the lock of {key} left by {_describe(old)}, which no longer runs",
                      file=sys.stderr)
            atomic_write_json(record, {"pid": os.getpid(), "host": socket.gethostname(),
                                       "started": time.time(), "role": "writer"})
            _clean(key, record)
        _HELD[key] = [lock, 1, read]
        try:
            yield
        finally:
            del _HELD[key]
            if not read:
                with contextlib.suppress(FileNotFoundError):
                    record.unlink()
    finally:
        ctx.__exit__(None, None, None)
        lock.close()
