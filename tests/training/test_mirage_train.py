"""`livr train --method mirage` end to end on a tiny Qwen2.5-VL (training alone on the other two
families): both stages, the reload and
latent-mode evaluation (at most K steps), and the refusals (no helper image, mirage_* fields)."""

import json
from pathlib import Path

import pytest

from livr.errors import ConfigError, DataError
from livr.training import load_config, load_run, train
from tests.training.conftest import make_data, tiny


@pytest.fixture(scope="module")
def vsp_data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("data") / "vsp", ["vsp"])


def mirage_values(data, out, **overrides):
    return tiny(data, out, method="mirage", num_latents=None, stage1_epochs=1, stage2_epochs=1,
                max_new_tokens=3, **overrides)


def test_mirage_trains_both_stages_reloads_and_decodes(vsp_data, tmp_path):
    from livr.cli.main import main

    values = mirage_values(vsp_data, tmp_path / "run")
    metrics = train(load_config(None, values))
    history = metrics["history"]
    assert [h["stage"] for h in history] == [1, 2]
    assert history[0]["train_mirage_cosine"] > 0 and "train_mirage_cosine" not in history[1]
    lm, config = load_run(values["output_dir"])
    assert lm.mirage is not None and lm.mirage.latents == 4 and config.method_spec.decoding == "latent"
    out = tmp_path / "eval"
    assert main(["eval", "--model", values["output_dir"], "--data", vsp_data, "--split", "test",
                 "--max-new-tokens", "3", "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert rows and all(0 <= r["latent_steps"] <= 4 for r in rows)
    # the reloaded run answers as the trained one did in its own test pass
    trained = {r["id"]: r["prediction"] for r in json.loads((Path(values["output_dir"]) / "test_predictions.json").read_text())}
    assert [r["output"] for r in rows] == [trained[r["id"]] for r in rows]
    # `livr probe`: the step budgets of latent-mode decoding apply to Mirage too
    probes = tmp_path / "probe"
    assert main(["probe", values["output_dir"], vsp_data, "--probes", "none,steps_0,steps_4", "--limit", "2",
                 "--out", str(probes), "--quiet"]) == 0
    for name, most in (("steps_0", 0), ("steps_4", 4)):
        report = json.loads((probes / name / "eval.json").read_text())
        assert report["lvr_steps"] == most and report["mean_latent_steps"] == most


@pytest.mark.parametrize("family", ["qwen3_vl", "llava_onevision"])
def test_mirage_trains_both_stages_on_the_other_families(vsp_data, tmp_path, family):
    metrics = train(load_config(None, mirage_values(vsp_data, tmp_path / "run", model=f"tiny:{family}")))
    assert [h["stage"] for h in metrics["history"]] == [1, 2]
    assert metrics["history"][0]["train_mirage_cosine"] > 0
    lm, _ = load_run(tmp_path / "run")
    assert lm.mirage is not None and lm.mirage.latents == 4


def test_mirage_refuses_records_without_helper_image(tmp_path):
    data = make_data(tmp_path / "loc", ["localization"])
    with pytest.raises(DataError, match="record .*localization-train-000000.* has no helper_image"):
        train(load_config(None, mirage_values(data, tmp_path / "run")))


def test_mirage_fields_belong_to_mirage(vsp_data, tmp_path):
    with pytest.raises(ConfigError, match="mirage_latents is set but method livr is not mirage"):
        load_config(None, tiny(vsp_data, tmp_path / "r", mirage_latents=2)).resolved()
    with pytest.raises(ConfigError, match="mirage_latents must be an integer >= 1"):
        load_config(None, mirage_values(vsp_data, tmp_path / "r", mirage_latents=0)).resolved()
