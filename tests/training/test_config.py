"""LivrTrainingConfig: defaults per method, YAML + CLI overrides, every problem reported at once."""

import dataclasses

import pytest

from livr.errors import ConfigError
from livr.training.config import FIELDS, METHODS, LivrTrainingConfig, load_config

REQUIRED = {"model": "tiny:qwen2_5_vl", "data": "d", "output_dir": "o"}


def resolved(**values):
    return load_config(None, {**REQUIRED, **values}).resolved()


def test_every_field_has_help():
    for f in dataclasses.fields(LivrTrainingConfig):
        assert f.metadata.get("help"), f"{f.name} has no help text"


def test_paper_defaults():
    c = resolved()
    assert (c.method, c.num_latents, c.stage1_mask, c.stage1_epochs, c.stage2_epochs) == ("livr", 16, "bottleneck", 4, 6)
    assert (c.learning_rate, c.weight_decay, c.adam_beta1, c.adam_beta2, c.adam_epsilon) == (1e-4, 0.01, 0.9, 0.999, 1e-8)
    assert (c.per_device_train_batch_size, c.gradient_accumulation_steps, c.warmup_ratio) == (1, 8, 0.05)
    assert (c.lr_scheduler_type, c.seed, c.latent_position, c.shared_latents) == ("cosine", 42, "after", False)
    assert (c.lora_r, c.lora_alpha, c.lora_dropout, c.dataloader_num_workers) == (16, 32, 0.05, 0)
    assert c.stages() == [(1, "bottleneck", 4), (2, "standard", 6)]


@pytest.mark.parametrize("method,k,stages", [
    ("sft", 0, [(2, "standard", 10)]),
    ("livr", 16, [(1, "bottleneck", 4), (2, "standard", 6)]),
    ("latents_only", 16, [(2, "standard", 10)]),
    ("mask_only", 0, [(1, "answer_bottleneck", 4), (2, "standard", 6)]),
    ("image_twice", 0, [(2, "standard", 10)]),
    ("prompt_tuning", 16, [(2, "standard", 10)]),
])
def test_method_semantics(method, k, stages):
    c = resolved(method=method)
    assert c.num_latents == k and c.stages() == stages
    assert METHODS["image_twice"].image_repeats == 2 and not METHODS["prompt_tuning"].lora


def test_ablation_knobs():
    c = resolved(stage1_epochs=2, stage2_epochs=8, stage1_mask="bottleneck_latent_blind", num_latents=32,
                 shared_latents="true", latent_position="before")
    assert c.stages() == [(1, "bottleneck_latent_blind", 2), (2, "standard", 8)]
    assert (c.num_latents, c.shared_latents, c.latent_position) == (32, True, "before")
    assert resolved(stage1_epochs=0, stage2_epochs=10).stages() == [(2, "standard", 10)]  # Table 4b (0, 10)


def test_yaml_with_cli_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: tiny:qwen3_vl\nmethod: sft\ndata: d\noutput_dir: o\nlearning_rate: 1e-5\n"
                    "tasks: [jigsaw, counting]\nseed: 1\n")
    c = load_config(path, {"seed": "7", "learning-rate": "2e-4"})
    assert (c.model, c.method, c.seed, c.learning_rate) == ("tiny:qwen3_vl", "sft", 7, 2e-4)  # CLI wins
    assert c.tasks == ["jigsaw", "counting"] and c.full_finetune is False
    c = load_config(path, {"tasks": "localization", "full_finetune": "true", "trainer_args": "{ddp_find_unused_parameters: false}"})
    assert c.tasks == ["localization"] and c.full_finetune is True and c.trainer_args == {"ddp_find_unused_parameters": False}


def test_resolved_config_round_trips(tmp_path):
    c = resolved(method="mask_only", tasks="jigsaw")
    path = tmp_path / "r.yaml"
    path.write_text(c.to_yaml("# header\n"))
    assert load_config(path).resolved() == c


def test_all_problems_at_once(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: tiny:qwen2_5_vl\nmethod: sft\nnum_latent: 4\nlearnig_rate: 1\n"
                    "num_latents: 4\nstage1_epochs: 2\nwarmup_ratio: 2\nseed: many\ntasks: [jigsaw, nope]\n"
                    "trainer_args: {learning_rate: 1, num_train_epoch: 3}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    for expected in ("unknown key 'num_latent'", "did you mean 'num_latents'", "unknown key 'learnig_rate'",
                     "seed expects an integer", "method sft trains without latents", "has no stage 1",
                     "warmup_ratio must be in [0, 1)", "unknown task 'nope'", "data is required",
                     "--out", "trainer_args.learning_rate is managed by livr",
                     "trainer_args.num_train_epoch is not a transformers.TrainingArguments field"):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    assert "11 problems" in text


@pytest.mark.parametrize("values,message", [
    ({"method": "livrr"}, "method 'livrr' is unknown"),
    ({"method": "livr", "num_latents": 0}, "needs latent tokens"),
    ({"method": "latents_only", "stage1_mask": "bottleneck"}, "has no stage 1"),
    ({"stage1_mask": "nope"}, "stage1_mask 'nope' is unknown"),
    ({"method": "prompt_tuning", "full_finetune": True}, "full_finetune contradicts"),
    ({"stage1_epochs": 0, "stage2_epochs": 0}, "nothing to train"),
    ({"selection": "best", "eval_every_epoch": False}, "selection=best needs"),
    ({"lr_scheduler_type": "cosinus"}, "lr_scheduler_type 'cosinus' is unknown"),
    ({"shared_latents": "maybe"}, "shared_latents expects true or false"),
])
def test_single_problems(values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(None, {**REQUIRED, **values})


def test_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_cli_has_a_flag_per_field():
    from livr.cli.main import build_parser

    args = build_parser().parse_args(["train", "--num-latents", "4", "--out", "RUN", "--full_finetune",
                                      "--tasks", "jigsaw,counting"])
    assert (args.num_latents, args.output_dir, args.full_finetune, args.tasks) == ("4", "RUN", "true", "jigsaw,counting")
    assert not hasattr(args, "seed")  # unset flags do not override the YAML file
    assert set(FIELDS) <= {a.dest for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions}


@pytest.mark.parametrize("values,mask", [
    ({}, "standard"),  # livr 4 + 6: the model is used after stage 2
    ({"stage2_epochs": 0}, "bottleneck"),  # a stage-1-only run is used under its stage-1 mask
    ({"stage2_epochs": 0, "stage1_mask": "bottleneck_latent_blind"}, "bottleneck_latent_blind"),
    ({"method": "mask_only", "stage2_epochs": 0}, "answer_bottleneck"),
    ({"method": "mask_only"}, "standard"),
    ({"method": "sft"}, "standard"),
    ({"stage1_epochs": 0}, "standard"),
    ({"stage2_epochs": 0, "eval_mask": "standard"}, "standard"),  # explicit values are kept
    ({"method": "sft", "eval_mask": "bottleneck"}, "bottleneck"),
])
def test_eval_mask(values, mask):
    c = resolved(**values)
    assert c.eval_mask == mask
    assert c.resolved() == c  # resolving again changes nothing (config.yaml round trip)


def test_eval_mask_unknown():
    with pytest.raises(ConfigError, match=r"eval_mask 'botleneck' is unknown; choose auto or one of standard.*"
                                          r"did you mean 'bottleneck'"):
        load_config(None, {**REQUIRED, "eval_mask": "botleneck"})
    assert load_config(None, REQUIRED).eval_mask == "auto"
