"""Run a `livr` command in a child process and SIGKILL it at a chosen point (the fault tests).

A fixed sleep before the kill would land anywhere on a loaded machine, so the child is told where
to stop instead: `stall="module:Object.attribute"` replaces that function (or method) in the child
with one that, on its `call`-th call (counting only calls whose first argument, as text, contains
`match`, when given), creates the marker file and blocks. The parent waits for the
marker (with a generous deadline) and kills the child with SIGKILL -- a real kill at a known point
(mid-epoch, mid-generation, mid-write), not an exception that cleanup code could catch.

With `release` (a file name), the stalled call waits for that file instead and then goes on: a
pause at a known point, for the tests of what another process may do meanwhile (`pause`).

`run_limited` runs a command to its end under a file-size limit (RLIMIT_FSIZE, with SIGXFSZ
ignored so that a write past it fails with EFBIG, as on a full disk) -- the full-disk tests.
"""

from __future__ import annotations

import functools
import importlib
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 240  # for the child to reach the stall point on a loaded 2-core machine


def _stall(target: str, call: int, marker: str, match: str | None = None, release: str | None = None) -> None:
    """In the child: the `call`-th call of `target` (among those whose first argument contains
    `match`) touches `marker` and never returns (or, with `release`, returns once that file exists)."""
    module, _, attribute = target.partition(":")
    owner = importlib.import_module(module)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = 0

    @functools.wraps(original)
    def stalled(*args, **kwargs):
        nonlocal calls
        if match is not None and not (args and match in str(args[0])):
            return original(*args, **kwargs)
        calls += 1
        if calls == call:
            Path(marker).touch()
            while release is None or not Path(release).exists():
                time.sleep(0.05 if release else 1)
        return original(*args, **kwargs)

    setattr(owner, name, stalled)


def child_main(argv: list[str], *, preload: tuple[str, ...] = (), stall: str | None = None,
               call: int = 1, match: str | None = None, marker: str | None = None,
               release: str | None = None) -> None:
    """Entry point of the child: heavy imports, one torch thread, the stall, then `livr ARGV`."""
    import gc

    for name in preload:
        importlib.import_module(name)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)  # as the tests do: 2 threads on 2 busy cores crawl
    gc.freeze()  # accelerate's gc.collect() at every Trainer.train() would rescan the import heap
    if stall is not None:
        _stall(stall, call, marker, match, release)
    from livr.cli.main import main

    sys.exit(main(argv))


def _limit_file_size(limit: int) -> None:
    """In the child, before exec: writes past `limit` bytes fail with EFBIG (SIGXFSZ, which would
    kill the process instead, stays ignored across exec)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _child(argv: list[str], **kwargs) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a child running `child_main(ARGV, **kwargs)`."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tests.faults import child_main; "
            f"child_main({[str(a) for a in argv]!r}, **{kwargs!r})")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
           "TOKENIZERS_PARALLELISM": "false"}
    return [sys.executable, "-c", code], env


def start(argv: list[str], log: Path, *, preload: tuple[str, ...] = (), stall: str | None = None,
          call: int = 1, match: str | None = None, marker: str | Path | None = None,
          release: str | Path | None = None) -> subprocess.Popen:
    """`livr ARGV` in a child process (offline; its stderr goes to `log`), stalled as above."""
    cmd, env = _child(argv, preload=tuple(preload), stall=stall, call=call, match=match,
                      marker=None if marker is None else str(marker),
                      release=None if release is None else str(release))
    with open(log, "wb") as err:  # a file, not a pipe: a chatty child never blocks on a full pipe
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)


def kill_when(proc: subprocess.Popen, ready, what: str, log: Path | None = None,
              deadline_s: float = DEADLINE_S) -> None:
    """SIGKILL `proc` as soon as `ready()` is true; fail if it exits first or takes too long."""
    try:
        deadline = time.monotonic() + deadline_s
        while not ready():
            if proc.poll() is not None:
                err = log.read_text(errors="replace")[-3000:] if log else ""
                raise AssertionError(f"the child exited (status {proc.returncode}) before {what}:\n{err}")
            assert time.monotonic() < deadline, f"the child did not reach {what} in {deadline_s} s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def run_killed(argv: list[str], workdir: Path, *, stall: str, call: int = 1, match: str | None = None,
               preload: tuple[str, ...] = ()) -> None:
    """Run `livr ARGV` until the `call`-th call of `stall`, then SIGKILL it. The marker file and
    the child's stderr go to `workdir` (keep it apart from the outputs under test)."""
    workdir.mkdir(parents=True, exist_ok=True)
    marker, log = workdir / "stalled", workdir / "stderr.txt"
    marker.unlink(missing_ok=True)
    proc = start(argv, log, preload=preload, stall=stall, call=call, match=match, marker=marker)
    kill_when(proc, marker.exists, f"call {call} of {stall}", log)


class pause:
    """`with pause(argv, workdir, stall=..., call=...) as proc:` runs `livr ARGV` in a child until
    the `call`-th call of `stall`, where it waits while the body runs; on leaving, the child goes
    on and is waited for (its exit status is `proc.returncode`; its stderr is `workdir/stderr.txt`)."""

    def __init__(self, argv: list[str], workdir: Path, *, stall: str, call: int = 1, match: str | None = None,
                 preload: tuple[str, ...] = ()) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.marker, self.release, self.log = workdir / "paused", workdir / "go-on", workdir / "stderr.txt"
        for path in (self.marker, self.release):
            path.unlink(missing_ok=True)
        self.args = dict(argv=argv, stall=stall, call=call, match=match, preload=preload)

    def __enter__(self) -> subprocess.Popen:
        a = self.args
        self.proc = start(a["argv"], self.log, preload=a["preload"], stall=a["stall"], call=a["call"],
                          match=a["match"], marker=self.marker, release=self.release)
        deadline = time.monotonic() + DEADLINE_S
        while not self.marker.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the child did not reach {a['stall']} (status {self.proc.returncode}):\n"
                                     + self.log.read_text(errors="replace")[-3000:])
            time.sleep(0.01)
        return self.proc

    def __exit__(self, *exc) -> None:
        self.release.touch()
        try:
            self.proc.wait(timeout=DEADLINE_S)
        finally:
            self.proc.kill()
            self.proc.wait()


def run_limited(argv: list[str], max_file_size: int, *, preload: tuple[str, ...] = ()) -> tuple[int, str]:
    """Run `livr ARGV` to its end with no file over `max_file_size` bytes; (exit status, stderr).
    Its stderr is a pipe: the limit would cut a log file too."""
    cmd, env = _child(argv, preload=tuple(preload))
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          preexec_fn=functools.partial(_limit_file_size, max_file_size), timeout=DEADLINE_S)
    return proc.returncode, proc.stderr.decode(errors="replace")


def tree_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` (hidden names included)."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
