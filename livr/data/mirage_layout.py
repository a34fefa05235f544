"""Mirage's sequence layout: its special tokens and settings (config fields `mirage_*`).

The assistant turn of a Mirage example opens with `<|latent_start|>` + K `<|latent_pad|>` +
`<|latent_end|>` before the answer (`livr.data.collator` lays it out; `livr.models.mirage` fills
the pads and adds the loss). Here because the collator needs it and sits below the model room.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from livr.data.special_tokens import add_special_tokens
from livr.errors import ConfigError

START, PAD, END = "<|latent_start|>", "<|latent_pad|>", "<|latent_end|>"
TOKENS = (START, PAD, END)


@dataclass(frozen=True)
class MirageSpec:
    """Mirage's settings: K latents, the weights of its two loss terms (stage 1)."""

    latents: int = 4  # K: latent positions per example, and the decoding cap
    ce_weight: float = 0.1  # stage 1: weight of the cross-entropy (stage 2: CE alone)
    cosine_weight: float = 1.0  # stage 1: weight of mean(1 - cos(h[t-1], target[t]))

    def __post_init__(self):
        problems = []
        if not isinstance(self.latents, int) or isinstance(self.latents, bool) or self.latents < 1:
            problems.append(f"mirage_latents must be an integer >= 1, got {self.latents!r}")
        if not self.ce_weight >= 0 or not self.cosine_weight >= 0:
            problems.append(f"mirage_ce_weight and mirage_cosine_weight must be >= 0, got "
                            f"{self.ce_weight!r}, {self.cosine_weight!r}")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def enabled(self) -> bool:
        return True

    def to_dict(self) -> dict:
        return asdict(self)


def add_mirage_tokens(tokenizer) -> dict[str, int]:
    """Add Mirage's special tokens (if missing); their ids by token string."""
    return add_special_tokens(tokenizer, TOKENS)
