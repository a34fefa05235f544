"""Qwen3-VL (e.g. Qwen/Qwen3-VL-4B-Instruct): interleaved M-RoPE, patch 16, deepstack."""

from __future__ import annotations

from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

from livr.models.backbones._qwen import QwenVLAdapter
from livr.models.backbones.base import tiny_text_config


class Qwen3VLImageProcessor(Qwen3VLProcessor):
    """The Qwen3-VL processor without a video processor (which needs torchvision)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(image_processor=image_processor, tokenizer=tokenizer,
                         video_processor=None, chat_template=chat_template, **kwargs)


class Qwen3VLAdapter(QwenVLAdapter):
    family = "qwen3_vl"
    model_class = Qwen3VLForConditionalGeneration
    config_class = Qwen3VLConfig
    processor_class = Qwen3VLImageProcessor
    native_processor = "Qwen3VLProcessor"
    video_processor = "Qwen3VLVideoProcessor"
    patch_size = 16
    default_system = None

    def tiny_config(self, tokenizer, size, tie_word_embeddings):
        head_dim = size.hidden // size.heads
        half = head_dim // 2
        mrope = [half - 2 * (half // 3), half // 3, half // 3]
        return Qwen3VLConfig(
            text_config=tiny_text_config(tokenizer, size, tie_word_embeddings,
                head_dim=head_dim,
                rope_parameters={"rope_type": "default", "rope_theta": size.rope_theta,
                                 "mrope_section": mrope, "mrope_interleaved": True}),
            vision_config=self.tiny_vision_config(size, num_position_embeddings=256,
                                                  deepstack_visual_indexes=[0]),
            tie_word_embeddings=tie_word_embeddings,
            **self.token_ids(tokenizer),
        )


ADAPTER = Qwen3VLAdapter()
