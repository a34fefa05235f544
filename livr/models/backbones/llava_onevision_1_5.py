"""LLaVA-OneVision-1.5 (e.g. lmms-lab/LLaVA-OneVision-1.5-4B-Instruct): remote code only.

transformers 5.23 has no native class for this family, so its hub checkpoints load only with
`trust_remote_code=True`, which livr never passes unless the user asks for it
(`--trust-remote-code` / `load_backbone(..., trust_remote_code=True)`). Its architecture is
Qwen2.5-VL-like (M-RoPE via `get_rope_index`), so it reuses the Qwen adapter's positions and
vision batching. Not testable offline: there is no tiny build and no checkpoint here, and reports
say its remote code fails on transformers >= 5.
"""

from __future__ import annotations

from livr.errors import ConfigError
from livr.models.backbones._qwen import QwenVLAdapter
from livr.models.backbones.base import from_pretrained_kwargs


class LlavaOnevision1_5Adapter(QwenVLAdapter):
    family = "llava_onevision_1_5"

    def build_tiny(self, **kwargs):
        raise ConfigError(
            "tiny:llava_onevision_1_5 does not exist: transformers has no native "
            "LLaVA-OneVision-1.5 class. Use tiny:llava_onevision for the LLaVA-style path."
        )

    def load_processor(self, name_or_path, trust_remote_code=False, **kwargs):
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(
            name_or_path, trust_remote_code=trust_remote_code, **kwargs
        )

    def load_pretrained(self, name_or_path, *, dtype=None, attn_implementation=None,
                        trust_remote_code=False, processor_kwargs=None):
        if not trust_remote_code:
            raise ConfigError(
                f"{name_or_path} is a LLaVA-OneVision-1.5 checkpoint, which only loads with its "
                "own remote code. Pass --trust-remote-code (Python: trust_remote_code=True) if "
                "you trust that repository's code."
            )
        from transformers import AutoModelForImageTextToText

        kwargs = from_pretrained_kwargs(dtype, attn_implementation, trust_remote_code=True)
        model = AutoModelForImageTextToText.from_pretrained(name_or_path, **kwargs)
        processor = self.load_processor(name_or_path, trust_remote_code=True, **(processor_kwargs or {}))
        return model, processor


ADAPTER = LlavaOnevision1_5Adapter()
