"""The contract every backbone adapter fulfils, and the pieces shared by all families."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from livr.errors import ConfigError

# LoRA on the language model's attention and MLP projections only. A regex, because the vision
# towers have modules with the same names (q_proj, gate_proj ...), and a name list would put
# LoRA on them too.
LANGUAGE_MODEL_LORA_PATTERN = (
    r"model\.language_model\.layers\.\d+\."
    r"(?:self_attn\.(?:q|k|v|o)_proj|mlp\.(?:gate|up|down)_proj)"
)


@dataclass(frozen=True)
class TinySize:
    """Sizes of a tiny random-init model (text hidden, layers, vision hidden ...)."""

    hidden: int = 128
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 256
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 2
    # 10,000 as in Qwen; a tiny model wants a small base so that the M-RoPE sections of image rows
    # and columns (the lowest frequencies) still turn measurably over a few positions
    rope_theta: float = 10000.0


def tiny_text_config(tokenizer, size: TinySize, tie_word_embeddings: bool, **extra) -> dict:
    """The language-model part of a tiny config, shared by every family."""
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden,
        intermediate_size=size.intermediate,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.kv_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=tie_word_embeddings,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def from_pretrained_kwargs(dtype=None, attn_implementation=None, trust_remote_code=False) -> dict:
    """Keyword arguments for `from_pretrained`; remote code only when the user asked for it."""
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    return kwargs


class BackboneAdapter:
    """What livr needs to know about one model family.

    Subclasses set the class attributes and implement the methods marked abstract.
    """

    family: str = ""
    image_token: str = ""
    #: keys of the processor output that carry vision inputs and must reach the model
    vision_keys: tuple[str, ...] = ()
    lora_target_pattern: str = LANGUAGE_MODEL_LORA_PATTERN
    #: name of the input-embedding module, for peft's trainable_token_indices
    embedding_module: str = "embed_tokens"
    #: names of the vision encoder and projector modules (trained in full under train_vision)
    vision_modules: tuple[str, ...] = ("visual",)
    #: True when the family's positions are M-RoPE (3 x B x L) from get_rope_index
    uses_mrope: bool = False
    #: transformers' own processor class and video processor class of the family (names; the
    #: video class needs torchvision, so livr never builds it, it only writes its config)
    native_processor: str = ""
    video_processor: str = ""
    #: video processor settings that must agree with the image pipeline (copied from the image
    #: processor's config into an export's video processor config)
    #: True when some decoder layers are linear attention (a recurrence and a convolution that
    #: read no attention mask): those layers get a non-standard policy's plan as well
    linear_attention: bool = False
    video_fields: tuple[str, ...] = ("size", "image_mean", "image_std", "resample", "rescale_factor",
                                     "do_resize", "do_rescale", "do_normalize", "do_convert_rgb")

    # -- building ---------------------------------------------------------------------------
    def build_tiny(self, *, tie_word_embeddings: bool = False, size: TinySize = TinySize(),
                   attn_implementation: str = "sdpa", seed: int = 0):
        """A random-init (model, processor) pair of the real class, with an offline tokenizer."""
        raise NotImplementedError

    def prepare_model(self, model):
        """Family-specific preparation of a loaded model before latents and adapters are added
        (Qwen3.5 wraps its linear-attention layers here). Returns the model."""
        return model

    def load_pretrained(self, name_or_path: str, *, dtype: Any = None,
                        attn_implementation: str | None = None, trust_remote_code: bool = False,
                        processor_kwargs: dict | None = None):
        """(model, processor) from a hub id or a local folder."""
        raise NotImplementedError

    def load_processor(self, name_or_path: str, **kwargs):
        raise NotImplementedError

    # -- running ----------------------------------------------------------------------------
    def image_token_id(self, processor) -> int:
        token_id = processor.tokenizer.convert_tokens_to_ids(self.image_token)
        if token_id is None or token_id == processor.tokenizer.unk_token_id:
            raise ConfigError(f"the tokenizer has no image token {self.image_token!r}")
        return int(token_id)

    def position_ids(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Rope positions computed from the 2-D padding mask (needed whenever a 4-D mask is
        passed, since the model can no longer derive them)."""
        mask = batch["attention_mask"]
        return (mask.long().cumsum(-1) - 1).clamp(min=0)

    def collate_vision(self, items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Batch the per-record vision tensors returned by the processor."""
        raise NotImplementedError

    def roi_tokens(self, record: dict, vision: dict, rid: str) -> list[int]:
        """LVR: indices (over the record's image tokens, in prompt order) of the merged image
        tokens inside the record's ROI (`livr.data.roi`)."""
        raise ConfigError(f"method lvr is not available for the {self.family} family yet: its ROI "
                          "cannot be mapped onto its image tokens")

    def roi_mapper(self, model, processor):
        """LVR: the `roi_tokens(record, vision, rid)` callable for this loaded model (families
        whose token layout depends on the model's config bind it here)."""
        return self.roi_tokens

    def processor_images_arg(self, images: list) -> Any:
        """How this family's processor wants one record's images."""
        return images


def inner_model(model):
    """The transformers model inside peft / DDP wrappers (the one with `.model`)."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module  # DDP / accelerate wrappers
            continue
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()  # peft
            continue
        return model
