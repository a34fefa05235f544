"""The two VSP scorings: the original benchmark's replay (reaching the goal counts) and Mirage's
strict one (the final position must be the goal), in simulate_plan, score_predictions, eval.json
and `livr eval --vsp-scoring`."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from livr.cli.main import main
from livr.data.schema import make_record
from livr.data.synth.vsp import simulate_plan
from livr.errors import ConfigError
from livr.evaluation.run import score_predictions
from tests.data import fixtures as fx

GRID = ["SFG",
        "FHF",
        "FFF"]


@pytest.mark.parametrize("plan, replay, strict", [
    ("R, R", True, True),
    ("R, R, D", True, False),  # walks on past the goal: replay stops at G, strict ends on ice
    ("R, R, L, R", True, True),  # leaves and comes back: the final position is G
    ("R, R, R", True, True),  # off the board: the player stays on G
    ("D, R", False, False),  # a hole ends both
    ("R, R, D, L", True, False),  # past the goal into the hole: replay never gets there
    ("R", False, False),
    ("", False, False),
])
def test_replay_and_strict(plan, replay, strict):
    text = f"Action plan: {plan}"
    assert simulate_plan(GRID, text) is replay  # the default is the original benchmark's replay
    assert simulate_plan(GRID, text, "replay") is replay
    assert simulate_plan(GRID, text, "strict") is strict


def test_unknown_scoring_is_named():
    with pytest.raises(ConfigError, match="unknown VSP scoring 'lenient'; use one of replay, strict"):
        simulate_plan(GRID, "Action plan: R", "lenient")


def _records():
    image = Image.new("RGB", (30, 30))
    return [make_record(id=f"vsp-test-{i:06d}", task="vsp", images=[image], question="q", choices=[],
                        answer="Action plan: R, R", prompt="q", source="test", metadata={"grid": GRID})
            for i in range(4)]


def test_score_predictions_uses_the_chosen_scoring_and_reports_both():
    outputs = ["Action plan: R, R", "Action plan: R, R, D", "Action plan: D, R", "no idea"]
    replay, rows = score_predictions(_records(), outputs)
    assert [r["correct"] for r in rows] == [True, True, False, False]
    assert replay["accuracy"] == 0.5
    strict, rows = score_predictions(_records(), outputs, "strict")
    assert [r["correct"] for r in rows] == [True, False, False, False]
    assert strict["accuracy"] == 0.25
    for summary, scoring in ((replay, "replay"), (strict, "strict")):
        assert summary["vsp"] == {"n": 4, "replay_correct": 2, "strict_correct": 1, "replay_accuracy": 0.5,
                                  "strict_accuracy": 0.25, "scoring": scoring}
    assert "vsp" not in score_predictions([], [])[0]


def test_eval_cli_on_mirage_vsp_with_strict_scoring(tmp_path, capsys):
    root = tmp_path / "copy"
    fx.write_mirage_vsp(root, n_train=2, n_test=3)
    out = tmp_path / "eval"
    assert main(["eval", "--model", "tiny:qwen2_5_vl", "--data", f"mirage_vsp:{root}", "--limit", "2",
                 "--max-new-tokens", "3", "--vsp-scoring", "strict", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["n"] == 2 and report["per_task_n"] == {"vsp": 2}
    assert report["vsp"]["scoring"] == "strict" and report["vsp"]["n"] == 2
    assert report["correct"] == report["vsp"]["strict_correct"]
    assert "VSP (2 maps): replay" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--model", "tiny:qwen2_5_vl", "--data", f"mirage_vsp:{root}", "--vsp-scoring", "final",
              "--out", str(tmp_path / "e2")])
