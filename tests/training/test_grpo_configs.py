"""Every shipped GRPO config (configs/grpo/*.yaml, configs/tiny/grpo*.yaml) loads and validates,
starts with its launch command, and keeps the settings its header says it has."""

from pathlib import Path

import pytest

from livr.errors import ConfigError
from livr.training.grpo_run import GrpoConfig, load_grpo_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
GRPO_CONFIGS = sorted(CONFIG_DIR.glob("grpo/*.yaml")) + sorted(CONFIG_DIR.glob("tiny/grpo*.yaml"))


def load(path: Path) -> GrpoConfig:
    import yaml

    given = yaml.safe_load(path.read_text())
    missing = {k: v for k, v in {"init_from": "runs/x", "output_dir": "runs/y"}.items() if k not in given}
    return load_grpo_config(str(path), missing)  # the GPU configs take both on the command line


def test_grpo_configs_exist():
    names = {p.relative_to(CONFIG_DIR).as_posix() for p in GRPO_CONFIGS}
    assert {"grpo/qwen2_5_vl_3b_lvr_steps_8.yaml", "grpo/qwen2_5_vl_3b_livr.yaml", "tiny/grpo_lvr.yaml"} <= names


@pytest.mark.parametrize("path", GRPO_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_grpo_config_loads_with_launch_command(path):
    config = load(path)
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert any(f"livr grpo configs/{path.parent.name}/{path.name}" in line for line in header)
    assert any(f"livr train configs/{path.parent.name}/{path.name}" in line for line in header)
    assert config.grpo_num_generations >= 2 and config.grpo_prompts >= 1
    if path.parent.name == "grpo":
        assert config.seed == 42 and config.learning_rate <= 1e-5
        assert any("Guessed" in line or "guessed" in line for line in header)  # says what is guessed


@pytest.mark.parametrize("path", GRPO_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_livr_train_reads_the_grpo_config(path, capsys, tmp_path):
    """`livr train CONFIG` (the file says method: grpo) resolves to the GrpoConfig `livr grpo` runs."""
    import dataclasses

    import yaml

    from livr.cli.main import main

    assert yaml.safe_load(path.read_text())["method"] == "grpo"
    out = str(tmp_path / "y")  # the command locks its --out (beside it) even to print the config
    assert main(["train", str(path), "--init_from", "runs/x", "--out", out, "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    config = load_grpo_config(str(path), {"init_from": "runs/x", "output_dir": out})
    assert printed == {"method": "grpo", **dataclasses.asdict(config)}


def test_lvr_grpo_settings_from_the_public_code():
    """temperature 0.9, beta 0.04, 256 completion tokens: VincentLeebang/lvr's stage-2 arguments."""
    c = load(CONFIG_DIR / "grpo" / "qwen2_5_vl_3b_lvr_steps_8.yaml")
    assert (c.grpo_temperature, c.grpo_beta, c.grpo_max_new_tokens) == (0.9, 0.04, 256)


def test_unknown_and_invalid_fields_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grpo_stepz: 3\nnum_generations: 4\n")
    with pytest.raises(ConfigError, match="grpo_stepz, num_generations"):
        load_grpo_config(str(bad), {"init_from": "a", "output_dir": "b"})
    bad.write_text("method: lvr\ngrpo_steps: many\n")
    with pytest.raises(ConfigError, match="method must be grpo.*grpo_steps expects an integer"):
        load_grpo_config(str(bad), {"init_from": "a", "output_dir": "b"})
    bad.write_text("grpo_steps: 0\nlearning_rate: -1\n")
    with pytest.raises(ConfigError, match="grpo_steps must be >= 1.*learning_rate must be > 0"):
        load_grpo_config(str(bad), {"init_from": "a", "output_dir": "b"})


def test_grpo_doc_lists_every_field():
    """docs/grpo.md's table names every GrpoConfig field with its help text."""
    doc = (CONFIG_DIR.parent / "docs" / "grpo.md").read_text()
    for name, help_text in GrpoConfig.help().items():
        assert f"| `{name}` |" in doc, name
        assert help_text in doc, name
