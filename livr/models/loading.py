"""`load_backbone`: a vision-language backbone with K latent tokens, LoRA, and a forward pass
that applies a named mask policy.

    from livr import load_backbone
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=16)          # or a hub id / local folder
    batch = lm.collator(mask_policy="bottleneck")(records)
    out = lm(batch)                                                  # HF outputs: out.logits, out.loss

Names: `tiny:<family>` builds a random-init model of the real transformers class offline;
`livr-tiny` loads the small pretrained Qwen2.5-VL that livr ships (`livr.pretrain`); a local
directory or a hub id loads with `from_pretrained` (the family is read from its config).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from livr.data.collator import Collator, Encoder
from livr.data.special_tokens import add_special_tokens
from livr.errors import ConfigError
from livr.models.backbones import NATIVE_FAMILIES, family_from_model_type, get_adapter
from livr.models.backbones.base import TinySize, inner_model
from livr.models.latents import (
    LatentSpec,
    add_latent_tokens,
    existing_latent_count,
    initialise_latent_rows,
    initialise_output_rows,
)
from livr.models.masks import build_attention_mask, get_policy

# Keys of a batch that go to the transformers model (the rest is livr's bookkeeping).
_MODEL_KEYS = ("input_ids", "labels", "pixel_values", "image_grid_thw", "image_sizes",
               "batch_num_images", "mm_token_type_ids")


@dataclass
class LivrModel:
    """A backbone prepared for LIVR: model (peft-wrapped unless full fine-tuning), processor,
    family adapter and latent layout."""

    model: torch.nn.Module
    processor: Any
    adapter: Any
    latents: LatentSpec
    latent_ids: list[int]
    name: str
    info: dict = field(default_factory=dict)
    #: LVR's settings (`livr.models.lvr.LvrSpec`) when the model was prepared for LVR, else None
    lvr: Any = None
    #: LVR: record, vision tensors, record id -> ROI token indices (see livr.data.roi)
    roi_tokens: Any = None
    attention: str = "4d"  # masked-attention path for non-standard policies: "livr_masked" or "4d"
    #: Mirage's settings (`livr.data.mirage_layout.MirageSpec`) when prepared for Mirage, else None
    mirage: Any = None

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    @property
    def base_model(self):
        """The transformers model inside any peft / DDP wrapper."""
        return inner_model(self.model)

    def encoder(self, image_repeats: int = 1) -> Encoder:
        return Encoder(self.adapter, self.processor, self.latents, image_repeats=image_repeats,
                       lvr=self.lvr, roi_tokens=self.roi_tokens, mirage=self.mirage)

    def collator(self, mask_policy: str = "standard", *, max_length: int = 4096,
                 padding_side: str = "right", with_answer: bool = True,
                 image_repeats: int = 1) -> Collator:
        return Collator(self.encoder(image_repeats), mask_policy=mask_policy, max_length=max_length,
                        padding_side=padding_side, with_answer=with_answer)

    def model_inputs(self, batch: dict, mask_policy: str | None = None, force_4d: bool = False) -> dict:
        """Keyword arguments for the transformers model under `mask_policy`.

        `standard` takes the backbone's native path (2-D padding mask, so fused / flash causal
        kernels stay usable). Any other policy passes rope positions computed from the 2-D mask
        and, on the `livr_masked` path, a compact `MaskPlan` (livr.models.attention; no L x L
        mask); on the `4d` path, or with `force_4d`, an additive 4-D mask. Families with
        linear-attention layers (Qwen3.5) also get the plan as `livr_linear_plan` on both paths
        (livr.models.linear_attention).
        """
        from livr.models.attention import NAME, PLAN_KWARG, MaskPlan, text_attention

        policy = get_policy(mask_policy or batch.get("mask_policy", "standard"))
        inputs = {k: batch[k] for k in _MODEL_KEYS if k in batch}
        if policy.is_standard and not force_4d:
            inputs["attention_mask"] = batch["attention_mask"]
            if not self.adapter.uses_mrope:
                inputs["position_ids"] = self.adapter.position_ids(self.model, batch)
            return inputs
        inputs["position_ids"] = self.adapter.position_ids(self.model, batch)
        plan = None
        if self.adapter.linear_attention:  # hybrid models: the linear layers need the plan too
            from livr.models.linear_attention import PLAN_KWARG as LINEAR_PLAN

            plan = MaskPlan.for_training(batch["segment_ids"], policy)
            inputs[LINEAR_PLAN] = plan
        # the kernel may have been switched since loading (eager, to read attention weights)
        if self.attention == NAME and not force_4d and text_attention(self.base_model) == NAME:
            inputs[PLAN_KWARG] = plan or MaskPlan.for_training(batch["segment_ids"], policy)
        else:
            # not get_input_embeddings().weight: under peft trainable tokens that merges a full copy
            dtype = self.base_model.dtype
            inputs["attention_mask"] = build_attention_mask(batch["segment_ids"], policy, dtype=dtype)
        return inputs

    def forward(self, batch: dict, mask_policy: str | None = None, force_4d: bool = False, **kwargs):
        return self.model(**self.model_inputs(batch, mask_policy, force_4d), **kwargs)

    __call__ = forward

    def to(self, device) -> "LivrModel":
        self.model.to(device)
        return self

    def trainable_parameter_names(self) -> list[str]:
        return [n for n, p in self.model.named_parameters() if p.requires_grad]


def shipped_model_dir(name: str) -> str | None:
    """The folder of a model shipped inside livr (`livr-tiny`, `livr-tiny-qwen3`), or None for other names."""
    from livr.pretrain.base import SHIPPED, asset_dir

    if name not in SHIPPED.values():
        return None
    folder = asset_dir(name)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{name} is not in this checkout ({folder} has no config.json); make it with "
                          f"`livr pretrain-base --out OUT --install`")
    return str(folder)


def resolve_family(name: str, trust_remote_code: bool = False) -> tuple[str, str | None]:
    """(family, path-or-hub-id or None for tiny)."""
    name = shipped_model_dir(name) or name
    if name.startswith("tiny:"):
        family = name.split(":", 1)[1]
        try:
            get_adapter(family)
        except ConfigError as err:
            raise ConfigError(f"model {name!r}: {err}") from None
        if family not in NATIVE_FAMILIES:
            get_adapter(family).build_tiny()  # raises the family's own explanation
        return family, None
    config_path = os.path.join(name, "config.json")
    if os.path.isdir(name):
        if not os.path.isfile(config_path):
            raise ConfigError(f"model folder {name} has no config.json; is it a transformers model folder?")
        with open(config_path) as fh:
            model_type = json.load(fh).get("model_type", "")
        return family_from_model_type(model_type), name
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
    except Exception as err:
        raise ConfigError(
            f"cannot load model {name!r}: not 'tiny:<family>', not a local folder, and its hub "
            f"config could not be read ({err.__class__.__name__}). Check the name, your network, "
            "or HF_HUB_OFFLINE."
        ) from None
    return family_from_model_type(config.model_type), name


def load_backbone(
    name: str,
    *,
    num_latents: int = 16,
    latent_position: str = "after",
    shared_latents: bool = False,
    lora: bool = True,
    lora_r: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.05,
    full_finetune: bool = False,
    train_vision: bool = False,
    dtype: Any = None,
    attn_implementation: str = "sdpa",
    attention: str = "auto",
    trust_remote_code: bool = False,
    seed: int = 0,
    tie_word_embeddings: bool = False,
    tiny_size: TinySize | None = None,
    processor_kwargs: dict | None = None,
    trainable: bool = True,
    lvr: Any = None,
    mirage: Any = None,
) -> LivrModel:
    """Load `name` (hub id, local folder or `tiny:<family>`) with K latent tokens and adapters.

    Trainable afterwards: LoRA (r=16, alpha=32, dropout 0.05) on the language model's attention
    and MLP projections, plus the K latent embedding rows (through peft's trainable tokens, which
    keeps every other row fixed even under AdamW weight decay). The vision encoder and projector
    are frozen. `lora=False` trains only the latent rows (prompt tuning); `full_finetune=True`
    trains the whole language model instead of LoRA. `train_vision=True` also trains the vision
    encoder and projector in full (peft's modules_to_save, so they are saved with the adapter);
    the paper keeps them frozen. `num_latents=0` is Direct SFT.
    `tie_word_embeddings` and `tiny_size` apply only to tiny models. `trainable=False` loads for
    inference only: no adapters, every parameter frozen, eval mode. `lvr` (a
    `livr.models.lvr.LvrSpec`) adds LVR's tokens, trainable like the latent rows; `mirage` (a
    `livr.data.mirage_layout.MirageSpec`) adds Mirage's tokens the same way.
    `attention` picks how non-standard mask policies are applied: `livr_masked` (blockwise, no
    L x L mask; livr.models.attention), `4d` (an additive 4-D mask), or `auto` (livr_masked where
    supported, else 4d, logged once).
    """
    spec = LatentSpec(num_latents=num_latents, position=latent_position, shared=shared_latents)
    _check_trainable(lora, full_finetune, train_vision)
    family, source = resolve_family(name, trust_remote_code)  # livr-tiny -> its shipped folder
    adapter = get_adapter(family)
    if source is None:
        model, processor = adapter.build_tiny(
            tie_word_embeddings=tie_word_embeddings, size=tiny_size or TinySize(),
            attn_implementation=attn_implementation, seed=seed,
        )
    else:
        model, processor = adapter.load_pretrained(
            source, dtype=dtype, attn_implementation=attn_implementation,
            trust_remote_code=trust_remote_code, processor_kwargs=processor_kwargs,
        )
    return prepare_backbone(
        model, processor, family, name=name, spec=spec, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha,
        lora_dropout=lora_dropout, full_finetune=full_finetune, train_vision=train_vision, seed=seed,
        trainable=trainable, lvr=lvr, mirage=mirage, attention=attention,
    )


def prepare_backbone(
    model,
    processor,
    family: str,
    *,
    name: str,
    spec: LatentSpec,
    lora: bool = True,
    lora_r: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.05,
    full_finetune: bool = False,
    train_vision: bool = False,
    seed: int = 0,
    trainable: bool = True,
    lvr: Any = None,
    mirage: Any = None,
    attention: str = "auto",
) -> LivrModel:
    """The second half of `load_backbone`, for a (model, processor) pair built by other means
    (for instance a real-size architecture from its config, as the benchmarks do): adds the
    latent tokens and their embedding rows, then the trainable adapters."""
    from livr.models.attention import select

    _check_trainable(lora, full_finetune, train_vision)
    adapter = get_adapter(family)
    info: dict[str, Any] = {"family": family, "source": name}
    attention = select(model, family, attention, NATIVE_FAMILIES)
    model = adapter.prepare_model(model)  # Qwen3.5: its linear-attention layers get the bottleneck
    present, present_shared = existing_latent_count(processor.tokenizer)
    if present and (present != len(spec.vocabulary()) or present_shared != spec.shared):
        raise ConfigError(
            f"model {name} already has {present} {'shared ' if present_shared else ''}latent "
            f"token(s) but num_latents={spec.num_latents}, shared_latents={spec.shared} was asked; "
            "use the latent settings it was trained with"
        )
    latent_ids = add_latent_tokens(processor.tokenizer, spec)
    span_tokens: tuple[str, ...] = ()  # the latent span of LVR or Mirage, trainable like the latent rows
    if lvr is not None and lvr.enabled:
        from livr.data import lvr_layout

        span_tokens = lvr_layout.TOKENS
    if mirage is not None:
        from livr.data import mirage_layout

        span_tokens = mirage_layout.TOKENS
    had_span = bool(span_tokens) and span_tokens[0] in processor.tokenizer.get_vocab()
    span_ids = list(add_special_tokens(processor.tokenizer, span_tokens).values())
    embeddings = model.get_input_embeddings().weight
    rows_before = embeddings.shape[0]
    if len(processor.tokenizer) > rows_before:
        # mean_resizing would compute a vocab-sized covariance; the latent rows are set below anyway
        model.resize_token_embeddings(len(processor.tokenizer), mean_resizing=False)
        # the new output rows (untied heads) are not saved with a LoRA run: make them reproducible
        initialise_output_rows(model, [i for i in latent_ids + span_ids if i >= rows_before])
    if latent_ids and not present:
        info.update(initialise_latent_rows(model, latent_ids, seed))
    if span_ids and not had_span:
        initialise_latent_rows(model, span_ids, seed + 1)

    if trainable:
        model = _attach_trainable(model, adapter, latent_ids + span_ids, lora=lora, full_finetune=full_finetune,
                                  train_vision=train_vision, r=lora_r, alpha=lora_alpha, dropout=lora_dropout)
    else:
        model.requires_grad_(False)
        model.eval()
    return LivrModel(model=model, processor=processor, adapter=adapter, latents=spec,
                     latent_ids=latent_ids, name=name, info=info, attention=attention,
                     lvr=lvr if lvr is not None and lvr.enabled else None, mirage=mirage)


def _check_trainable(lora: bool, full_finetune: bool, train_vision: bool) -> None:
    if full_finetune and not lora:
        raise ConfigError("full_finetune and lora=False contradict each other; pick one")
    if train_vision and not lora:
        raise ConfigError("train_vision and lora=False contradict each other (prompt tuning trains "
                          "only the latent rows); pick one")


def _attach_trainable(model, adapter, latent_ids, *, lora, full_finetune, train_vision, r, alpha, dropout):
    for p in model.parameters():
        p.requires_grad_(False)
    if full_finetune:
        trained = [model.model.language_model, model.lm_head]
        if train_vision:
            trained += [getattr(model.model, name) for name in adapter.vision_modules]
        for module in trained:
            module.requires_grad_(True)
        return model
    from peft import LoraConfig, TrainableTokensConfig, get_peft_model

    if lora:
        config = LoraConfig(
            r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=adapter.lora_target_pattern,
            trainable_token_indices={adapter.embedding_module: latent_ids} if latent_ids else None,
            modules_to_save=list(adapter.vision_modules) if train_vision else None,
        )
    elif latent_ids:
        config = TrainableTokensConfig(target_modules=[adapter.embedding_module], token_indices=latent_ids)
    else:
        raise ConfigError("nothing to train: lora=False and num_latents=0")
    return get_peft_model(model, config)
