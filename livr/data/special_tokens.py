"""Adding a method's special tokens (LVR's and Mirage's latent spans) to a tokenizer, once."""

from __future__ import annotations

from typing import Sequence


def add_special_tokens(tokenizer, tokens: Sequence[str]) -> dict[str, int]:
    """Add `tokens` as special tokens (those missing only); their ids by token string."""
    missing = [t for t in tokens if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    return {t: int(tokenizer.convert_tokens_to_ids(t)) for t in tokens}
