"""Attention-mask policies as data, and the vectorised builder of additive 4-D masks.

A policy is a set of (query segment, key segment) pairs that may NOT attend; everything else
follows the usual causal rule. Each of the paper's variants is one declaration:

    standard                 nothing blocked (plain causal attention)
    bottleneck               template, prompt and answer rows blind to image columns; latents see all
    answer_bottleneck        only answer rows blind to image columns (Table 4a, "Ans->Vis only")
    bottleneck_latent_blind  bottleneck, and latent rows also blind to prompt columns

The shift. The hidden state at position t predicts token t+1, so the rows that must be blind to
the image are those that PREDICT answer tokens: every answer token but the last, and the token
just before the answer (the last chat-template token, e.g. "\n" after "assistant"). The builder
therefore gives each row the *role* of the token it predicts when that token is an answer token:
a row whose next token is ANSWER is treated as an ANSWER row, whatever its own segment. With a
latent (or any other token) right before the answer, that row is still blocked, so nothing can
leak the image into a one-token answer through the last position before it.

Picture for one sequence, `bottleneck`, tokens [T I I P L T A A] (T template, I image,
P prompt, L latent, A answer); 1 = may attend, . = blocked (rows = queries, columns = keys):

          T I I P L T A A
        T 1 . . . . . . .
        I 1 1 . . . . . .
        I 1 1 1 . . . . .
        P 1 . . 1 . . . .      prompt blind to the image
        L 1 1 1 1 1 . . .      latents see image and prompt
        T 1 . . 1 1 1 . .      template before the answer: predicts A, blind to the image
        A 1 . . 1 1 1 1 .
        A 1 . . 1 1 1 1 1

Masks are additive floats: 0 where allowed, `torch.finfo(dtype).min` where blocked (a bool or
0/1 float mask is silently wrong under eager attention). Pad keys are blocked for every row;
a pad row sees only itself, so no row is empty (empty rows give NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from livr.errors import ConfigError
from livr.models.segments import NUM_SEGMENTS, Segment

S = Segment


@dataclass(frozen=True)
class MaskPolicy:
    """Which segments may not attend to which, on top of causal attention."""

    name: str
    blocked: frozenset[tuple[Segment, Segment]] = field(default_factory=frozenset)
    description: str = ""

    @property
    def is_standard(self) -> bool:
        """True when the policy is plain causal attention (the backbone's native 2-D path)."""
        return not self.blocked

    def blocked_table(self, device=None) -> torch.Tensor:
        """(NUM_SEGMENTS, NUM_SEGMENTS) bool: [query_role, key_segment] -> blocked."""
        table = torch.zeros(NUM_SEGMENTS, NUM_SEGMENTS, dtype=torch.bool, device=device)
        for q, k in self.blocked:
            table[int(q), int(k)] = True
        return table


_BOTTLENECK = frozenset({(S.TEMPLATE, S.IMAGE), (S.PROMPT, S.IMAGE), (S.ANSWER, S.IMAGE)})

POLICIES: dict[str, MaskPolicy] = {
    p.name: p
    for p in (
        MaskPolicy("standard", frozenset(), "causal attention, nothing blocked"),
        MaskPolicy(
            "bottleneck",
            _BOTTLENECK,
            "answer, prompt and template rows cannot see image tokens; only latents can",
        ),
        MaskPolicy(
            "answer_bottleneck",
            frozenset({(S.ANSWER, S.IMAGE)}),
            "only the rows that predict answer tokens cannot see image tokens",
        ),
        MaskPolicy(
            "bottleneck_latent_blind",
            _BOTTLENECK | {(S.LATENT, S.PROMPT)},
            "bottleneck, and latents also cannot see the prompt",
        ),
    )
}


def get_policy(policy: str | MaskPolicy) -> MaskPolicy:
    if isinstance(policy, MaskPolicy):
        return policy
    try:
        return POLICIES[policy]
    except KeyError:
        raise ConfigError(
            f"unknown mask policy {policy!r}; known policies: {', '.join(POLICIES)}"
        ) from None


def query_roles(segment_ids: torch.Tensor) -> torch.Tensor:
    """(B, L) segment ids -> (B, L) roles: a row predicting an answer token acts as ANSWER."""
    roles = segment_ids.clone()
    predicts_answer = torch.zeros_like(segment_ids, dtype=torch.bool)
    predicts_answer[:, :-1] = segment_ids[:, 1:] == S.ANSWER
    roles[predicts_answer] = S.ANSWER
    return roles


def allowed_rows(key_segments: torch.Tensor, row_roles: torch.Tensor, row_positions: torch.Tensor,
                 table: torch.Tensor) -> torch.Tensor:
    """Some rows of the allowed matrix: (B, R, Lk) bool, True where a row may attend to a key.

    key_segments (B, Lk): the segment of every key; row_roles (B, R): the role of each row (its
    segment, or ANSWER when it predicts an answer token, see `query_roles`); row_positions (R,):
    each row's own index among the keys; table: the policy's `blocked_table`. Pad keys are
    blocked, a pad row sees only itself, and every row keeps itself (no row is empty).
    """
    length = key_segments.shape[1]
    keys = torch.arange(length, device=key_segments.device)
    own = keys[None, :] == row_positions[:, None]  # (R, Lk)
    is_pad = key_segments == S.PAD  # (B, Lk)
    row_is_pad = is_pad[:, row_positions]  # (B, R)
    allowed = (keys[None, :] <= row_positions[:, None])[None] & ~is_pad[:, None, :] & ~row_is_pad[:, :, None]
    allowed &= ~table[row_roles[:, :, None], key_segments[:, None, :]]
    return allowed | own[None]


def allowed_matrix(segment_ids: torch.Tensor, policy: str | MaskPolicy) -> torch.Tensor:
    """(B, L) segment ids -> (B, L, L) bool, True where query row may attend to key column.

    Works for left or right padding: padding is read from the PAD segment, causality from the
    index order.
    """
    policy = get_policy(policy)
    device = segment_ids.device
    positions = torch.arange(segment_ids.shape[1], device=device)
    return allowed_rows(segment_ids, query_roles(segment_ids), positions, policy.blocked_table(device))


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, L, L) bool -> (B, 1, L, L) additive float mask: 0 allowed, finfo.min blocked."""
    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


def build_attention_mask(
    segment_ids: torch.Tensor, policy: str | MaskPolicy, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The 4-D additive mask `(B, 1, L, L)` for `policy` over tagged sequences."""
    return additive_mask(allowed_matrix(segment_ids, policy), dtype)
