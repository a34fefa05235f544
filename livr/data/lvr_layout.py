"""LVR's sequence layout: its special tokens, its settings, and which ROI tokens fill its slots.

The assistant turn of an LVR example opens with `<|lvr_start|>` + N slots + `<|lvr_end|>`
(`livr.data.collator` lays it out; `livr.models.lvr` fills the slots and adds the loss;
`livr.inference.latent` decodes). Here because the collator needs it and sits below the model room.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from livr.data.special_tokens import add_special_tokens
from livr.errors import ConfigError, DataError

START, SLOT, END, LATENT_END = "<|lvr_start|>", "<|lvr|>", "<|lvr_end|>", "<|lvr_latent_end|>"
TOKENS = (START, SLOT, END, LATENT_END)
EXITS = ("fixed", "latent_end", "mode_switch")
LOSS_KINDS = ("mse", "mae", "cosine")
TRAIN_TOKENS = ("budget", "all")


@dataclass(frozen=True)
class LvrSpec:
    """LVR's settings (config fields `lvr_*`)."""

    steps: int = 8  # N: latent steps at decoding, and slots per example in training ("budget")
    lam: float = 0.1  # weight of the reconstruction loss
    loss: str = "mse"
    exit: str = "fixed"
    max_steps: int = 32  # hard cap on latent steps at decoding, whatever the exit
    end_threshold: float = 0.1  # cosine distance to the latent-end embedding (exit latent_end)
    switch_weight: float = 1.0  # weight of the mode-switch BCE (exit mode_switch)
    # "budget": N slots, ROI tokens taken evenly in raster order (train = decode length);
    # "all": one slot per ROI token, as LVR's released code does
    train_tokens: str = "budget"

    def __post_init__(self):
        problems = []
        if not isinstance(self.steps, int) or self.steps < 0:
            problems.append(f"lvr_steps must be an integer >= 0, got {self.steps!r}")
        if self.loss not in LOSS_KINDS:
            problems.append(f"lvr_loss must be one of {', '.join(LOSS_KINDS)}, got {self.loss!r}")
        if self.exit not in EXITS:
            problems.append(f"lvr_exit must be one of {', '.join(EXITS)}, got {self.exit!r}")
        if self.train_tokens not in TRAIN_TOKENS:
            problems.append(f"lvr_train_tokens must be one of {', '.join(TRAIN_TOKENS)}, got {self.train_tokens!r}")
        if not isinstance(self.max_steps, int) or self.max_steps < max(self.steps, 1):
            problems.append(f"lvr_max_steps must be an integer >= max(lvr_steps, 1), got {self.max_steps!r}")
        if self.lam < 0 or self.switch_weight < 0:
            problems.append("lvr_lambda and lvr_switch_weight must be >= 0")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def enabled(self) -> bool:
        return self.steps > 0 or self.train_tokens == "all"

    def to_dict(self) -> dict:
        return asdict(self)


def add_lvr_tokens(tokenizer) -> dict[str, int]:
    """Add LVR's special tokens (if missing); their ids by token string."""
    return add_special_tokens(tokenizer, TOKENS)


def select_roi_tokens(roi_tokens, spec: LvrSpec) -> list[int]:
    """The ROI token indices that fill the slots, in raster order: all of them ("all"), or N
    taken evenly over them ("budget"; repeated when the ROI has fewer than N tokens)."""
    roi = sorted(int(i) for i in roi_tokens)
    if not roi:
        return []
    if spec.train_tokens == "all":
        return roi
    if spec.steps == 0:
        return []
    picks = torch.linspace(0, len(roi) - 1, spec.steps).round().long().tolist()
    return [roi[i] for i in picks]


def slot_sources(image_positions: torch.Tensor, selected: list[int], where: str) -> torch.Tensor:
    """Absolute sequence positions of the image tokens copied into the slots.

    `image_positions`: (T,) positions of the record's image tokens (all images, in order);
    `selected`: indices into them."""
    if not selected:
        return torch.zeros(0, dtype=torch.long)
    index = torch.tensor(selected, dtype=torch.long)
    if int(index.min()) < 0 or int(index.max()) >= len(image_positions):
        raise DataError(f"{where}: ROI token index out of range (the record has {len(image_positions)} "
                          f"image tokens, the ROI names {int(index.max())})")
    return image_positions[index]
