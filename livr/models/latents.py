"""Latent tokens: K new special tokens inserted in the user turn (the paper's Q' = Q + L).

Unshared (default): K distinct tokens `<|latent_0|>` ... `<|latent_{K-1}|>`, one learnable
embedding row each. Shared: one token `<|latent|>` repeated K times (Sec. 4.4.3 ablation).
Position "after" (default) appends the latents to the prompt text, "before" puts them between
the images and the prompt text; both keep the latents inside the user turn, so the chat template's
end-of-turn and assistant header always separate the latents from the answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from livr.errors import ConfigError

POSITIONS = ("after", "before")


@dataclass(frozen=True)
class LatentSpec:
    num_latents: int = 16
    position: str = "after"
    shared: bool = False

    def __post_init__(self):
        if not isinstance(self.num_latents, int) or self.num_latents < 0:
            raise ConfigError(
                f"num_latents must be an integer >= 0 (0 means no latents, Direct SFT); "
                f"got {self.num_latents!r}"
            )
        if self.position not in POSITIONS:
            raise ConfigError(
                f"latent_position must be one of {', '.join(POSITIONS)}; got {self.position!r}"
            )

    @property
    def enabled(self) -> bool:
        return self.num_latents > 0

    def vocabulary(self) -> list[str]:
        """The tokens added to the tokenizer."""
        if not self.enabled:
            return []
        if self.shared:
            return ["<|latent|>"]
        return [f"<|latent_{i}|>" for i in range(self.num_latents)]

    def sequence(self) -> list[str]:
        """The K tokens inserted into every prompt, in order."""
        if not self.enabled:
            return []
        if self.shared:
            return ["<|latent|>"] * self.num_latents
        return self.vocabulary()

    def to_dict(self) -> dict:
        return asdict(self)


def add_latent_tokens(tokenizer, spec: LatentSpec) -> list[int]:
    """Add the latent tokens (as special tokens) and return the ids of `spec.vocabulary()`."""
    vocab = spec.vocabulary()
    if vocab:
        tokenizer.add_tokens(vocab, special_tokens=True)
    ids = [tokenizer.convert_tokens_to_ids(t) for t in vocab]
    return [int(i) for i in ids]


def existing_latent_count(tokenizer) -> tuple[int, bool]:
    """(number of latent tokens, shared?) already in a tokenizer (0 if none)."""
    return latent_count_in(tokenizer.get_vocab())


def latent_count_in(vocab) -> tuple[int, bool]:
    """(number of latent tokens, shared?) among the token strings of `vocab` (any container)."""
    if "<|latent|>" in vocab:
        return 1, True
    n = 0
    while f"<|latent_{n}|>" in vocab:
        n += 1
    return n, False


@torch.no_grad()
def initialise_latent_rows(model, latent_ids: list[int], seed: int) -> dict:
    """Randomly initialise the latent rows of the input embedding, N(mean, std) of the existing
    rows (per dimension), from a private generator. Real checkpoints pad their tables, so new
    tokens may land on rows holding leftovers: we always overwrite them. Returns a record of how.
    """
    if not latent_ids:
        return {}
    emb = model.get_input_embeddings().weight
    keep = torch.ones(emb.shape[0], dtype=torch.bool)
    keep[latent_ids] = False
    reference = emb[keep].float()
    mean, std = reference.mean(0), reference.std(0)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(len(latent_ids), emb.shape[1], generator=gen)
    emb[latent_ids] = (mean + noise * std).to(emb.dtype)
    return {"latent_init": "normal(per-dim mean, per-dim std of existing rows)", "latent_init_seed": seed}


OUTPUT_ROWS_SEED = 1729  # fixed: the rows must come out the same in training and at every reload


@torch.no_grad()
def initialise_output_rows(model, token_ids: list[int]) -> None:
    """Rows of an untied output embedding (LM head) for tokens livr added, N(mean, std) of the
    existing rows (per dimension) from a private generator with a fixed seed.

    Why: `resize_token_embeddings` fills new output rows from the global random state, and with
    LoRA these rows are neither trained nor saved, so a run reloaded for `livr eval` would get
    other rows than it was trained with (Mirage's and LVR's exits read the <|..._end|> logit).
    Tied heads share the input rows and need nothing."""
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    if not token_ids or out is None or out.weight is inp.weight:
        return
    w = out.weight
    keep = torch.ones(w.shape[0], dtype=torch.bool)
    keep[token_ids] = False
    reference = w[keep].float()
    gen = torch.Generator().manual_seed(OUTPUT_ROWS_SEED)
    noise = torch.randn(len(token_ids), w.shape[1], generator=gen)
    w[token_ids] = (reference.mean(0) + noise * reference.std(0)).to(w.dtype)
