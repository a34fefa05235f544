"""An offline byte-level tokenizer for tiny random-init backbones (no hub needed).

Every byte is one token (no merges), then the family's special tokens. Real backbones use their
own hub tokenizers; this one exists so tests and the default run work without a network, through
the same `Qwen2Tokenizer` class the Qwen and LLaVA-OneVision checkpoints use.
"""

from __future__ import annotations

from tokenizers import pre_tokenizers
from transformers import Qwen2Tokenizer

PAD_TOKEN = "<|endoftext|>"
END_OF_TURN = "<|im_end|>"


def bpe_tokenizer(vocab: dict[str, int], merges: list[tuple[str, str]], special_tokens: list[str],
                  chat_template: str) -> Qwen2Tokenizer:
    """A byte-level BPE `Qwen2Tokenizer` from a vocabulary and merges, plus special tokens."""
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token=END_OF_TURN,
        pad_token=PAD_TOKEN,
    )
    tokenizer.add_tokens(
        [t for t in special_tokens if t not in (PAD_TOKEN,)], special_tokens=True
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def byte_level_tokenizer(special_tokens: list[str], chat_template: str) -> Qwen2Tokenizer:
    """One token per byte (no merges), then `special_tokens`."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    return bpe_tokenizer({symbol: i for i, symbol in enumerate(alphabet)}, [], special_tokens, chat_template)
