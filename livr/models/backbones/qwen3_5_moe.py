"""Qwen3.5 MoE (e.g. Qwen/Qwen3.5-35B-A3B): Qwen3.5 with a sparse MoE block in every layer.

Everything but the MLP is as in `qwen3_5` (hybrid linear attention, the same bottleneck wrapper).
The MLP is `mlp.experts` (routed experts stored as fused 3-D parameters, `gate_up_proj` and
`down_proj`), `mlp.gate` (the router), `mlp.shared_expert` (an ordinary MLP) and
`mlp.shared_expert_gate`. LoRA goes on the attention projections of both layer kinds and on the
shared expert's gate/up/down_proj; the routed experts and the router stay frozen (LoRA on the fused
expert tensors would need peft's `target_parameters`, and would be the bulk of the adapter).
"""

from __future__ import annotations

from transformers import Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration

from livr.models.backbones.qwen3_5 import Qwen3_5Adapter

LANGUAGE_MODEL_LORA_PATTERN = (
    r"model\.language_model\.layers\.\d+\."
    r"(?:self_attn\.(?:q|k|v|o)_proj|linear_attn\.(?:in_proj_qkv|in_proj_z|out_proj)"
    r"|mlp\.shared_expert\.(?:gate|up|down)_proj)"
)


class Qwen3_5MoeAdapter(Qwen3_5Adapter):
    family = "qwen3_5_moe"
    model_class = Qwen3_5MoeForConditionalGeneration
    config_class = Qwen3_5MoeConfig
    lora_target_pattern = LANGUAGE_MODEL_LORA_PATTERN

    def text_config(self, tokenizer, size, tie_word_embeddings) -> dict:
        config = super().text_config(tokenizer, size, tie_word_embeddings)
        config.pop("intermediate_size")
        return dict(config, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=size.intermediate // 2,
                    shared_expert_intermediate_size=size.intermediate // 2)


ADAPTER = Qwen3_5MoeAdapter()
