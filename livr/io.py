"""Atomic writes: a file or folder either appears complete under its final name or not at all.

Everything livr writes that a later step trusts (data sets, checkpoints, metrics, reports) goes
through these helpers: write under a temporary name in the same directory, flush and fsync the
files and folders, then `os.replace` (atomic on POSIX within one file system), then fsync the
parent folder so the rename itself is durable. Temporary names are hidden and carry the
writer's process id (`.NAME.tmp-PID-xxxx`, `.NAME.old-PID-xxxx` for an old output on its way
out): nothing reads them, and `clean_leftovers` removes those of killed writers the next time a
command writes to that place. `discard` deletes an old output the same way round, so that a
half-deleted folder never carries its final name either.

A write that fails (a full disk, a file-size limit) raises an OSError that names the final path,
never the temporary one (which is removed): see `NO_SPACE`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

# The errors of a write that ran out of room: a full disk, a quota, a file-size limit.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

# `.NAME.tmp-PID-xxxx` / `.NAME.old-PID-xxxx`; older livr versions wrote no PID.
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?:(?P<pid>\d+)-)?[a-z0-9_]+$")


def _prefix(name: str, kind: str) -> str:
    return f".{name}.{kind}-{os.getpid()}-"


def temp_dir(place: Path, name: str, kind: str = "tmp") -> Path:
    """A new hidden folder in `place` for an output called `name`, under the names that
    `clean_leftovers` recognises (`kind` "tmp": being written; "old": being deleted)."""
    return Path(tempfile.mkdtemp(prefix=_prefix(name, kind), dir=place))


def _name_the_path(err: OSError, final: Path, tmp: Path | None = None) -> OSError:
    """An out-of-room `err` with the final path as its file name: a write() error carries none,
    and one raised inside the temporary folder names a path that is about to disappear. Any
    other error is returned as it is."""
    if err.errno not in NO_SPACE:
        return err
    name = err.filename
    if name is not None and tmp is not None and str(name).startswith(str(tmp)):
        name = str(final) + str(name)[len(str(tmp)):]
    if name is None:
        name = str(final)
    if name == err.filename:
        return err
    named = OSError(err.errno, err.strerror or os.strerror(err.errno), str(name))
    named.__cause__ = err
    return named


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
    tmp = temp_dir(final.parent, final.name)
    try:
        yield tmp
        _publish_mode(tmp, is_dir=True)
        fsync_tree(tmp)
        if final.exists():
            if not overwrite:
                raise FileExistsError(f"{final} already exists")
            trash = temp_dir(final.parent, final.name, "old")
            os.replace(final, trash / final.name)
            os.replace(tmp, final)
            fsync_dir(final.parent)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
            fsync_dir(final.parent)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        named = _name_the_path(err, final, tmp)
        if named is err:
            raise
        raise named from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path.name, "tmp"), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _publish_mode(Path(tmp), is_dir=False)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            named = _name_the_path(err, path, Path(tmp))
            if named is not err:
                raise named from err
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
        trash = temp_dir(path.parent, path.name, "old")
        os.replace(path, trash / path.name)
        shutil.rmtree(trash, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        os.unlink(path)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(entry: Path) -> bool:
    """Delete `entry`; False if it could not be (it stays, and is reported)."""
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            entry.unlink()
    return not os.path.lexists(entry)


def clean_leftovers(path: str | os.PathLike, *, names: tuple[str, ...] = ()) -> dict[str, list[Path]]:
    """Remove the temporaries that killed writers left at `path`: `.NAME.tmp-*` / `.NAME.old-*`
    beside it (for NAME its own name and `names`), and any such hidden entry inside it, at any
    depth. An entry whose writer (the PID in its name) still runs is kept. The caller holds the
    exclusive lock of `path`, so a temporary of `path` itself without a PID (older livr) is dead too.
    Returns {"removed": [...], "live": [...] (a live process owns them), "stuck": [...] (could not
    be deleted)}."""
    path = Path(path)
    found: dict[str, list[Path]] = {"removed": [], "live": [], "stuck": []}

    def visit(entry: Path, pid_less_is_dead: bool) -> bool:
        match = _LEFTOVER.match(entry.name)
        if not match:
            return False
        pid = match["pid"]
        if pid is None and not pid_less_is_dead:
            return True  # an unknown owner: leave it
        if pid is not None and (int(pid) == os.getpid() or pid_alive(int(pid))):
            found["live"].append(entry)
        else:
            found["removed" if _remove(entry) else "stuck"].append(entry)
        return True

    own = {path.name, *names}
    with contextlib.suppress(OSError):
        for entry in sorted(path.parent.iterdir()):
            match = _LEFTOVER.match(entry.name)
            if match and match["name"] in own:
                visit(entry, pid_less_is_dead=True)
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in sorted(files):
                visit(Path(root) / name, pid_less_is_dead=False)
            dirs[:] = [d for d in sorted(dirs) if not visit(Path(root) / d, pid_less_is_dead=False)]
    return found
