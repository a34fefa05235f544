"""livr/cli/full_disk.py: which failures the CLI reports as a full disk (one line) and which keep
their traceback (a bug)."""

from __future__ import annotations

import errno
import os
from types import SimpleNamespace

import pytest

from livr.cli import full_disk
from livr.cli.main import main


def test_errno_in_the_chain_names_its_path(tmp_path):
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))
        except OSError as inner:
            raise RuntimeError("save failed") from inner
    except RuntimeError as err:
        found = full_disk.out_of_room(err, [tmp_path])
    assert found.errno == errno.ENOSPC and found.filename == str(tmp_path / "x")


def test_an_errno_less_failure_is_put_down_to_the_disk_only_when_it_is_full(tmp_path, monkeypatch):
    out = tmp_path / "RUN" / "checkpoints"  # not there yet: its nearest existing folder is looked at
    assert full_disk.out_of_room(RuntimeError("file write failed"), [out]) is None  # a bug: traceback kept
    monkeypatch.setattr(full_disk.os, "statvfs", lambda path: SimpleNamespace(f_bavail=3, f_frsize=4096))
    found = full_disk.out_of_room(RuntimeError("file write failed"), [out])
    assert found.errno == errno.ENOSPC and found.filename == str(out)


def test_the_cli_prints_one_line_and_keeps_tracebacks_for_bugs(tmp_path, monkeypatch, capsys):
    import livr.cli.report as report

    def full(args):
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(tmp_path / "t.md"))

    monkeypatch.setattr(report, "run", full)
    assert main(["report", "x", "--out", str(tmp_path / "t.md")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"livr report: error: cannot write {tmp_path / 't.md'}: ")

    def bug(args):
        raise ValueError("a bug")

    monkeypatch.setattr(report, "run", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["report", "x", "--out", str(tmp_path / "t.md")])
