"""Shared by the two Qwen-VL families: image-only processors, M-RoPE positions, vision batching."""

from __future__ import annotations

from typing import Any

import torch

from livr.errors import DataError, LivrError
from livr.models.backbones.base import BackboneAdapter, TinySize, from_pretrained_kwargs
from livr.models.tokenizer import byte_level_tokenizer

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def qwen_chat_template(default_system: str | None) -> str:
    """A ChatML template with Qwen-VL's image placeholders (as in the released checkpoints)."""
    system = (
        "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
        + default_system
        + "<|im_end|>\n{% endif %}"
        if default_system
        else ""
    )
    return (
        "{% for message in messages %}" + system + "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for content in message['content'] %}"
        "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
        "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


class QwenVLAdapter(BackboneAdapter):
    image_token = "<|image_pad|>"
    vision_keys = ("pixel_values", "image_grid_thw")
    uses_mrope = True
    video_fields = BackboneAdapter.video_fields + ("patch_size", "temporal_patch_size", "merge_size")
    # subclasses set these
    model_class: Any = None
    config_class: Any = None
    processor_class: Any = None  # an image-only processor class (no video processor)
    patch_size: int = 14
    default_system: str | None = None

    # -- building ---------------------------------------------------------------------------
    def tiny_vision_config(self, size: TinySize, **extra) -> dict:
        """The vision tower of a tiny test model: what every Qwen family shares, plus `extra`."""
        return dict(depth=size.vision_layers, hidden_size=size.vision_hidden,
                    intermediate_size=2 * size.vision_hidden, num_heads=size.vision_heads,
                    out_hidden_size=size.hidden, patch_size=self.patch_size, spatial_merge_size=2,
                    temporal_patch_size=2, **extra)

    def tiny_processor(self, max_pixels: int):
        from transformers import Qwen2VLImageProcessorPil

        tokenizer = byte_level_tokenizer(QWEN_SPECIAL_TOKENS, qwen_chat_template(self.default_system))
        unit = self.patch_size * 2  # one LM token per (patch * merge)^2 pixels
        image_processor = Qwen2VLImageProcessorPil(
            patch_size=self.patch_size,
            temporal_patch_size=2,
            merge_size=2,
            min_pixels=unit * unit,
            max_pixels=max_pixels,
        )
        return self.processor_class(
            image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template
        )

    def token_ids(self, tokenizer) -> dict[str, int]:
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
        return {
            "image_token_id": ids["<|image_pad|>"],
            "video_token_id": ids["<|video_pad|>"],
            "vision_start_token_id": ids["<|vision_start|>"],
            "vision_end_token_id": ids["<|vision_end|>"],
        }

    def build_tiny(self, *, tie_word_embeddings=False, size=TinySize(), attn_implementation="sdpa",
                   seed=0, max_pixels=112 * 112):
        processor = self.tiny_processor(max_pixels)
        config = self.tiny_config(processor.tokenizer, size, tie_word_embeddings)
        torch.manual_seed(seed)
        model = self.model_class._from_config(config, attn_implementation=attn_implementation)
        return model, processor

    def tiny_config(self, tokenizer, size: TinySize, tie_word_embeddings: bool):
        raise NotImplementedError

    def load_processor(self, name_or_path: str, **kwargs):
        return self.processor_class.from_pretrained(name_or_path, **kwargs)

    def load_pretrained(self, name_or_path, *, dtype=None, attn_implementation=None,
                        trust_remote_code=False, processor_kwargs=None):
        kwargs = from_pretrained_kwargs(dtype, attn_implementation, trust_remote_code)
        model = self.model_class.from_pretrained(name_or_path, **kwargs)
        processor = self.load_processor(name_or_path, **(processor_kwargs or {}))
        return model, processor

    # -- running ----------------------------------------------------------------------------
    def position_ids(self, model, batch):
        from livr.models.backbones.base import inner_model

        position_ids, _ = inner_model(model).model.get_rope_index(
            batch["input_ids"],
            mm_token_type_ids=batch["mm_token_type_ids"],
            image_grid_thw=batch.get("image_grid_thw"),
            attention_mask=batch["attention_mask"],
        )
        return position_ids

    def roi_tokens(self, record, vision, rid):
        from livr.data.roi import record_roi_tokens

        try:
            return record_roi_tokens(record, vision["image_grid_thw"], patch=self.patch_size, merge=2, flat=True)
        except (KeyError, ValueError) as err:
            if isinstance(err, LivrError):
                raise
            raise DataError(f"record {rid}: no region of interest for LVR ({err})") from None

    def collate_vision(self, items):
        if not items:
            return {}
        return {
            "pixel_values": torch.cat([it["pixel_values"] for it in items], dim=0),
            "image_grid_thw": torch.cat([it["image_grid_thw"] for it in items], dim=0),
        }
