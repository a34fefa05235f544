"""End-to-end `livr train` runs on a tiny Qwen2.5-VL and tiny synthetic data (CPU, offline)."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from livr.cli.main import main
from livr.training import load_config, load_run, train
from tests.training.conftest import tiny


def run(values, **kwargs):
    return train(load_config(None, values), **kwargs)


def cli(*argv) -> int:
    return main(["train", *map(str, argv)])


@pytest.fixture(scope="module")
def livr_run(loc_data, tmp_path_factory):
    """The reference LIVR run: stage 1 (1 epoch, bottleneck) then stage 2 (2 epochs, standard)."""
    out = tmp_path_factory.mktemp("runs") / "livr"
    values = tiny(loc_data, out, stage2_epochs=2, report_to="tensorboard")
    return values, run(values, command="livr train (test)")


def test_livr_run_folder(livr_run):
    values, metrics = livr_run
    out = Path(values["output_dir"])
    names = {p.name for p in out.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "processor_config.json",
            "config.yaml", "metrics.json", "progress.json", "test_predictions.json", "logs"} <= names
    assert "checkpoints" not in names and "best" not in names  # cleaned up after success
    assert not [n for n in names if n.startswith(".")]  # no temporary leftovers

    weights = load_file(str(out / "adapter_model.safetensors"))
    delta = [k for k in weights if "trainable_tokens_delta" in k]
    assert len(delta) == 1 and weights[delta[0]].shape[0] == 4  # the K latent rows
    assert any("lora_A" in k for k in weights) and not any("visual" in k for k in weights)
    tokenizer = json.loads((out / "tokenizer.json").read_text())
    assert {f"<|latent_{i}|>" for i in range(4)} <= {t["content"] for t in tokenizer["added_tokens"]}

    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["method"] == "livr" and saved["num_latents"] == 4 and saved["stage1_mask"] == "bottleneck"
    assert (out / "config.yaml").read_text().startswith("# Resolved config of this run; launched with:")

    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["method"] == "livr" and metrics["tasks"] == ["localization"]
    assert metrics["selection"] == "best" and metrics["selected_epoch"] == metrics["best_epoch"]
    assert 0 <= metrics["best_val_accuracy"] <= 1 and 0 <= metrics["test_accuracy"] <= 1
    history = metrics["history"]
    assert [(h["epoch"], h["stage"], h["stage_epoch"], h["mask"]) for h in history] == [
        (1, 1, 1, "bottleneck"), (2, 2, 1, "standard"), (3, 2, 2, "standard")]
    assert all(h["train_loss"] > 0 and "val_accuracy" in h for h in history)
    # stage-1 epochs are validated under their own mask and the standard one, stage-2 epochs under
    # the standard one only; the run ends with stage 2, so the standard mask selects and tests
    assert metrics["eval_mask"] == "standard"
    assert [sorted(h["val_accuracy_by_mask"]) for h in history] == [["bottleneck", "standard"], ["standard"],
                                                                   ["standard"]]
    assert all(h["val_accuracy"] == h["val_accuracy_by_mask"]["standard"] for h in history)
    assert json.loads((out / "progress.json").read_text())["history"] == history
    # each stage has its own schedule: steps restart, and each stage decays to 0 at its end
    assert [h["global_step"] for h in history] == [1, 1, 2]
    assert history[0]["learning_rate"] == 0 and history[1]["learning_rate"] > 0 == history[2]["learning_rate"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for stage in (1, 2):
        assert list((out / "logs" / f"stage{stage}").glob("events.out.tfevents.*"))
        events = EventAccumulator(str(out / "logs" / f"stage{stage}"))
        events.Reload()
        tags[stage] = {t.removeprefix("train/") for t in events.Tags()["scalars"] if t.startswith("train/livr/")}
    assert tags[1] == {"livr/train_loss", "livr/val_accuracy", "livr/val_accuracy/bottleneck",
                       "livr/val_accuracy/standard"}
    assert tags[2] == {"livr/train_loss", "livr/val_accuracy", "livr/val_accuracy/standard"}


def test_load_run_reproduces_test_predictions(livr_run, loc_data):
    from livr.evaluation.generate import evaluate
    from livr.training.data import load_run_data

    values, metrics = livr_run
    lm, config = load_run(values["output_dir"])
    records = load_run_data(config).test.records
    report = evaluate(lm, records, max_new_tokens=config.max_new_tokens)
    saved = json.loads((Path(values["output_dir"]) / "test_predictions.json").read_text())
    assert [row["prediction"] for row in saved] == report["predictions"]
    assert [row["id"] for row in saved] == [r["id"] for r in records]
    assert report["accuracy"] == metrics["test_accuracy"]


def test_same_seed_same_metrics(livr_run, tmp_path):
    values, _ = livr_run
    again = {**values, "output_dir": str(tmp_path / "again")}
    run(again)
    first, second = Path(values["output_dir"]), Path(again["output_dir"])
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()
    assert (first / "adapter_model.safetensors").read_bytes() == (second / "adapter_model.safetensors").read_bytes()


def test_resume_after_sigkill_in_stage_2(livr_run, tmp_path):
    """Kill a `livr train` process right after its first stage-2 checkpoint; --resume finishes
    with the same metrics and weights as the uninterrupted run."""
    from tests.faults import kill_when, start

    values, _ = livr_run
    out = tmp_path / "killed"
    argv = ["train", "--resume"] + [f"--{k}={v}" for k, v in {**values, "output_dir": out}.items()]
    log = tmp_path / "stderr.txt"
    proc = start(argv, log, preload=("torch", "transformers", "peft"))
    checkpoints = out / "checkpoints" / "stage2"
    kill_when(proc, lambda: any(checkpoints.glob("checkpoint-*/trainer_state.json")),
              "its first stage-2 checkpoint", log)
    assert not (out / "metrics.json").exists()

    assert cli("--resume", "--out", out) == 0  # the run's own config.yaml
    reference = Path(values["output_dir"])
    assert (out / "metrics.json").read_bytes() == (reference / "metrics.json").read_bytes()
    assert (out / "adapter_model.safetensors").read_bytes() == (reference / "adapter_model.safetensors").read_bytes()
    assert cli("--resume", "--out", out) == 0  # a finished run: nothing to do


def test_resume_after_sigkill_in_stage_1(loc_data, tmp_path):
    """Kill a `livr train` process in stage 1's second epoch (its first checkpoint saved, the
    second epoch's optimizer step not taken); --resume finishes with the same metrics and weights
    as an uninterrupted run of the same config."""
    from tests.faults import run_killed

    values = tiny(loc_data, tmp_path / "straight", stage1_epochs=2, stage2_epochs=1)
    run(values)
    reference = Path(values["output_dir"])
    out = tmp_path / "killed"
    argv = ["train"] + [f"--{k}={v}" for k, v in {**values, "output_dir": out}.items()]
    # one optimizer step per epoch: the second training step is the first of stage 1's epoch 2
    run_killed(argv, tmp_path / "child", stall="livr.training.trainer:LivrTrainer.training_step", call=2,
               preload=("torch", "transformers", "peft"))
    assert [p.name for p in (out / "checkpoints" / "stage1").iterdir()] == ["checkpoint-1"]
    assert not (out / "checkpoints" / "stage2").exists() and not (out / "metrics.json").exists()
    assert [h["epoch"] for h in json.loads((out / "progress.json").read_text())["history"]] == [1]

    assert cli("--resume", "--out", out) == 0  # the run's own config.yaml
    assert (out / "metrics.json").read_bytes() == (reference / "metrics.json").read_bytes()
    assert (out / "adapter_model.safetensors").read_bytes() == (reference / "adapter_model.safetensors").read_bytes()
    assert [h["stage"] for h in json.loads((out / "metrics.json").read_text())["history"]] == [1, 1, 2]


def test_resume_between_stages(livr_run, tmp_path):
    """A run stopped after stage 1's last checkpoint (stage 2 never checkpointed, its epochs
    already in progress.json) restarts stage 2 from stage 1's weights and ends identically."""
    import shutil

    values, _ = livr_run
    out = tmp_path / "between"
    run({**values, "output_dir": str(out), "keep_checkpoints": True})
    assert [p.name for p in (out / "checkpoints" / "stage1").iterdir()] == ["checkpoint-1"]
    shutil.rmtree(out / "checkpoints" / "stage2")
    (out / "metrics.json").unlink()
    (out / "adapter_model.safetensors").unlink()
    assert cli("--resume", "--out", out) == 0
    reference = Path(values["output_dir"])
    assert (out / "metrics.json").read_bytes() == (reference / "metrics.json").read_bytes()
    assert (out / "adapter_model.safetensors").read_bytes() == (reference / "adapter_model.safetensors").read_bytes()


