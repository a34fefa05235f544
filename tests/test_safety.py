"""Offline and safe by default: no network with HF_HUB_OFFLINE=1, weights only through safetensors
or `torch.load(weights_only=True)`, remote code only on the user's flag, no credentials in the
code or in what a run writes."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "livr").rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
SECRET = "hf_livrTestSecretDoNotLeak0123456789abc"

# The only literal trust_remote_code=True: LLaVA-OneVision-1.5's loader, after it has refused to
# go on unless the user passed the flag (tests/models/test_loading.py checks that refusal).
REMOTE_CODE_ALLOWED = {"livr/models/backbones/llava_onevision_1_5.py"}


def calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            yield node


def name_of(call: ast.Call) -> str:
    return ast.unparse(call.func)


def test_every_torch_load_is_weights_only():
    found = []
    for path in SOURCES:
        for call in calls(path):
            if name_of(call).endswith("torch.load"):
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in call.keywords)
                found.append((path.relative_to(ROOT).as_posix(), call.lineno, safe))
    assert found, "the scan found no torch.load at all: it is not looking at the code"
    assert [f for f in found if not f[2]] == []


def test_no_pickle_and_no_unguarded_remote_code():
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(), rel)
        imports = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                   for a in n.names} | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {"pickle", "dill", "cloudpickle", "joblib"} & imports, rel
        for call in calls(path):
            for k in call.keywords:
                if k.arg == "trust_remote_code" and isinstance(k.value, ast.Constant) and k.value.value:
                    assert rel in REMOTE_CODE_ALLOWED, f"{rel}:{call.lineno} passes trust_remote_code=True"


def test_trust_remote_code_defaults_to_off():
    from livr.models.backbones.base import from_pretrained_kwargs
    from livr.training.config import LivrTrainingConfig

    assert LivrTrainingConfig().trust_remote_code is False
    assert from_pretrained_kwargs()["trust_remote_code"] is False


CREDENTIAL_PATTERNS = {
    "Hugging Face token": r"\bhf_[A-Za-z0-9]{30,}\b",
    "AWS access key": r"\bAKIA[0-9A-Z]{16}\b",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "OpenAI-style key": r"\bsk-[A-Za-z0-9]{32,}\b",
}


def test_no_credentials_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    files = [ROOT / f for f in tracked.stdout.split()] if tracked.returncode == 0 else SOURCES
    hits = []
    for path in files:
        if path.suffix in {".png", ".jpg", ".safetensors", ".arrow", ".ppm"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for what, pattern in CREDENTIAL_PATTERNS.items():
            for m in re.finditer(pattern, text):
                if m.group(0) != SECRET:  # this file's own planted test token
                    hits.append(f"{path.relative_to(ROOT)}: {what}")
    assert hits == []


# ----------------------------------------------------------------------------- behaviour

OFFLINE_RUN = r"""
import json, socket, sys
attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args[1:] or args)[:80])
    raise OSError("network disabled by the test")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

import torch
torch.set_num_threads(1)
from livr.cli.main import main
argv = json.loads(sys.argv[1])
codes = [main(a) for a in argv]
print("RESULT " + json.dumps({"codes": codes, "attempts": attempts}))
"""


@pytest.fixture(scope="module")
def offline_session(tmp_path_factory):
    """`livr data synth`, `livr train` and `livr eval` in one fresh process with sockets disabled,
    HF_HUB_OFFLINE=1 and a Hugging Face token in the environment."""
    from tests.training.conftest import make_data, tiny

    tmp = tmp_path_factory.mktemp("offline")
    data = make_data(tmp / "data", ["localization"])
    train = ["train"] + [f"--{k}={v}" for k, v in tiny(data, tmp / "run").items()]
    argv = [["data", "synth", "--tasks", "counting", "--train", "2", "--val", "1", "--test", "1",
             "--image-size", "56", "--no-progress", "--out", str(tmp / "synth")],
            train,
            ["eval", "--model", str(tmp / "run"), "--data", data, "--out", str(tmp / "eval"), "--quiet"]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": SECRET, "HUGGING_FACE_HUB_TOKEN": SECRET,
           "TRANSFORMERS_VERBOSITY": "info"}
    proc = subprocess.run([sys.executable, "-c", OFFLINE_RUN, json.dumps(argv)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return tmp, json.loads(lines[-1][len("RESULT "):]), proc.stdout + proc.stderr


def test_offline_runs_never_touch_the_network(offline_session):
    tmp, result, _ = offline_session
    assert result["codes"] == [0, 0, 0]
    assert result["attempts"] == []
    assert (tmp / "run" / "metrics.json").is_file() and (tmp / "eval" / "eval.json").is_file()


def test_runs_write_safetensors_and_no_credentials(offline_session):
    tmp, _, output = offline_session
    written = [p for p in tmp.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in written)
    assert not [p for p in written if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".pickle"}]
    assert SECRET not in output
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
