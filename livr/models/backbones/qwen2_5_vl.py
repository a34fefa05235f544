"""Qwen2.5-VL (e.g. Qwen/Qwen2.5-VL-3B-Instruct): M-RoPE, patch 14, merge 2."""

from __future__ import annotations

from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

from livr.models.backbones._qwen import QwenVLAdapter
from livr.models.backbones.base import tiny_text_config


class Qwen2_5_VLImageProcessor(Qwen2_5_VLProcessor):
    """The Qwen2.5-VL processor without a video processor (which needs torchvision)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(image_processor=image_processor, tokenizer=tokenizer,
                         video_processor=None, chat_template=chat_template, **kwargs)


class Qwen2_5_VLAdapter(QwenVLAdapter):
    family = "qwen2_5_vl"
    model_class = Qwen2_5_VLForConditionalGeneration
    config_class = Qwen2_5_VLConfig
    processor_class = Qwen2_5_VLImageProcessor
    native_processor = "Qwen2_5_VLProcessor"
    video_processor = "Qwen2VLVideoProcessor"
    patch_size = 14
    default_system = "You are a helpful assistant."

    def tiny_config(self, tokenizer, size, tie_word_embeddings):
        head_dim = size.hidden // size.heads
        half = head_dim // 2  # the three M-RoPE sections (t, h, w) must sum to head_dim / 2
        mrope = [half // 4, (half - half // 4) // 2, half - half // 4 - (half - half // 4) // 2]
        return Qwen2_5_VLConfig(
            text_config=tiny_text_config(tokenizer, size, tie_word_embeddings,
                rope_parameters={"rope_type": "default", "rope_theta": size.rope_theta, "mrope_section": mrope}),
            vision_config=self.tiny_vision_config(size, window_size=112,
                                                  fullatt_block_indexes=[size.vision_layers - 1]),
            tie_word_embeddings=tie_word_embeddings,
            **self.token_ids(tokenizer),
        )


ADAPTER = Qwen2_5_VLAdapter()
