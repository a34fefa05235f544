"""Tell a write that ran out of room (a full disk, a quota, a file-size limit) from other failures.

livr's own writers raise an OSError with errno ENOSPC / EDQUOT / EFBIG that names the final path
(`livr.io`). Some library writers report no errno: `torch.save` (the Trainer's `optimizer.pt`)
raises a RuntimeError ("file write failed", "unexpected pos"). For those the disk itself is
looked at: a file under an output that reached the process's file-size limit (RLIMIT_FSIZE), or
an output's file system with less than `LOW_SPACE` bytes free.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Iterable

from livr.io import NO_SPACE

LOW_SPACE = 1 << 20  # bytes free below which a failed write is put down to a full disk


def _from_chain(err: BaseException | None) -> OSError | None:
    """The out-of-room OSError behind `err` (itself, its cause or its context), preferring one
    that names a path."""
    found, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in NO_SPACE:
            found.append(err)
        err = err.__cause__ or err.__context__
    named = [e for e in found if e.filename]
    return (named or found or [None])[0]


def _file_size_limit() -> int | None:
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _from_disk(outputs: Iterable[str | os.PathLike]) -> OSError | None:
    limit = _file_size_limit()
    for out in map(Path, outputs):
        if limit is not None and out.exists():
            files = out.rglob("*") if out.is_dir() else [out]
            for path in sorted(files):
                if path.is_file() and path.stat().st_size >= limit:
                    return OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(path))
        stat = os.statvfs(_existing(out))
        if stat.f_bavail * stat.f_frsize < LOW_SPACE:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))
    return None


def out_of_room(err: BaseException, outputs: Iterable[str | os.PathLike]) -> OSError | None:
    """The OSError (errno in NO_SPACE, naming a path) that explains `err`, or None when `err` is
    not a write that ran out of room."""
    return _from_chain(err) or _from_disk(outputs)
