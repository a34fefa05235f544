"""Qwen3.5 (e.g. Qwen/Qwen3.5-9B): natively multimodal, hybrid linear attention.

Most decoder layers are Gated DeltaNet linear attention (`linear_attn`: a causal short
convolution and a recurrent state), with a full-attention layer (`self_attn`) every few layers.
The linear layers never read an attention mask, so a bottleneck needs its own treatment there:
`prepare_model` puts forward hooks on each of them (`livr.models.linear_attention.install`),
which do nothing unless a non-standard policy's plan is passed (`model_inputs` passes it). Vision
side and positions are Qwen3-VL's (patch 16, merge 2, M-RoPE from `get_rope_index`, processed by
`Qwen3VLProcessor`, so the same image-only processor subclass serves here).

LoRA: in full-attention layers q/k/v/o_proj, in linear-attention layers `in_proj_qkv` (queries,
keys and values before the convolution), `in_proj_z` (the output gate) and `out_proj`; the MLP's
gate/up/down_proj. The per-head scalars (`in_proj_a`, `in_proj_b`: decay and write strength,
a few outputs each) and `A_log`, `dt_bias` and the convolution stay frozen.
"""

from __future__ import annotations

import math

import torch
from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

from livr.models.backbones._qwen import QwenVLAdapter
from livr.models.backbones.base import tiny_text_config
from livr.models.backbones.qwen3_vl import Qwen3VLImageProcessor

LANGUAGE_MODEL_LORA_PATTERN = (
    r"model\.language_model\.layers\.\d+\."
    r"(?:self_attn\.(?:q|k|v|o)_proj|linear_attn\.(?:in_proj_qkv|in_proj_z|out_proj)"
    r"|mlp\.(?:gate|up|down)_proj)"
)


def tiny_layer_types(layers: int) -> list[str]:
    """Under 4 layers: linear, full, linear (3 layers at least: a linear layer both before and
    after a full one). From 4 layers: the released pattern, a full-attention layer every 4th."""
    if layers < 4:
        return ["linear_attention", "full_attention", "linear_attention"]
    return ["full_attention" if i % 4 == 3 else "linear_attention" for i in range(layers)]


@torch.no_grad()
def long_memory(model, seed: int) -> None:
    """Tiny models only: draw each linear-attention head's decay rate A from [0.02, 0.2] instead
    of transformers' [0.01, 16]. A head keeps exp(-1.31 A) of its state per token at random init:
    at the default four heads in five keep under 1%, so nothing crosses the ~40 tokens between an
    image and the latents and tests of what the image does or does not reach would measure
    nothing; here 0.5-60% survive 20 tokens (a useful linear-attention model carries context far)."""
    gen = torch.Generator().manual_seed(seed)
    for layer in model.model.language_model.layers:
        if hasattr(layer, "linear_attn"):
            a_log = layer.linear_attn.A_log
            a_log.copy_(torch.empty(a_log.shape).uniform_(math.log(0.02), math.log(0.2), generator=gen))


class Qwen3_5Adapter(QwenVLAdapter):
    family = "qwen3_5"
    model_class = Qwen3_5ForConditionalGeneration
    config_class = Qwen3_5Config
    processor_class = Qwen3VLImageProcessor
    native_processor = "Qwen3VLProcessor"
    video_processor = "Qwen3VLVideoProcessor"
    patch_size = 16
    default_system = None
    lora_target_pattern = LANGUAGE_MODEL_LORA_PATTERN
    linear_attention = True

    def prepare_model(self, model):
        from livr.models.linear_attention import install

        install(model)
        return model

    def build_tiny(self, **kwargs):
        model, processor = super().build_tiny(**kwargs)
        long_memory(model, seed=kwargs.get("seed", 0))
        return model, processor

    def text_config(self, tokenizer, size, tie_word_embeddings) -> dict:
        head_dim = size.hidden // size.heads
        rotary_half = max(head_dim // 8, 3)  # partial_rotary_factor 0.25 as released: head_dim / 4 / 2
        mrope = [rotary_half - 2 * (rotary_half // 3), rotary_half // 3, rotary_half // 3]
        layer_types = tiny_layer_types(size.layers)
        config = tiny_text_config(
            tokenizer, size, tie_word_embeddings, head_dim=head_dim,
            rope_parameters={"rope_type": "default", "rope_theta": size.rope_theta, "mrope_section": mrope,
                             "mrope_interleaved": True, "partial_rotary_factor": 2 * rotary_half / head_dim},
            layer_types=layer_types, linear_conv_kernel_dim=4,
            linear_key_head_dim=head_dim, linear_value_head_dim=head_dim,
            linear_num_key_heads=size.kv_heads, linear_num_value_heads=size.heads,
        )
        config["num_hidden_layers"] = len(layer_types)
        return config

    def tiny_config(self, tokenizer, size, tie_word_embeddings):
        return self.config_class(
            text_config=self.text_config(tokenizer, size, tie_word_embeddings),
            vision_config=self.tiny_vision_config(size, num_position_embeddings=256),
            tie_word_embeddings=tie_word_embeddings,
            **self.token_ids(tokenizer),
        )


ADAPTER = Qwen3_5Adapter()