@pytest.mark.parametrize("method", ["sft", "latents_only", "mask_only", "image_twice", "prompt_tuning"])
def test_methods_through_the_cli(method, loc_data, mixed_data, tmp_path):
    """Each baseline and ablation trains from a YAML config plus flags; latents_only runs on a
    two-task mixture (multi-task: the final epoch is kept)."""
    latents = method in ("latents_only", "prompt_tuning")
    two_stages = method == "mask_only"
    values = tiny(mixed_data if method == "latents_only" else loc_data, tmp_path / "run",
                  num_latents=4 if latents else None, stage1_epochs=1 if two_stages else None)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({k: v for k, v in values.items() if k != "output_dir"}))
    assert cli(config, "--method", method, "--out", values["output_dir"], "--seed", 42) == 0

    out = Path(values["output_dir"])
    metrics = json.loads((out / "metrics.json").read_text())
    stages = [(h["stage"], h["mask"]) for h in metrics["history"]]
    assert stages == ([(1, "answer_bottleneck"), (2, "standard")] if two_stages else [(2, "standard")])
    assert metrics["num_latents"] == (4 if latents else 0)
    weights = load_file(str(out / "adapter_model.safetensors"))
    assert any("trainable_tokens_delta" in k for k in weights) == latents
    assert any("lora_" in k for k in weights) == (method != "prompt_tuning")
    # the saved run reloads with the kept epoch's weights
    from livr.evaluation.generate import evaluate
    from livr.training.data import load_run_data

    lm, config = load_run(out)
    report = evaluate(lm, load_run_data(config).validation.records, max_new_tokens=config.max_new_tokens,
                      image_repeats=config.method_spec.image_repeats)
    kept = next(h for h in metrics["history"] if h["epoch"] == metrics["selected_epoch"])
    assert report["accuracy"] == kept["val_accuracy"]
    if method == "latents_only":
        assert metrics["tasks"] == ["counting", "localization"] and metrics["selection"] == "final"
        assert metrics["selected_epoch"] == 1 and "test_accuracy" not in metrics
        assert set(metrics["history"][0]["val_accuracy_per_task"]) == {"counting", "localization"}
    else:
        assert metrics["selection"] == "best" and "test_accuracy" in metrics


