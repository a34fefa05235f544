"""`livr eval` and `livr probe` end to end on a finished tiny run, its export and a zero-shot model."""

from __future__ import annotations

import json
import shutil

import pytest

from livr.cli.main import main


def _eval(tmp_path, *args):
    out = tmp_path / "eval"
    code = main(["eval", *args, "--out", str(out), "--quiet"])
    return code, out


def _read(out):
    report = json.loads((out / "eval.json").read_text())
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return report, rows


def test_eval_of_a_run_reproduces_its_test_predictions(livr_run, eval_data, tmp_path):
    code, out = _eval(tmp_path, "--model", str(livr_run), "--data", eval_data)
    assert code == 0
    report, rows = _read(out)
    assert report["model_kind"] == "run" and report["method"] == "livr" and report["num_latents"] == 4
    assert set(report["train_tasks"]) == {"localization", "counting"}
    assert report["n"] == len(rows) == 6
    assert set(report["per_task"]) == {"localization", "counting"}
    assert report["per_task_n"] == {"counting": 3, "localization": 3}
    assert report["mean_task_accuracy"] == pytest.approx(sum(report["per_task"].values()) / 2)
    assert report["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / 6)
    # random choice: 1/2 for localization, 1/(distinct counts among 3 records) for counting
    assert report["random_per_task"]["localization"] == pytest.approx(0.5)
    assert 1 / 3 <= report["random_per_task"]["counting"] <= 1.0
    assert set(rows[0]) == {"id", "task", "output", "parsed", "gold", "correct"}
    assert report["unparsed"] == sum(r["parsed"] is None for r in rows)
    assert report["unparsed_ids"] == [r["id"] for r in rows if r["parsed"] is None]
    # the same greedy answers as the run's own test pass (same encoding, same latents)
    trained = {r["id"]: r for r in json.loads((livr_run / "test_predictions.json").read_text())}
    for row in rows:
        assert row["output"] == trained[row["id"]]["prediction"]
        assert row["correct"] == trained[row["id"]]["correct"]


def test_eval_of_the_export_matches_the_run(livr_run, exported, eval_data, tmp_path):
    code, out = _eval(tmp_path, "--model", str(exported), "--data", eval_data)
    assert code == 0
    report, rows = _read(out)
    assert report["model_kind"] == "export" and report["method"] == "livr" and report["num_latents"] == 4
    trained = {r["id"]: r["prediction"] for r in json.loads((livr_run / "test_predictions.json").read_text())}
    assert [r["output"] for r in rows] == [trained[r["id"]] for r in rows]


def test_export_encoding_has_latents_once(exported, livr_run):
    """The export's chat template appends the latents; livr strips that prelude and inserts (and
    tags) them itself, so the prompt is token for token the run's."""
    from livr.evaluation.generate import encode_prompts
    from livr.evaluation.models import load_eval_model
    from livr.models.segments import Segment

    import numpy as np
    from PIL import Image

    run, export = load_eval_model(str(livr_run)), load_eval_model(str(exported))
    record = {"id": "x", "task": "localization", "prompt": "Which? (A) a (B) b", "answer": "A",
              "images": [Image.fromarray(np.zeros((56, 56, 3), dtype="uint8"))]}
    a, b = encode_prompts(run.lm, [record])[0], encode_prompts(export.lm, [record])[0]
    assert a.input_ids.tolist() == b.input_ids.tolist()
    assert int((b.segment_ids == Segment.LATENT).sum()) == 4


def test_zero_shot_tiny_and_probes(eval_data, tmp_path):
    code, out = _eval(tmp_path, "--model", "tiny:qwen2_5_vl", "--data", eval_data, "--tasks", "localization",
                      "--limit", "2")
    assert code == 0
    report, rows = _read(out)
    assert report["method"] == "zero_shot" and report["model_kind"] == "tiny" and report["num_latents"] == 0
    assert report["n"] == 2 and {r["task"] for r in rows} == {"localization"}
    # random-init outputs are bytes noise: unreadable answers are counted wrong and listed
    assert report["unparsed"] >= 1 and report["correct"] <= report["n"] - report["unparsed"]


def test_probe_command_writes_every_probe(livr_run, eval_data, tmp_path):
    out = tmp_path / "probe"
    assert main(["probe", str(livr_run), eval_data, "--out", str(out), "--quiet", "--limit", "2"]) == 0
    result = json.loads((out / "probe.json").read_text())
    assert list(result["probes"]) == ["none", "remove_latents", "bottleneck", "bottleneck_remove_latents"]
    for name in result["probes"]:
        report, rows = _read(out / name)
        assert report["probe"] == name and len(rows) == 4
        assert report["latents_in_prompt"] == (name in ("none", "bottleneck"))
    att = result["attention"]
    assert 0 < att["answer_to_latent"] < 1 and 0 < att["answer_to_image"] < 1
    assert att["answer_to_latent"] + att["answer_to_image"] < 1
    assert "| bottleneck_remove_latents |" in (out / "probe.md").read_text()
    # the probe's `none` pass is the plain evaluation
    none_rows = _read(out / "none")[1]
    code, plain = _eval(tmp_path, "--model", str(livr_run), "--data", eval_data, "--limit", "2")
    assert [r["output"] for r in _read(plain)[1]] == [r["output"] for r in none_rows]


@pytest.mark.parametrize("model, data, extra, words", [
    (None, None, ["--split", "nope"], "no split 'nope'"),
    (None, None, ["--tasks", "juggling"], "unknown task 'juggling'"),
    (None, None, ["--tasks", "jigsaw"], "no records of task(s) jigsaw"),
    (None, None, ["--limit", "0"], "--limit"),
    (None, "/nonexistent/folder", [], "does not exist"),
    ("/nonexistent/model", None, [], "cannot load model"),
])
def test_bad_input_is_a_clear_error(model, data, extra, words, eval_data, tmp_path, capsys):
    code, _ = _eval(tmp_path, "--model", model or "tiny:qwen2_5_vl", "--data", data or eval_data, *extra)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and err.count("\n") <= 2
    assert words in err


def test_existing_out_is_refused_before_work(eval_data, tmp_path, capsys):
    (tmp_path / "eval").mkdir()
    code, _ = _eval(tmp_path, "--model", "tiny:qwen2_5_vl", "--data", eval_data)
    assert code == 2 and "already exists" in capsys.readouterr().err


def test_run_whose_latent_count_does_not_match_its_tokenizer(livr_run, tmp_path, eval_data, capsys):
    broken = tmp_path / "broken-run"
    shutil.copytree(livr_run, broken)
    config = (broken / "config.yaml").read_text()
    assert "num_latents: 4" in config
    (broken / "config.yaml").write_text(config.replace("num_latents: 4", "num_latents: 8"))
    code, _ = _eval(tmp_path, "--model", str(broken), "--data", eval_data)
    err = capsys.readouterr().err
    assert code == 2 and "num_latents=8" in err and "4 latent token(s)" in err


def test_export_whose_latent_count_does_not_match_its_tokenizer(exported, tmp_path, eval_data, capsys):
    broken = tmp_path / "broken-export"
    shutil.copytree(exported, broken)
    info = json.loads((broken / "livr_export.json").read_text())
    info["num_latents"] = 2
    (broken / "livr_export.json").write_text(json.dumps(info))
    code, _ = _eval(tmp_path, "--model", str(broken), "--data", eval_data)
    err = capsys.readouterr().err
    assert code == 2 and "latent" in err and "Traceback" not in err


def test_records_of_an_unknown_task_are_refused(tmp_path):
    from livr.errors import DataError
    from livr.evaluation.sources import check_tasks

    with pytest.raises(DataError, match="record 'q7' has task 'poetry'"):
        check_tasks([{"id": "q7", "task": "poetry"}], "somewhere")


def test_bottleneck_remove_latents_predictions_ignore_the_images(livr_run, eval_data):
    """On the trained run: the same prompts with other images give the same outputs under
    `bottleneck_remove_latents`, while the plain evaluation sees the images."""
    import numpy as np
    from PIL import Image

    from livr.evaluation.models import load_eval_model
    from livr.evaluation.run import Evaluator
    from livr.evaluation.sources import load_eval_records

    model = load_eval_model(str(livr_run))
    records = load_eval_records(eval_data, "test")
    rng = np.random.default_rng(0)
    noisy = [{**r, "images": [Image.fromarray(rng.integers(0, 256, (56, 56, 3), dtype=np.uint8))
                              for _ in r["images"]]} for r in records]
    outputs = {}
    for name, recs in (("original", records), ("noise", noisy)):
        ev = Evaluator(model, recs, max_new_tokens=4)
        outputs[name] = {p: [row["output"] for row in ev.run(p)[1]] for p in ("bottleneck_remove_latents",)}
        outputs[name]["logits"] = _first_step_logits(model, ev)
    assert outputs["original"]["bottleneck_remove_latents"] == outputs["noise"]["bottleneck_remove_latents"]
    assert (outputs["original"]["logits"] - outputs["noise"]["logits"]).abs().max() > 1e-5


def _first_step_logits(model, evaluator):
    import torch

    from livr.evaluation.generate import prompt_collator

    lm = model.lm
    batch = prompt_collator(lm).pad(evaluator.examples(True))
    with torch.no_grad():
        return lm.base_model(**lm.model_inputs(batch, "standard")).logits[:, -1]


def test_blink_eval_keeps_blink_ids_and_names_the_split_read(tmp_path):
    from tests.data.fixtures import write_blink

    root = write_blink(tmp_path / "BLINK", "Jigsaw", n=2)
    code, out = _eval(tmp_path, "--model", "tiny:qwen2_5_vl", "--data", f"blink:{root}", "--max-new-tokens", "2")
    assert code == 0
    report, rows = _read(out)
    assert [r["id"] for r in rows] == ["val_Jigsaw_1", "val_Jigsaw_2"]
    assert report["split"] == "val"  # --split test (the default) reads BLINK's val split
