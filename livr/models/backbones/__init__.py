"""Backbone adapters: one small module per model family, everything else shared.

An adapter knows how to build its processor, load a checkpoint or a tiny random-init model,
find image tokens, compute rope positions from the 2-D mask, batch its vision inputs and name
its LoRA targets. See `base.BackboneAdapter` for the contract.
"""

from __future__ import annotations

import importlib

from livr.errors import ConfigError

FAMILIES: dict[str, str] = {
    "qwen2_5_vl": "livr.models.backbones.qwen2_5_vl",
    "qwen3_vl": "livr.models.backbones.qwen3_vl",
    "qwen3_5": "livr.models.backbones.qwen3_5",
    "qwen3_5_moe": "livr.models.backbones.qwen3_5_moe",
    "llava_onevision": "livr.models.backbones.llava_onevision",
    "llava_onevision_1_5": "livr.models.backbones.llava_onevision_1_5",
}

# Families with a native transformers class, buildable offline as `tiny:<family>`.
NATIVE_FAMILIES = ("qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "llava_onevision")


def get_adapter(family: str):
    try:
        module = FAMILIES[family]
    except KeyError:
        raise ConfigError(
            f"unknown backbone family {family!r}; known families: {', '.join(FAMILIES)}"
        ) from None
    return importlib.import_module(module).ADAPTER


def family_from_model_type(model_type: str) -> str:
    """Map a config's `model_type` to our family name."""
    mapping = {
        "qwen2_5_vl": "qwen2_5_vl",
        "qwen3_vl": "qwen3_vl",
        "qwen3_5": "qwen3_5",
        "qwen3_5_moe": "qwen3_5_moe",
        "llava_onevision": "llava_onevision",
        "llavaonevision1_5": "llava_onevision_1_5",
        "llava_onevision1_5": "llava_onevision_1_5",
    }
    try:
        return mapping[model_type]
    except KeyError:
        raise ConfigError(
            f"unsupported model_type {model_type!r}; livr supports {', '.join(FAMILIES)}"
        ) from None
