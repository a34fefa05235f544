"""Atomic writes: a file or folder either appears complete under its final name or not at all.

Everything livr writes that a later step trusts (data sets, checkpoints, metrics, reports) goes
through these helpers: write under a temporary name in the same directory, flush and fsync the
files and folders, then `os.replace` (atomic on POSIX within one file system), then fsync the
parent folder so the rename itself is durable. Temporary names start with "." (a
process killed mid-write leaves them behind; nothing reads them); `discard` deletes an old
output the same way round, so that a half-deleted folder never carries its final name either.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_tree(folder: Path) -> None:
    """fsync every file under `folder`, then every folder bottom-up (`folder` last), so that a
    rename that publishes `folder` never exposes names whose data is not on disk."""
    dirs = []
    for root, subdirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        dirs.append(root)
    for root in reversed(dirs):
        fsync_dir(Path(root))


def fsync_dir(folder: Path) -> None:
    """fsync a folder's entry list (after a rename in it, so the rename survives a power cut)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish_mode(path: Path, is_dir: bool) -> None:
    """mkstemp / mkdtemp create owner-only entries; give the final one the usual permissions."""
    os.chmod(path, (0o777 if is_dir else 0o666) & ~_umask())


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it is renamed to `final`.

    If the body raises (or the process dies) the temporary folder never carries the final
    name, so nothing incomplete can be mistaken for a finished result.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        _publish_mode(tmp, is_dir=True)
        fsync_tree(tmp)
        if final.exists():
            if not overwrite:
                raise FileExistsError(f"{final} already exists")
            trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, trash / final.name)
            os.replace(tmp, final)
            fsync_dir(final.parent)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
            fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _publish_mode(Path(tmp), is_dir=False)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def discard(path: str | os.PathLike) -> None:
    """Delete a file or folder (if it exists) atomically as far as readers can tell: a folder is
    first renamed to a hidden temporary name, then removed, so that an interruption never leaves a
    partly deleted folder (that may still hold its completion marker) under its own name."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.replace(path, trash / path.name)
        shutil.rmtree(trash, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        os.unlink(path)
