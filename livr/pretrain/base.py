"""livr-tiny: the small Qwen2.5-VL-architecture base model that livr pretrains and ships.

Same classes as Qwen/Qwen2.5-VL-3B-Instruct (Qwen2_5_VLForConditionalGeneration, M-RoPE, patch
14, merge 2, the Qwen chat template), scaled down: text 128 wide x 4 layers, vision 64 wide x
2 blocks, about 1M parameters, rope base 16 instead of 10,000 (see TinySize.rope_theta), and a byte-level BPE tokenizer trained on the words the
pretraining mix and the ten tasks use (so prompts are a few dozen tokens, not hundreds of bytes).
Images are resized to at most 112 x 112 pixels by its processor: 16 image tokens per image.

    tokenizer = train_tokenizer()                 # deterministic
    model, processor = build_base_model(tokenizer, seed=0)

`load_backbone("livr-tiny")` loads the pretrained weights shipped in `livr/assets/livr-tiny`
(made by `livr pretrain-base`, see `livr.pretrain.train`).
"""

from __future__ import annotations

from pathlib import Path

from livr.models.backbones.base import TinySize

NAME = "livr-tiny"
ASSET_DIR = Path(__file__).resolve().parents[1] / "assets" / NAME
# The bases shipped inside livr, by family: livr-tiny (Qwen2.5-VL, every measurement of
# docs/results.md unless a row names the other) and livr-tiny-qwen3 (Qwen3-VL, the one that learns
# vsp; docs/pretraining.md, "v4"). `livr pretrain-base --install` fills the one of its family.
SHIPPED = {"qwen2_5_vl": NAME, "qwen3_vl": "livr-tiny-qwen3"}


def asset_dir(name: str) -> Path:
    """The package folder of a shipped base (`livr-tiny`, `livr-tiny-qwen3`)."""
    return ASSET_DIR if name == NAME else ASSET_DIR.parent / name
SIZE = TinySize(hidden=128, layers=4, heads=4, kv_heads=2, intermediate=384,
                vision_hidden=64, vision_layers=2, vision_heads=2, rope_theta=16.0)
MAX_PIXELS = 112 * 112
VOCAB_SIZE = 2048
# The architectures a base can be pretrained in. Both give 16 image tokens (4 x 4) per picture:
# Qwen2.5-VL tokens cover 28 x 28 pixels (patch 14) of a 112-pixel picture, Qwen3-VL tokens 32 x 32
# (patch 16) of a 128-pixel one. Qwen3-VL's vision tower adds a learned absolute position embedding
# to its patches and its text model interleaves the M-RoPE sections (docs/pretraining.md, "v4").
FAMILIES = {"qwen2_5_vl": MAX_PIXELS, "qwen3_vl": 128 * 128}


def tokenizer_corpus() -> list[str]:
    """Text the tokenizer is trained on: every phrase of the pretraining mix, and the prompts,
    choices and answers of a few generated records of each of the ten tasks (their wording, not
    their images or labels, is what the tokenizer needs to cover)."""
    from livr.data.synth import generate_split
    from livr.data.tasks import TASK_NAMES
    from livr.pretrain.mix import mix_vocabulary_text

    texts = list(mix_vocabulary_text())
    texts += ["You are a helpful assistant.", "system", "user", "assistant"]
    for task in TASK_NAMES:
        for record in generate_split(task, "train", 8, 0):
            texts += [record["prompt"], record["answer"], *(record.get("choices") or [])]
    return texts


def adapter_for(family: str):
    """The backbone adapter of a family a base can be pretrained in (FAMILIES)."""
    from livr.errors import ConfigError
    from livr.models.backbones import get_adapter

    if family not in FAMILIES:
        raise ConfigError(f"pretraining family {family!r}: use one of {', '.join(FAMILIES)}")
    return get_adapter(family)


def train_tokenizer(vocab_size: int = VOCAB_SIZE, family: str = "qwen2_5_vl"):
    """A byte-level BPE Qwen2Tokenizer with the Qwen special tokens and the family's chat template."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from livr.models.backbones._qwen import QWEN_SPECIAL_TOKENS, qwen_chat_template
    from livr.models.tokenizer import bpe_tokenizer

    adapter = adapter_for(family)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(QWEN_SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(sorted(set(tokenizer_corpus())), trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return bpe_tokenizer(model["vocab"], merges, QWEN_SPECIAL_TOKENS, qwen_chat_template(adapter.default_system))


def build_base_model(tokenizer, *, seed: int = 0, attn_implementation: str = "sdpa",
                     family: str = "qwen2_5_vl", size: TinySize = SIZE):
    """(random-init model, processor) of the livr-tiny architecture in `family`."""
    import torch
    from transformers import Qwen2VLImageProcessorPil

    adapter = adapter_for(family)
    unit = adapter.patch_size * 2
    image_processor = Qwen2VLImageProcessorPil(patch_size=adapter.patch_size, temporal_patch_size=2, merge_size=2,
                                               min_pixels=unit * unit, max_pixels=FAMILIES[family])
    processor = adapter.processor_class(image_processor=image_processor, tokenizer=tokenizer,
                                        chat_template=tokenizer.chat_template)
    config = adapter.tiny_config(tokenizer, size, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = adapter.model_class._from_config(config, attn_implementation=attn_implementation)
    return model, processor