@pytest.mark.parametrize("model,knobs", [
    ("tiny:qwen3_vl", {"latent_position": "before", "shared_latents": True,
                       "stage1_mask": "bottleneck_latent_blind", "num_latents": 2}),
    ("tiny:llava_onevision", {"stage1_mask": "answer_bottleneck"}),
])
def test_other_backbones_and_design_knobs(model, knobs, loc_data, tmp_path):
    out = tmp_path / "run"
    metrics = run(tiny(loc_data, out, model=model, **knobs))
    assert [(h["stage"], h["mask"]) for h in metrics["history"]] == [(1, knobs["stage1_mask"]), (2, "standard")]
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert {k: saved[k] for k in knobs} == knobs
    lm, _ = load_run(out)
    assert lm.latents.sequence() == (["<|latent|>"] * 2 if knobs.get("shared_latents") else
                                     [f"<|latent_{i}|>" for i in range(4)])


def test_image_twice_encodes_images_twice(loc_data):
    from livr.data.loading import load_split
    from livr.models.loading import load_backbone
    from livr.models.segments import Segment

    record = load_split(loc_data, "train")[0]
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=0)
    once, twice = (lm.collator(image_repeats=n).encode(record) for n in (1, 2))
    assert (twice.segment_ids == Segment.IMAGE).sum() == 2 * (once.segment_ids == Segment.IMAGE).sum()


def test_full_finetune_run(loc_data, tmp_path):
    """The Mirage-comparison setting (full fine-tuning of the language model) on a tiny scale."""
    out = tmp_path / "full"
    metrics = run(tiny(loc_data, out, full_finetune=True, learning_rate=1e-5, num_latents=2,
                       max_test_examples=2))
    assert (out / "model.safetensors").is_file() and not (out / "adapter_model.safetensors").exists()
    lm, config = load_run(out)
    assert config.full_finetune and lm.latent_ids and metrics["num_latents"] == 2


