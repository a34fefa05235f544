"""`livr_masked`: attention under a mask policy without an L x L mask, through transformers'
attention interface.

The policy travels to every attention layer as compact per-token data, a `MaskPlan` (segment ids
of the keys, roles of the query rows, the policy's blocked table), passed as the model keyword
`livr_mask_plan`; transformers forwards unknown keywords down to its attention functions. The
registered function `livr_masked_attention` splits the query rows in two:

    rows [0, P)   every row sees exactly its causal past (no padding, nothing blocked yet):
                  one sdpa call with is_causal=True, the kernel Direct SFT uses
    rows [P, Lq)  blocks of `chunk` rows; block [s, e) attends to keys [0, e) under an additive
                  (B, 1, e - s, e) mask built from the plan (keys after e are causally blocked)

For the bottleneck with one image, P ends at the token after the image, so nearly all the work is
the causal kernel. Blocks' masks are built once per forward pass and shared by every layer (they
are saved for backward once, not once per layer). Grouped K/V heads stay grouped on CPU
(`enable_gqa`); elsewhere they are repeated for the masked blocks, as transformers' sdpa does.

Without a plan (the standard policy, or a 4-D mask from the fallback path) the function is
transformers' sdpa with sdpa's own mask, so selecting `livr_masked` changes nothing there.

    from livr.models.attention import NAME, MaskPlan      # importing registers NAME
    model.set_attn_implementation({"text_config": NAME})
    model(**inputs, livr_mask_plan=MaskPlan.for_training(segment_ids, "bottleneck"))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

from livr.models.masks import MaskPolicy, allowed_rows, get_policy, query_roles
from livr.models.segments import NUM_SEGMENTS, Segment

NAME = "livr_masked"
PLAN_KWARG = "livr_mask_plan"
CHUNK = 256  # query rows per masked block; measured on CPU at 4,224 tokens: 256 ~ 512 < 128, 1024

log = logging.getLogger(__name__)


@dataclass
class MaskPlan:
    """What one forward pass needs to apply a policy, O(L) in size.

    key_segments (B, Lk): the segment of every key (the whole sequence, cache included);
    roles (B, Lq): the role of every query row; the queries are the last Lq keys.
    """

    key_segments: torch.Tensor
    roles: torch.Tensor
    table: torch.Tensor  # (NUM_SEGMENTS, NUM_SEGMENTS) bool, [role, key segment] -> blocked
    chunk: int | None = None  # rows per masked block; None: CHUNK
    _masks: dict = field(default_factory=dict, repr=False)
    _prefix: int | None = field(default=None, repr=False)

    @classmethod
    def for_training(cls, segment_ids: torch.Tensor, policy: str | MaskPolicy, chunk: int | None = None) -> "MaskPlan":
        """Whole sequences, every row a query (training, scoring)."""
        policy = get_policy(policy)
        return cls(segment_ids, query_roles(segment_ids), policy.blocked_table(segment_ids.device), chunk)

    @classmethod
    def for_prompts(cls, segment_ids: torch.Tensor, policy: str | MaskPolicy, chunk: int | None = None) -> "MaskPlan":
        """Prefill of prompts whose next token is the answer: the last row takes the answer role."""
        policy = get_policy(policy)
        answer = torch.full_like(segment_ids[:, :1], int(Segment.ANSWER))
        roles = query_roles(torch.cat([segment_ids, answer], dim=1))[:, :-1]
        return cls(segment_ids, roles, policy.blocked_table(segment_ids.device), chunk)

    @classmethod
    def for_new_tokens(cls, segment_ids: torch.Tensor, generated: int, policy: str | MaskPolicy) -> "MaskPlan":
        """One decoding step after `generated` answer tokens: a single ANSWER row."""
        policy = get_policy(policy)
        answer = torch.full((len(segment_ids), generated + 1), int(Segment.ANSWER),
                            dtype=segment_ids.dtype, device=segment_ids.device)
        return cls(torch.cat([segment_ids, answer], dim=1), answer[:, -1:],
                   policy.blocked_table(segment_ids.device))

    @property
    def offset(self) -> int:
        """Index of the first query row among the keys."""
        return self.key_segments.shape[1] - self.roles.shape[1]

    def prefix(self) -> int:
        """P: rows [0, P) see exactly their causal past in every sequence of the batch."""
        if self._prefix is None:
            self._prefix = 0 if self.offset else _causal_prefix(self.key_segments, self.roles, self.table)
        return self._prefix

    def blocks(self, dtype: torch.dtype, device: torch.device):
        """(start, end, additive mask (B, 1, end - start, offset + end)) for the rows after P,
        in query-row indices; built on first use and reused by every layer."""
        key = (dtype, device)
        if key not in self._masks:
            out, chunk = [], self.chunk or CHUNK
            for start in range(self.prefix(), self.roles.shape[1], chunk):
                end = min(start + chunk, self.roles.shape[1])
                positions = torch.arange(self.offset + start, self.offset + end, device=self.key_segments.device)
                allowed = allowed_rows(self.key_segments[:, :self.offset + end], self.roles[:, start:end],
                                       positions, self.table)
                mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
                mask.masked_fill_(~allowed.to(device), torch.finfo(dtype).min)
                out.append((start, end, mask[:, None]))
            self._masks[key] = out
        return self._masks[key]


def _causal_prefix(segments: torch.Tensor, roles: torch.Tensor, table: torch.Tensor) -> int:
    """First row (over the batch) whose allowed keys differ from plain causal attention: a pad
    row, a row after a pad key, or a row with a key of a segment its role may not see."""
    onehot = torch.nn.functional.one_hot(segments, NUM_SEGMENTS)  # (B, L, S)
    seen_before = (onehot.cumsum(1) - onehot) > 0  # keys strictly before each row
    blocked_for_row = table[roles]  # (B, L, S)
    deviates = (blocked_for_row & seen_before).any(-1) | seen_before[..., Segment.PAD] | (segments == Segment.PAD)
    rows = deviates.any(0).nonzero()
    return int(rows[0]) if len(rows) else segments.shape[1]


def livr_masked_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                          scaling: float | None = None, is_causal: bool | None = None, **kwargs):
    """transformers attention function: (B, H, Lq, D) query, (B, Hkv, Lk, D) key / value ->
    ((B, Lq, H, D) output, None). Uses the `livr_mask_plan` keyword when present."""
    plan: MaskPlan | None = kwargs.pop(PLAN_KWARG, None)
    if plan is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    if kwargs.get("output_attentions"):
        raise ValueError(f"{NAME} attention does not return attention weights; use eager for that")
    lq, lk = query.shape[2], key.shape[2]
    if plan.roles.shape[1] != lq or plan.key_segments.shape[1] != lk:
        raise ValueError(f"{PLAN_KWARG} describes {plan.roles.shape[1]} queries over "
                         f"{plan.key_segments.shape[1]} keys, but attention got {lq} over {lk}")
    groups = getattr(module, "num_key_value_groups", 1)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    outputs = []
    prefix = plan.prefix()
    if prefix:
        outputs.append(sdpa(query[:, :, :prefix], key[:, :, :prefix], value[:, :, :prefix], dropout_p=dropout,
                            scale=scaling, is_causal=True, enable_gqa=groups > 1))
    blocks = plan.blocks(query.dtype, query.device)
    if blocks:
        grouped = groups > 1 and query.device.type == "cpu"  # masked GQA is the math kernel on CUDA
        if groups > 1 and not grouped:
            key, value = repeat_kv(key, groups), repeat_kv(value, groups)
        offset = plan.offset
        for start, end, mask in blocks:
            outputs.append(sdpa(query[:, :, start:end], key[:, :, :offset + end], value[:, :, :offset + end],
                                attn_mask=mask, dropout_p=dropout, scale=scaling, enable_gqa=grouped))
    out = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, livr_masked_attention)
# the standard policy (no plan) gets exactly sdpa's mask: padding and causality as usual
AttentionMaskInterface.register(NAME, sdpa_mask)

SUPPORTED_IMPLEMENTATIONS = ("sdpa", NAME)
_warned: set[str] = set()


def text_attention(model) -> str:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return getattr(config, "_attn_implementation", None) or "eager"


def select(model, family: str, requested: str, native_families) -> str:
    """The masked-attention path for `model` (a transformers model, not peft-wrapped): NAME or
    "4d". `auto` takes NAME where it is supported (a native family under sdpa) and otherwise
    falls back to the 4-D additive mask, saying so once; asking for NAME where it is not
    supported is an error."""
    from livr.errors import ConfigError

    if requested not in ("auto", NAME, "4d"):
        raise ConfigError(f"attention must be auto, {NAME} or 4d, got {requested!r}")
    if requested == "4d":
        return "4d"
    current = text_attention(model)
    if family in native_families and current in SUPPORTED_IMPLEMENTATIONS:
        if current != NAME:
            model.set_attn_implementation({"text_config": NAME})
        return NAME
    why = (f"family {family!r} is not a native transformers class" if family not in native_families
           else f"attn_implementation is {current!r} (needs sdpa)")
    if requested == NAME:
        raise ConfigError(f"attention={NAME} is not supported here: {why}; use attention=auto or 4d")
    if why not in _warned:
        _warned.add(why)
        log.warning("masked attention: %s, so non-standard mask policies use the 4-D additive mask", why)
    return "4d"
