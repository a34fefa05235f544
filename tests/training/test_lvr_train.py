"""`livr train --method lvr` end to end on a tiny Qwen2.5-VL: the run, its reload, latent-mode
evaluation with the steps recorded, resume, the refusal of a task without an ROI, a run on tiny LLaVA-OneVision and
full fine-tuning on tiny Qwen3-VL."""

import json
from pathlib import Path

import pytest

from livr.errors import ConfigError
from livr.training import load_config, load_run, train
from tests.training.conftest import make_data, tiny


def lvr_values(data, out, **overrides):
    return tiny(data, out, method="lvr", num_latents=None, stage1_epochs=None, stage2_epochs=2,
                lvr_steps=3, max_new_tokens=3, **overrides)


@pytest.fixture(scope="module")
def lvr_run(loc_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "lvr"
    values = lvr_values(loc_data, out)
    return values, train(load_config(None, values))


def test_lvr_run_records_its_reconstruction_loss(lvr_run):
    values, metrics = lvr_run
    assert metrics["method"] == "lvr" and metrics["num_latents"] == 0
    history = metrics["history"]
    assert len(history) == 2 and all(h["train_lvr_reconstruction"] > 0 for h in history)
    saved = (Path(values["output_dir"]) / "config.yaml").read_text()
    assert "lvr_steps: 3" in saved and "lvr_exit: fixed" in saved


def test_lvr_run_reloads_and_decodes_in_latent_mode(lvr_run, loc_data, tmp_path):
    from livr.cli.main import main

    values, metrics = lvr_run
    lm, config = load_run(values["output_dir"])
    assert lm.lvr is not None and lm.lvr.steps == 3 and config.method_spec.decoding == "latent"
    out = tmp_path / "eval"
    assert main(["eval", "--model", values["output_dir"], "--data", loc_data, "--split", "test",
                 "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert rows and all(r["latent_steps"] == 3 for r in rows)
    report = json.loads((out / "eval.json").read_text())
    assert report["mean_latent_steps"] == 3.0 and report["method"] == "lvr"
    # the run's own test evaluation decoded the same way
    assert report["accuracy"] == pytest.approx(metrics["test_accuracy"])


def test_lvr_same_seed_same_metrics(lvr_run, tmp_path):
    values, metrics = lvr_run
    again = train(load_config(None, {**values, "output_dir": str(tmp_path / "again")}))
    assert again["history"] == metrics["history"]


def test_lvr_refuses_a_task_without_roi(tmp_path):
    data = make_data(tmp_path / "jigsaw", ["jigsaw"])
    with pytest.raises(ConfigError, match="task 'jigsaw' has no region of interest for LVR"):
        train(load_config(None, lvr_values(data, tmp_path / "run")))
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_lvr_trains_on_llava_onevision(loc_data, tmp_path):
    # the ROI mapped onto LLaVA-OneVision's anyres features (livr.data.roi.anyres_roi_token_indices)
    metrics = train(load_config(None, lvr_values(loc_data, tmp_path / "run", model="tiny:llava_onevision")))
    assert metrics["method"] == "lvr"
    assert all(h["train_lvr_reconstruction"] > 0 for h in metrics["history"])


def test_lvr_full_finetune_on_qwen3_vl(loc_data, tmp_path):
    # Qwen3-VL's 32 px cells, and the whole language model trained (vision side frozen, as LVR does)
    values = lvr_values(loc_data, tmp_path / "run", model="tiny:qwen3_vl", full_finetune=True)
    metrics = train(load_config(None, values))
    assert metrics["history"][0]["train_lvr_reconstruction"] > 0
    lm, config = load_run(values["output_dir"])
    assert config.full_finetune and lm.lvr is not None and lm.lvr.steps == 3


def test_lvr_probes_and_report_row_with_its_step_budget(lvr_run, loc_data, tmp_path):
    from livr.cli.main import main

    values, _ = lvr_run
    probes = tmp_path / "probes"
    assert main(["probe", values["output_dir"], loc_data, "--split", "test", "--probes", "none,steps_0,steps_4",
                 "--out", str(probes), "--quiet"]) == 0
    for name, steps in (("none", 3), ("steps_0", 0), ("steps_4", 4)):
        rows = [json.loads(line) for line in (probes / name / "predictions.jsonl").read_text().splitlines()]
        assert {r["latent_steps"] for r in rows} == {steps}
        assert json.loads((probes / name / "eval.json").read_text())["lvr_steps"] == steps
    with pytest.raises(ConfigError, match="probe 'bottleneck' does not apply to an LVR model"):
        from livr.evaluation.models import load_eval_model
        from livr.evaluation.run import Evaluator

        Evaluator(load_eval_model(values["output_dir"]), []).run("bottleneck")
    out = tmp_path / "report.md"
    assert main(["report", values["output_dir"], str(probes / "steps_0"), str(probes / "steps_4"),
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert "| Steps |" in text
    lines = [line for line in text.splitlines() if line.startswith("| LVR")]
    assert lines[0].startswith("| LVR |") and lines[0].rstrip().endswith("| 3 |")
    assert any("probe: steps_0" in line and line.rstrip().endswith("| 0 |") for line in lines)


def test_lvr_export_is_refused_by_name(lvr_run, tmp_path):
    from livr.training.export import export_run

    with pytest.raises(ConfigError, match="method lvr, which decodes in latent mode"):
        export_run(lvr_run[0]["output_dir"], tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_predict_on_an_lvr_run_decodes_in_latent_mode(lvr_run, loc_data, tmp_path, capsys):
    """`livr predict` on an LVR run: its answer is the run's own test-pass answer (latent-mode
    decoding), and --probe lists LVR's step budgets."""
    from livr.cli.main import main
    from livr.data.loading import load_split
    from livr.evaluation.probes import LVR_PROBES

    values, _ = lvr_run
    record = next(iter(load_split(loc_data, "test")))
    record["images"][0].save(tmp_path / "a.png")
    trained = {r["id"]: r["prediction"]
               for r in json.loads((Path(values["output_dir"]) / "test_predictions.json").read_text())}
    argv = ["predict", "--model", values["output_dir"], "--image", str(tmp_path / "a.png"),
            "--prompt", record["prompt"], "--max-new-tokens", "3"]
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out == trained[record["id"]] + "\n"
    assert main([*argv, "--probe"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == list(LVR_PROBES)
    assert lines[0] == f"none: {trained[record['id']]}"