def test_train_vision_run_saves_and_reloads_the_vision_tower(loc_data, tmp_path):
    """train_vision: the trained vision tower is saved with the adapter and comes back with
    load_run, so evaluation sees the weights that were trained."""
    out = tmp_path / "vision"
    run(tiny(loc_data, out, train_vision=True, learning_rate=1e-2, stage1_epochs=0, stage2_epochs=1,
             eval_every_epoch=False, max_test_examples=2))
    weights = load_file(str(out / "adapter_model.safetensors"))
    saved = {k: v for k, v in weights.items() if ".visual." in k}
    assert saved and any("lora_A" in k for k in weights)
    lm, config = load_run(out)
    assert config.train_vision
    merged = lm.model.merge_and_unload().state_dict()
    for key, value in saved.items():  # peft names them base_model.model.<module path>
        assert torch.equal(merged[key.removeprefix("base_model.model.")], value), key
    from livr.models.loading import load_backbone

    base = load_backbone("tiny:qwen2_5_vl", num_latents=4, seed=config.seed, trainable=False).model.state_dict()
    assert any(not torch.equal(merged[k], base[k]) for k in merged if k.startswith("model.visual."))


def test_export_merged_model_runs_in_plain_transformers(livr_run, loc_data, tmp_path):
    """`livr export --merge`, loaded the documented way (the processor through
    `livr.inference.load_processor`, which is `AutoProcessor` where torchvision is installed, and
    `AutoModelForImageTextToText`): its chat template and processor give the same token ids as
    livr's encoder (latents after the prompt), and plain `generate()` the same logits and greedy
    answers as the trained adapter."""
    from transformers import AutoModelForImageTextToText

    from livr.data.loading import load_split
    from livr.evaluation.generate import encode_prompts, generate_answers, prompt_collator
    from livr.inference import load_processor

    values, _ = livr_run
    out = tmp_path / "exported"
    assert main(["export", values["output_dir"], "--merge", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {
        "config.json", "generation_config.json", "model.safetensors", "livr_export.json",  # the model
        "processor_config.json", "chat_template.jinja", "tokenizer.json", "tokenizer_config.json"}  # processor
    assert json.loads((out / "processor_config.json").read_text())["processor_class"] == "Qwen2_5_VLProcessor"

    processor = load_processor(out)
    model = AutoModelForImageTextToText.from_pretrained(out).eval()

    records = list(load_split(loc_data, "test"))
    lm, _ = load_run(values["output_dir"])
    lm.model.eval()
    examples = encode_prompts(lm, records)
    for record, example in zip(records, examples):
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": record["prompt"]}]}]
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[text], images=record["images"], return_tensors="pt")
        assert inputs["input_ids"][0].tolist() == example.input_ids.tolist()
        with torch.no_grad():
            plain = model(**inputs).logits
            ours = lm(prompt_collator(lm).pad([example]), mask_policy="standard").logits
        torch.testing.assert_close(plain, ours, atol=1e-4, rtol=1e-4)
        generated = model.generate(**inputs, do_sample=False, max_new_tokens=4)
        answer = processor.decode(generated[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        assert answer == generate_answers(lm, [example], max_new_tokens=4)[0]


# ----------------------------------------------------------------------------- bad input


def test_errors_before_training(loc_data, livr_run, tmp_path, capsys):
    import datasets

    other = tmp_path / "other-schema"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"]})}).save_to_disk(str(other))
    base = ["--model", "tiny:qwen2_5_vl", "--num_latents", 4]

    assert cli(*base, "--data", other, "--out", tmp_path / "a") == 2
    assert "does not have livr's schema" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()

    assert cli(*base, "--data", loc_data, "--out", tmp_path / "b", "--tasks", "jigsaw") == 2
    assert "no training records for task(s) jigsaw" in capsys.readouterr().err

    assert cli(*base, "--method", "livrr", "--data", loc_data, "--out", tmp_path / "c") == 2
    assert "method 'livrr' is unknown" in capsys.readouterr().err

    values, _ = livr_run
    ref = values["output_dir"]
    before = (Path(ref) / "metrics.json").read_bytes()
    assert cli(*base, "--data", loc_data, "--out", ref) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli(*base, "--data", other, "--out", ref, "--overwrite") == 2  # bad data: nothing deleted
    assert "does not have livr's schema" in capsys.readouterr().err
    flags = [f"--{k}={v}" for k, v in {**values, "num_latents": 8, "model": "tiny:qwen3_vl"}.items()]
    assert cli("--resume", *flags) == 2
    err = capsys.readouterr().err
    assert "num_latents: the run has 4, now 8" in err and "model: the run has 'tiny:qwen2_5_vl'" in err
    assert (Path(ref) / "metrics.json").read_bytes() == before

    assert cli("--resume", "--out", tmp_path / "not-a-run-yet", "--data", loc_data) == 2  # no model given
    assert "model is required" in capsys.readouterr().err
