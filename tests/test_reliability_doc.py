"""docs/reliability.md names its tests with their counts; recollect them so the page stays true."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def documented() -> dict[str, int]:
    rows = re.findall(r"^\|[^|]*\| `(tests/[^`]+)` \| (\d+) \|$", (ROOT / "docs" / "reliability.md").read_text(), re.M)
    return {node: int(count) for node, count in rows}


def test_reliability_page_counts_match_the_suite():
    table = documented()
    assert len(table) >= 10, "the table of docs/reliability.md was not found"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *table], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    items = [line.split("[")[0] for line in proc.stdout.splitlines() if line.startswith("tests/")]
    collected = Counter()
    for node in table:
        collected[node] = sum(1 for item in items if item == node or item.startswith(node + "::"))
    assert dict(collected) == table
