"""The README's Python quick start runs as written."""

import re
from pathlib import Path

import numpy as np
from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_quick_start(tmp_path, monkeypatch):
    text = README.read_text()
    block = re.search(r"## Python quick start\s+```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8")).save("cat.png")
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["out"].logits.shape[0] == 1


def test_cli_quick_start_commands_exist():
    """Every `livr ...` line of the CLI quick start names a real sub-command (its --help works)."""
    import pytest

    from livr.cli.main import main

    text = README.read_text()
    block = re.search(r"## CLI quick start\s+```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split()[1:3] for line in block.splitlines() if line.startswith("livr ")]
    assert len(commands) >= 10
    for words in commands:
        argv = words[:2] if words[0] in ("data", "viz") else words[:1]
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--help"])
        assert exit_info.value.code == 0, argv
