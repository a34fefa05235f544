"""livr.io under SIGKILL: writers killed at random moments never leave an incomplete file or folder
under its final name.

A child process writes, over and over, to fixed final names: a 1 MB binary blob that starts with
the SHA-256 of the rest, a 0.5 MB JSON document carrying the checksum of its text, and a folder of
four files plus a manifest of their checksums (`atomic_dir`). The parent kills it with SIGKILL
after a seeded random delay, many times, and after each kill checks every final name that exists.
The same checker run against a naive writer (`open(final, "wb")`) must catch it: the test can fail.
"""

from __future__ import annotations

import hashlib
import json
import random
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livr.io import atomic_dir, atomic_write_bytes, atomic_write_json, discard

WRITER = r'''
import hashlib, json, os, random, sys
from pathlib import Path
from livr.io import atomic_dir, atomic_write_bytes, atomic_write_json

root, mode, seed, once = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "once"
rng = random.Random(seed)
sha = lambda data: hashlib.sha256(data).hexdigest()

def naive_bytes(path, data):  # what the checker must catch: the final name, written in pieces
    with open(path, "wb") as fh:
        for i in range(0, len(data), 1 << 16):
            fh.write(data[i:i + (1 << 16)])
            fh.flush()

def naive_json(path, obj):
    naive_bytes(path, json.dumps(obj).encode())

class naive_dir:
    def __init__(self, path, overwrite):
        self.path = path
    def __enter__(self):
        self.path.mkdir(exist_ok=True)
        return self.path
    def __exit__(self, *exc):
        return False

write_bytes, write_json, folder = ((atomic_write_bytes, atomic_write_json, atomic_dir) if mode == "atomic"
                                   else (naive_bytes, naive_json, naive_dir))

def payloads(k):  # made before the loop, so that the writer spends its time writing
    body = rng.randbytes(1 << 20)
    text = rng.randbytes(1 << 18).hex()
    files = {f"part-{i}.bin": rng.randbytes(1 << 18) for i in range(4)}
    return (sha(body).encode() + body, {"n": k, "text": text, "sha256": sha(text.encode())}, files,
            json.dumps({n: sha(d) for n, d in files.items()}))

variants = [payloads(k) for k in range(2)]
print("ready", flush=True)
for i in range(1 if once else 10**9):
    blob, doc, files, manifest = variants[i % 2]
    write_bytes(root / "blob.bin", blob)
    write_json(root / "doc.json", doc)
    with folder(root / "folder", overwrite=True) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / "manifest.json").write_text(manifest)
'''

FINAL = {"blob.bin", "doc.json", "folder"}


def problems(root: Path) -> list[str]:
    """What is wrong with the final names under `root` (an empty list: all complete or absent).
    Names starting with "." are a writer's temporary or discarded entries: readers ignore them."""
    found = []
    names = {p.name for p in root.iterdir() if not p.name.startswith(".")}
    found += [f"unexpected name {n}" for n in sorted(names - FINAL)]
    blob = root / "blob.bin"
    if blob.exists():
        data = blob.read_bytes()
        if data[:64] != hashlib.sha256(data[64:]).hexdigest().encode():
            found.append(f"blob.bin: checksum mismatch ({len(data)} bytes)")
    doc = root / "doc.json"
    if doc.exists():
        try:
            obj = json.loads(doc.read_text())
            if obj["sha256"] != hashlib.sha256(obj["text"].encode()).hexdigest():
                found.append("doc.json: checksum mismatch")
        except ValueError as err:
            found.append(f"doc.json: not JSON ({err})")
    folder = root / "folder"
    if folder.exists():
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError) as err:
            found.append(f"folder: no readable manifest ({err})")
        else:
            if sorted(p.name for p in folder.iterdir()) != sorted([*manifest, "manifest.json"]):
                found.append("folder: files differ from the manifest")
            found += [f"folder/{n}: checksum mismatch" for n, h in manifest.items()
                      if not (folder / n).is_file() or hashlib.sha256((folder / n).read_bytes()).hexdigest() != h]
    return found


def _writer(root: Path, mode: str, seed: int, once: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), mode, str(seed), "once" if once else "loop"],
                            stdout=subprocess.PIPE)


def _kill_at_random(root: Path, mode: str, seed: int, rng: random.Random) -> None:
    """Start a writer, wait until it writes, let it run a random while, SIGKILL it."""
    proc = _writer(root, mode, seed)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready and proc.stdout.readline() == b"ready\n", "the writer did not start"
        time.sleep(rng.uniform(0, 0.25))
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -9


def test_writers_killed_at_random_never_leave_an_incomplete_final_name(tmp_path):
    rng = random.Random(8)
    root = tmp_path / "out"
    root.mkdir()
    temporaries = 0
    for kill in range(25):
        _kill_at_random(root, "atomic", kill, rng)
        assert problems(root) == [], f"after kill {kill}"
        hidden = [p for p in root.iterdir() if p.name.startswith(".")]
        assert all(".tmp-" in p.name or ".old-" in p.name for p in hidden)
        temporaries += len(hidden)
        for p in hidden:  # (kept small on disk; the last kill's are left for the write below)
            if kill < 24:
                discard(p)
    assert temporaries > 0  # some kills did land mid-write
    assert FINAL & {p.name for p in root.iterdir()}  # and some writes finished

    # a later write, with the killed writers' temporary names still around, completes
    proc = _writer(root, "atomic", 99, once=True)
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert problems(root) == [] and FINAL <= {p.name for p in root.iterdir()}


def test_the_checker_catches_a_naive_writer(tmp_path):
    """Sanity check of the test above: the same kills against a non-atomic writer are caught."""
    rng = random.Random(8)
    root = tmp_path / "out"
    root.mkdir()
    for kill in range(10):
        _kill_at_random(root, "naive", kill, rng)
        if problems(root):
            return
    pytest.fail("10 kills of a naive writer left no incomplete final name: the checker is blind")


# ----------------------------------------------------------------------------- in-process


def test_failed_atomic_writes_leave_the_old_content(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "d") as tmp:
        (tmp / "x").write_text("partial")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]  # no folder, no temporaries
    atomic_write_bytes(tmp_path / "b.bin", b"x")
    assert (tmp_path / "b.bin").read_bytes() == b"x"


def test_discard_renames_before_deleting(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    (folder / "sub").mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    (folder / "sub" / "w.bin").write_bytes(b"w")

    seen = []

    def rmtree(path, **kwargs):  # what deletion sees: the folder already gone from its name
        seen.append((Path(path).name, folder.exists()))
        raise KeyboardInterrupt  # interrupted while deleting

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    with pytest.raises(KeyboardInterrupt):
        discard(folder)
    assert seen[0][1] is False and seen[0][0].startswith(".run.old-")
    assert not folder.exists()  # no half-deleted folder under its own name
    monkeypatch.undo()

    discard(tmp_path / "missing")  # nothing to do
    (tmp_path / "f.txt").write_text("x")
    discard(tmp_path / "f.txt")
    assert not (tmp_path / "f.txt").exists()
