"""V*Bench and MMVP read from their published layouts (fixtures written by the tests), and their
scores: V* per category and overall, MMVP per question and per pair."""

from __future__ import annotations

import json

import pytest

from livr.evaluation.benchmarks import normalise_text, text_match
from livr.evaluation.run import score_predictions
from livr.evaluation.sources import load_eval_records
from livr.errors import DataError
from tests.data.fixtures import write_mmvp, write_vstar


def test_vstar_records(tmp_path):
    rows = write_vstar(tmp_path, n_attributes=3, n_position=2)
    records = load_eval_records(f"vstar:{tmp_path}")
    assert [r["task"] for r in records] == ["vstar_direct_attributes"] * 3 + ["vstar_relative_position"] * 2
    first = records[0]
    assert first["question"] == "What is the colour of the cup 0?"
    assert first["choices"] == ["red", "blue", "green", "white"]
    assert first["answer"] == rows[0]["label"] == "A"
    assert first["prompt"].splitlines()[2:6] == ["(A) red", "(B) blue", "(C) green", "(D) white"]
    assert "Answer with the option's letter" not in first["choices"][-1]
    assert records[4]["choices"] == ["left", "right"] and records[4]["answer"] == "B"
    meta = json.loads(records[3]["metadata"])
    assert meta["question_id"] == 3 and meta["category"] == "relative_position"
    assert records[0]["images"][0].size == (160, 120)
    # --tasks and --limit
    only = load_eval_records(f"vstar:{tmp_path}", tasks=["vstar_relative_position"])
    assert [r["id"] for r in only] == [r["id"] for r in records[3:]]
    assert len(load_eval_records(f"vstar:{tmp_path}", limit=1)) == 2


def test_vstar_bad_rows_name_the_line(tmp_path):
    write_vstar(tmp_path, 2, 1)
    path = tmp_path / "test_questions.jsonl"
    lines = path.read_text().splitlines()
    row = json.loads(lines[1])
    row["label"] = "E"
    path.write_text("\n".join([lines[0], json.dumps(row), lines[2]]) + "\n")
    with pytest.raises(DataError, match=r"test_questions.jsonl line 2: a direct_attributes question has 4"):
        load_eval_records(f"vstar:{tmp_path}")
    (tmp_path / "test_questions.jsonl").unlink()
    with pytest.raises(DataError, match="test_questions.jsonl"):
        load_eval_records(f"vstar:{tmp_path}")


def test_mmvp_records(tmp_path):
    write_mmvp(tmp_path, pairs=3)
    records = load_eval_records(f"mmvp:{tmp_path}")
    assert len(records) == 6 and {r["task"] for r in records} == {"mmvp"}
    assert records[0]["choices"] == ["Open", "Closed"]
    assert [r["answer"] for r in records] == ["A", "B"] * 3
    assert [json.loads(r["metadata"])["pair"] for r in records] == [0, 0, 1, 1, 2, 2]
    (tmp_path / "MMVP Images" / "4.jpg").unlink()
    with pytest.raises(DataError, match="Index 4: image MMVP Images/4.jpg not found"):
        load_eval_records(f"mmvp:{tmp_path}")


def test_offline_hub_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="could not download the MMVP dataset MMVP/MMVP"):
        load_eval_records("mmvp")


def test_mmvp_pair_accuracy(tmp_path):
    write_mmvp(tmp_path, pairs=3)
    records = load_eval_records(f"mmvp:{tmp_path}")
    # pair 0 both right, pair 1 one right, pair 2 both wrong
    outputs = ["A", "(B)", "A", "A", "B", "A"]
    summary, rows = score_predictions(records, outputs)
    assert [r["correct"] for r in rows] == [True, True, True, False, False, False]
    assert summary["accuracy"] == pytest.approx(0.5)
    mmvp = summary["mmvp"]
    assert mmvp["question_accuracy"] == pytest.approx(0.5)
    assert (mmvp["pairs"], mmvp["pairs_correct"]) == (3, 1)
    assert mmvp["pair_accuracy"] == pytest.approx(1 / 3)
    assert "vstar" not in summary
    # under --limit a pair may be cut: it is left out of pair accuracy and listed
    summary, _ = score_predictions(records[:3], outputs[:3])
    assert summary["mmvp"]["pairs"] == 1 and summary["mmvp"]["incomplete_pairs"] == [1]


def test_vstar_scores(tmp_path):
    write_vstar(tmp_path, n_attributes=3, n_position=2)
    records = load_eval_records(f"vstar:{tmp_path}")
    outputs = ["A", "C", "C", "A", "The answer is B"]  # gold: A B C | A B
    summary, _ = score_predictions(records, outputs)
    assert summary["per_task"] == {"vstar_direct_attributes": pytest.approx(2 / 3),
                                   "vstar_relative_position": pytest.approx(1 / 2)}
    vstar = summary["vstar"]
    assert vstar["accuracy"] == pytest.approx(3 / 5)  # micro average, the paper's V* column
    assert vstar["per_category"] == {"direct_attributes": pytest.approx(2 / 3),
                                     "relative_position": pytest.approx(1 / 2)}
    assert summary["random_per_task"] == {"vstar_direct_attributes": 0.25, "vstar_relative_position": 0.5}


def test_text_match():
    assert normalise_text("The Red, car!") == "red car"
    assert text_match("It is red.", "red")
    assert text_match("A red car", "the red car")
    assert not text_match("reddish", "red")
    assert not text_match("", "red") and not text_match("red", "")


def test_livr_eval_on_mmvp_writes_pair_accuracy(tmp_path, capsys):
    from livr.cli.main import main

    write_mmvp(tmp_path / "mmvp", pairs=2)
    out = tmp_path / "eval"
    assert main(["eval", "--model", "tiny:qwen2_5_vl", "--data", f"mmvp:{tmp_path / 'mmvp'}",
                 "--max-new-tokens", "2", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "eval.json").read_text())
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    pairs = [rows[0]["correct"] and rows[1]["correct"], rows[2]["correct"] and rows[3]["correct"]]
    assert report["mmvp"]["pair_accuracy"] == pytest.approx(sum(pairs) / 2)
    assert report["mmvp"]["question_accuracy"] == pytest.approx(report["accuracy"])
    assert "MMVP: pair accuracy" in capsys.readouterr().err
