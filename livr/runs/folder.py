"""Run folders, below training (which writes them) and evaluation (which loads them): the file
names, the saved config, and the model of a config or of a finished run.

    config = saved_config(Path("runs/x"))        # resolved LivrTrainingConfig of the run
    lm, config = load_run("runs/x")              # LivrModel with the run's trained weights
"""

from __future__ import annotations

import os
from pathlib import Path

from livr.errors import ConfigError
from livr.runs.config import LivrTrainingConfig, from_dict, read_yaml

CONFIG_FILE = "config.yaml"
PROGRESS_FILE = "progress.json"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "test_predictions.json"
TIMING_FILE = "timing.json"
BEST_FILE = Path("best") / "trainable.safetensors"


def saved_config(run: Path) -> LivrTrainingConfig:
    """The resolved config a run folder was made with (RUN/config.yaml)."""
    return from_dict(read_yaml(run / CONFIG_FILE), str(run / CONFIG_FILE)).resolved()


def resolve_dtype(name: str | None):
    """The torch dtype named `name` (float32, bfloat16, float16); None and "auto" pass through."""
    import torch

    if name is None or name == "auto":
        return name
    return getattr(torch, name)


def load_model(config: LivrTrainingConfig, name: str | None = None):
    """The backbone of `config` with its latents and the method's trainable parts (loaded from
    `name`, a model folder, when given)."""
    from livr.models.loading import load_backbone

    lm = load_backbone(
        name or config.model,
        num_latents=config.num_latents,
        latent_position=config.latent_position,
        shared_latents=config.shared_latents,
        lora=config.method_spec.lora,
        lora_r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        full_finetune=config.full_finetune,
        train_vision=config.train_vision,
        dtype=resolve_dtype(config.dtype),
        attn_implementation=config.attn_implementation,
        attention=config.attention,
        trust_remote_code=config.trust_remote_code,
        seed=config.seed,
        processor_kwargs={"max_pixels": config.max_pixels} if config.max_pixels else None,
        lvr=config.lvr_spec(),
        mirage=config.mirage_spec(),
    )
    if lm.lvr is not None:  # LVR: the ROI tokens of a record, on this family's token grid
        lm.roi_tokens = lm.adapter.roi_mapper(lm.base_model, lm.processor)
    return lm


def load_run(run_dir: str | os.PathLike, **overrides):
    """(LivrModel with the run's trained weights, resolved config) of a finished run folder.

    Encode prompts for it with `image_repeats=config.method_spec.image_repeats` (2 for
    `image_twice`, which sees its images twice at test time too). `overrides` replace config
    fields that do not change the weights (`dtype`, `attn_implementation`, `attention`).
    """
    import dataclasses

    run = Path(run_dir)
    if not (run / METRICS_FILE).is_file():
        raise ConfigError(f"{run} is not a finished livr run (no {METRICS_FILE}); finish it with "
                          "`livr train --resume --out RUN`")
    config = dataclasses.replace(saved_config(run), **overrides)
    if config.full_finetune:
        return load_model(config, name=str(run)), config
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    lm = load_model(config)
    result = set_peft_model_state_dict(lm.model, load_file(str(run / "adapter_model.safetensors")))
    if getattr(result, "unexpected_keys", None):
        raise RuntimeError(f"{run}: adapter weights do not fit the model: {result.unexpected_keys[:3]}")
    return lm, config
