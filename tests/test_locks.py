"""Output locks (livr/locks.py) and durable publishing (livr/io.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livr import io
from livr.cli.main import main
from livr.locks import OutputBusy, lock_paths, output_lock

ROOT = Path(__file__).resolve().parent.parent
HOLD = ("import sys, time; sys.path.insert(0, sys.argv[1]); from livr.locks import output_lock\n"
        "with output_lock(sys.argv[2], read=sys.argv[3] == 'r'):\n"
        "    open(sys.argv[4], 'w').close(); time.sleep(60)\n")


def _holder(path: Path, mode: str, tmp_path: Path) -> subprocess.Popen:
    ready = tmp_path / f"ready-{mode}"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ROOT), str(path), mode, str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def test_second_writer_refused_with_holder_then_free(tmp_path, capsys):
    run = tmp_path / "RUN"
    run.mkdir()
    (run / "keep.txt").write_text("first")
    proc = _holder(run, "w", tmp_path)
    try:
        status = main(["data", "synth", "--task", "counting", "--train", "4", "--val", "2", "--test", "2",
                       "--out", str(run), "--overwrite", "--no-progress"])
        err = capsys.readouterr().err
        assert status == 2
        assert str(run) in err and f"pid {proc.pid}" in err and socket.gethostname() in err
        assert (run / "keep.txt").read_text() == "first"  # nothing touched
    finally:
        proc.kill()
        proc.wait()
    with output_lock(run):  # the dead holder's lock is free again
        pass


def test_stale_holder_record_is_taken_over(tmp_path, capsys):
    run = tmp_path / "RUN"
    record = lock_paths(run)[1]
    record.write_text(json.dumps({"pid": 2 ** 22 + 7, "host": socket.gethostname(), "started": 0}))
    with output_lock(run):
        assert json.loads(record.read_text())["pid"] == os.getpid()
    assert "took over" in capsys.readouterr().err and not record.exists()


def test_readers_share_and_exclude_writers(tmp_path):
    data = tmp_path / "DATA"
    proc = _holder(data, "r", tmp_path)
    try:
        with output_lock(data, read=True):  # a second training may read the same data
            pass
        with pytest.raises(OutputBusy, match="read by a running training"):
            with output_lock(data):
                pass
    finally:
        proc.kill()
        proc.wait()


def test_lock_is_reentrant_in_one_process(tmp_path):
    with output_lock(tmp_path / "RUN"):
        with output_lock(tmp_path / "RUN"):
            pass


def test_atomic_dir_fsyncs_before_rename_and_parent_after(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace, real_open = os.fsync, os.replace, os.open
    names = {}

    def opening(path, *a, **k):
        fd = real_open(path, *a, **k)
        names[fd] = Path(path)
        return fd

    def fsync(fd):
        calls.append(("fsync", names.get(fd, "file")))
        return real_fsync(fd)

    def replace(a, b):
        calls.append(("replace", Path(b)))
        return real_replace(a, b)

    monkeypatch.setattr(io.os, "open", opening)
    monkeypatch.setattr(io.os, "fsync", fsync)
    monkeypatch.setattr(io.os, "replace", replace)
    final = tmp_path / "out"
    with io.atomic_dir(final) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.bin").write_bytes(b"a")
        (tmp / "b.bin").write_bytes(b"b")
    rename = calls.index(("replace", final))
    before = calls[:rename]
    synced = {p for kind, p in before if kind == "fsync"}
    assert {tmp / "sub" / "a.bin", tmp / "b.bin", tmp / "sub", tmp} <= synced
    assert before[-1] == ("fsync", tmp)  # the folder itself last, after its files
    assert calls[rename + 1:] and calls[rename + 1] == ("fsync", tmp_path)  # the parent after


def test_leftovers_of_killed_writers_are_removed_when_the_place_is_written_again(tmp_path, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    run = tmp_path / "RUN"
    (run / "sub").mkdir(parents=True)
    (run / "keep.json").write_text("{}")
    stale = [tmp_path / f".RUN.tmp-{dead}-abc123", tmp_path / f".RUN.old-{dead}-x_y9",
             tmp_path / ".RUN.tmp-k7_q2zzz",  # an older livr's name, without a pid: ours, since we hold the lock
             run / "sub" / f".metrics.json.tmp-{dead}-0a1b", run / f".artifacts.tmp-{dead}-zz"]
    for path in stale:
        path.mkdir() if "json" not in path.name else path.write_text("{")
    (stale[1] / "RUN").mkdir()
    other = tmp_path / f".OTHER.tmp-{dead}-abc123"  # another output's: not this command's to clean
    other.mkdir()
    proc = _holder(tmp_path / "ELSEWHERE", "w", tmp_path)  # a live process
    try:
        live = run / f".predictions.json.tmp-{proc.pid}-abcd"
        live.write_text("[")
        unknown = run / ".notes.tmp-abcdef"  # no pid inside the folder: owner unknown, left alone
        unknown.write_text("")
        with output_lock(run):
            pass
        err = capsys.readouterr().err
        assert not any(p.exists() for p in stale)
        assert live.exists() and unknown.exists() and other.exists() and (run / "keep.json").exists()
        assert f"removed {len(stale)} leftover temporaries" in err and f"left {live} alone" in err
    finally:
        proc.kill()
        proc.wait()


def test_lock_files_stay_beside_the_output_and_do_not_block_overwrite(tmp_path):
    out = tmp_path / "mix"
    argv = ["data", "synth", "--task", "counting", "--train", "2", "--val", "1", "--test", "1",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mix.lock", "mix"]  # record gone, lock kept
    assert not any(p.name.endswith(".lock") for p in out.rglob("*"))  # never inside the output
    assert main([*argv, "--seed", "3", "--overwrite"]) == 0
    from livr.data.loading import load_data
    assert len(load_data(out)["train"]) == 2
