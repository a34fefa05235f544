"""Every config under configs/ loads, resolves, and starts with its launch command."""

from pathlib import Path

import pytest

from livr.training.config import load_config, read_yaml

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
CONFIGS = sorted(p for p in CONFIG_DIR.rglob("*.yaml")  # GRPO configs: tests/training/test_grpo_configs.py
                 if p.parent.name not in ("accelerate", "demo", "grpo") and not p.name.startswith("grpo"))
DEMO_CONFIGS = sorted((CONFIG_DIR / "demo").glob("*.yaml"))


def load(path: Path):
    # data / output folders are given on the command line for most configs
    missing = {"data": "data/x", "output_dir": "runs/x"}.items()
    return load_config(path, {k: v for k, v in missing if k not in read_yaml(path)})


def test_configs_exist():
    groups = {p.parent.name for p in CONFIGS}
    assert {"table1", "table2", "table3", "table4", "mirage", "tiny"} <= groups
    assert len([p for p in CONFIGS if p.parent.name == "table1"]) == 12  # 6 backbones x {sft, livr}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_loads_with_launch_command(path):
    config = load(path).resolved()
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert any(f"livr train configs/{path.parent.name}/{path.name}" in line for line in header)
    assert config.stages()
    if path.parent.name == "tiny":
        assert config.model.startswith("tiny:")
    else:
        assert not config.model.startswith("tiny:") and config.seed == 42


def test_paper_settings():
    def get(name):
        return load(next(p for p in CONFIGS if p.relative_to(p.parents[1]).as_posix() == name)).resolved()

    livr = get("table1/qwen3_vl_4b_livr.yaml")
    assert (livr.num_latents, livr.stages(), livr.learning_rate) == (16, [(1, "bottleneck", 4), (2, "standard", 6)], 1e-4)
    assert (livr.per_device_train_batch_size, livr.gradient_accumulation_steps, livr.warmup_ratio) == (1, 8, 0.05)
    assert get("table1/qwen2_5_vl_3b_sft.yaml").stages() == [(2, "standard", 10)]
    assert get("table1/llava_ov_1_5_4b_livr.yaml").trust_remote_code
    for size in ("4b", "9b", "27b"):  # Qwen3.5: the same recipe
        q35 = get(f"table1/qwen3_5_{size}_livr.yaml")
        assert (q35.num_latents, q35.stages()) == (16, [(1, "bottleneck", 4), (2, "standard", 6)])
        assert get(f"table1/qwen3_5_{size}_sft.yaml").stages() == [(2, "standard", 10)]
    assert get("table1/qwen3_5_27b_livr.yaml").gradient_checkpointing
    multi = get("table2/qwen3_vl_4b_livr.yaml")
    assert multi.stages() == [(1, "bottleneck", 2), (2, "standard", 3)] and multi.selection == "final"
    assert get("table2/qwen3_vl_4b_sft.yaml").stages() == [(2, "standard", 5)]
    assert get("table3/qwen3_vl_4b_mask_only.yaml").stages()[0] == (1, "answer_bottleneck", 4)
    assert get("table4/qwen3_vl_4b_livr_latents_32.yaml").num_latents == 32
    assert get("table4/qwen3_vl_4b_livr_epochs_8_2.yaml").stages() == [(1, "bottleneck", 8), (2, "standard", 2)]
    mirage = get("mirage/qwen2_5_vl_3b_livr.yaml")
    assert (mirage.num_latents, mirage.full_finetune, mirage.learning_rate) == (4, True, 1e-5)
    assert mirage.stages() == [(1, "bottleneck", 10), (2, "standard", 10)]


def test_launcher_configs_parse():
    import json

    import yaml

    folder = CONFIG_DIR / "accelerate"
    assert yaml.safe_load((folder / "ddp.yaml").read_text())["distributed_type"] == "MULTI_GPU"
    assert yaml.safe_load((folder / "fsdp.yaml").read_text())["distributed_type"] == "FSDP"
    for stage in (2, 3):
        config = json.loads((folder / f"ds_zero{stage}.json").read_text())
        assert config["zero_optimization"]["stage"] == stage
        assert config["gradient_accumulation_steps"] == "auto"  # filled in from the livr config


@pytest.mark.parametrize("path", DEMO_CONFIGS, ids=lambda p: p.name)
def test_demo_configs_load(path):
    from livr.demo.config import load_demo_config

    config = load_demo_config(path=str(path))
    assert config.ablations and all(config.run_fields(name)["method"] for name in config.ablations)


def test_lvr_settings():
    """LVR's setups: 4/8/16 latent steps, fixed exit, lambda 0.1 MSE, the whole language model."""
    for steps in (4, 8, 16):
        c = load(CONFIG_DIR / "lvr" / f"qwen2_5_vl_3b_lvr_steps_{steps}.yaml").resolved()
        spec = c.lvr_spec()
        assert (spec.steps, spec.exit, spec.lam, spec.loss) == (steps, "fixed", 0.1, "mse")
        assert c.full_finetune and not c.train_vision and c.num_latents == 0
    big = load(CONFIG_DIR / "lvr" / "qwen2_5_vl_7b_lvr_steps_8.yaml").resolved()
    assert big.model == "Qwen/Qwen2.5-VL-7B-Instruct" and big.trainer_args["deepspeed"].endswith("ds_zero3.json")


def test_mirage_comparison_configs_share_mirages_setting():
    """configs/mirage: Mirage and LIVR on Qwen2.5-VL-3B in Mirage's training setting (K=4, full LM
    fine-tuning with vision tower and projector frozen, AdamW lr 1e-5, wd 0.01, batch 1 x 8,
    5% warm-up + cosine, 10 + 10 epochs); configs/tiny has a CPU variant of each."""
    def get(name):
        return load(CONFIG_DIR / name).resolved()

    mirage, livr = get("mirage/qwen2_5_vl_3b_mirage.yaml"), get("mirage/qwen2_5_vl_3b_livr.yaml")
    assert (mirage.method, livr.method) == ("mirage", "livr")
    assert mirage.mirage_spec().latents == livr.num_latents == 4
    assert (mirage.mirage_ce_weight, mirage.mirage_cosine_weight) == (0.1, 1.0)
    assert mirage.stages() == [(1, "standard", 10), (2, "standard", 10)]
    assert livr.stages() == [(1, "bottleneck", 10), (2, "standard", 10)]
    shared = ("model", "full_finetune", "train_vision", "learning_rate", "weight_decay", "adam_beta1", "adam_beta2",
              "adam_epsilon", "per_device_train_batch_size", "gradient_accumulation_steps", "warmup_ratio",
              "lr_scheduler_type", "seed", "dtype")
    assert {k: getattr(mirage, k) for k in shared} == {k: getattr(livr, k) for k in shared} == {
        "model": "Qwen/Qwen2.5-VL-3B-Instruct", "full_finetune": True, "train_vision": False,
        "learning_rate": 1e-5, "weight_decay": 0.01, "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8,
        "per_device_train_batch_size": 1, "gradient_accumulation_steps": 8, "warmup_ratio": 0.05,
        "lr_scheduler_type": "cosine", "seed": 42, "dtype": "bfloat16"}
    tiny_mirage, tiny_livr = get("tiny/mirage_mirage.yaml"), get("tiny/mirage_livr.yaml")
    assert (tiny_mirage.method, tiny_livr.method) == ("mirage", "livr")
    assert tiny_mirage.mirage_spec().latents == tiny_livr.num_latents == 4
    assert tiny_mirage.model == tiny_livr.model == "tiny:qwen2_5_vl" and tiny_mirage.full_finetune
