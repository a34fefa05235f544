"""The visual bottleneck in linear-attention layers (Qwen3.5's Gated DeltaNet).

A linear-attention layer reads no attention mask: every row's output comes from a causal short
convolution and a recurrent state over the whole sequence before it, so a 4-D mask (or the
blockwise `livr_masked` path) bottlenecks only the full-attention layers of a hybrid model and
the prompt and answer rows keep reading the image through the linear layers
(tests/models/test_linear_bottleneck.py measures that leak).

`LinearBottleneck` wraps one linear-attention module. Without a plan it calls the module exactly
as transformers does (the standard policy runs the model as shipped). With a plan (keyword
`livr_linear_plan`, the same `MaskPlan` the masked attention path gets) every row is given the
output of the module run over the keys its policy lets it see:

    rows whose role blocks nothing (image, latent, pad rows under `bottleneck`): the full stream
    rows whose role blocks a set of segments S (template, prompt and answer rows: S = {image}):
        the module run again over the sequence with the keys of S (and the pads) taken out,
        packed per batch item to the left, the result scattered back into those rows

so under `bottleneck` the conv window and the recurrent state of a prompt or answer row never
contain an image token, and a latent's own hidden state (which sees the image) is the only route
from the image to them, as in the full-attention layers. One extra pass per distinct blocked set
(one for every shipped policy but `bottleneck_latent_blind`, which has two). The removed keys are
gathered out, not multiplied by zero, so the gradient to them from blinded rows is exactly 0.

Pads: the module's own 2-D padding mask is lost once a 4-D mask or a plan replaces the 2-D mask,
so the wrapper passes one built from the plan's PAD segment (pad inputs zeroed, as transformers
does for a padded batch); packed sequences are padded on the left with zeros, which leave the
convolution and the recurrent state at exactly zero.

Decoding with a cache: the prefill stores in the cache the stream of the ANSWER role's blocked
set (every generated token is an answer row), so the following one-token steps continue it.

Installing replaces `layer.linear_attn` through the module tree (`setattr` on the decoder layer,
as peft does). The wrapper shares the wrapped module's parameter, buffer and submodule tables, so
parameter names, state dicts, LoRA targets, saved adapters and exports are exactly those of the
unwrapped model, and peft's LoRA layers, set on the wrapper, are seen by the module it runs.
"""

from __future__ import annotations

import torch
from torch import nn

from livr.models.segments import NUM_SEGMENTS, Segment

PLAN_KWARG = "livr_linear_plan"
_INNER = "_livr_linear_inner"


class LinearBottleneck(nn.Module):
    """A linear-attention module that applies a mask policy's plan when one is passed."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.__dict__[_INNER] = inner  # not a registered child: its tables are shared below
        self._parameters = inner._parameters
        self._buffers = inner._buffers
        self._non_persistent_buffers_set = inner._non_persistent_buffers_set
        self._modules = inner._modules
        self.training = inner.training

    @property
    def wrapped(self) -> nn.Module:
        return self.__dict__[_INNER]

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__.get(_INNER)
            if inner is None:
                raise
            return getattr(inner, name)  # layer_idx, conv_kernel_size, ...

    def train(self, mode: bool = True):
        super().train(mode)
        self.wrapped.training = mode
        return self

    def extra_repr(self) -> str:
        return f"wraps {type(self.wrapped).__name__}"

    def forward(self, hidden_states, cache_params=None, attention_mask=None, **kwargs):
        from livr.models.attention import PLAN_KWARG as ATTENTION_PLAN

        plan = kwargs.pop(PLAN_KWARG, None)
        kwargs.pop(ATTENTION_PLAN, None)  # for the full-attention layers only
        if plan is None:
            return self.wrapped(hidden_states, cache_params=cache_params, attention_mask=attention_mask, **kwargs)
        return bottleneck_forward(self.wrapped, plan, hidden_states, cache_params, kwargs)


def _codes(blocked: torch.Tensor) -> torch.Tensor:
    """(..., NUM_SEGMENTS) bool -> (...) int: one number per distinct set of blocked segments."""
    weights = 2 ** torch.arange(NUM_SEGMENTS, device=blocked.device)
    return (blocked.long() * weights).sum(-1)


def _pack(hidden: torch.Tensor, keep: torch.Tensor):
    """The kept rows of every batch item, packed to the right end of a (B, W, D) zero tensor
    (W = the most kept rows of any item). Returns (packed, 2-D mask (B, W), map (B, L) of each
    kept row's packed index)."""
    counts = keep.sum(1)
    width = int(counts.max())
    b, l = keep.nonzero(as_tuple=True)
    dest = width - counts[b] + keep.long().cumsum(1)[b, l] - 1
    packed = hidden.new_zeros(hidden.shape[0], width, hidden.shape[2]).index_put((b, dest), hidden[b, l])
    mask = torch.zeros(hidden.shape[0], width, dtype=hidden.dtype, device=hidden.device)
    mask[b, dest] = 1
    where = torch.zeros(keep.shape, dtype=torch.long, device=keep.device)
    where[b, l] = dest
    return packed, mask, where


def bottleneck_forward(inner: nn.Module, plan, hidden_states: torch.Tensor, cache_params, kwargs: dict):
    """`inner`'s output (B, L, D) with each row computed over the keys its role may see."""
    table = plan.table.to(hidden_states.device)
    roles = plan.roles.to(hidden_states.device)
    codes = _codes(table[roles])  # (B, L)
    cache_code = int(_codes(table[int(Segment.ANSWER)]))
    if plan.offset:  # one-token steps after a prefill: the cache holds the answer rows' stream
        if not bool((codes == cache_code).all()):
            raise ValueError("a linear-attention layer can continue only answer rows after a prefill "
                             f"(the cache holds their stream); {PLAN_KWARG} has other roles")
        return inner(hidden_states, cache_params=cache_params, attention_mask=None, **kwargs)
    segments = plan.key_segments.to(hidden_states.device)
    if roles.shape[1] != hidden_states.shape[1] or segments.shape[1] != hidden_states.shape[1]:
        raise ValueError(f"{PLAN_KWARG} describes {roles.shape[1]} rows over {segments.shape[1]} keys, "
                         f"but the linear-attention layer got {hidden_states.shape[1]}")
    valid = segments != Segment.PAD
    codes = codes.masked_fill(~valid, 0)  # pad rows: whatever the full stream gives
    groups = set(codes.unique().tolist())
    if cache_params is not None:
        groups.add(cache_code)
    out = None
    if 0 in groups:
        out = inner(hidden_states, cache_params=cache_params if cache_code == 0 else None,
                    attention_mask=valid.to(hidden_states.dtype), **kwargs)
    for code in sorted(groups - {0}):
        blocked = torch.tensor([bool(code >> s & 1) for s in range(NUM_SEGMENTS)], device=segments.device)
        rows = codes == code
        keep = (valid & ~blocked[segments]) | rows
        packed, mask, where = _pack(hidden_states, keep)
        sub = inner(packed, cache_params=cache_params if code == cache_code else None, attention_mask=mask,
                    **kwargs)
        b, l = rows.nonzero(as_tuple=True)
        if out is None:
            out = sub.new_zeros(hidden_states.shape[:2] + sub.shape[2:])
        out = out.index_put((b, l), sub[b, where[b, l]])
    return out


def linear_attention_modules(model) -> list[tuple[nn.Module, str, nn.Module]]:
    """(decoder layer, attribute name, module) for every linear-attention module of `model`."""
    found = []
    for module in model.modules():
        child = getattr(module, "linear_attn", None) if getattr(module, "block_type", None) else None
        if isinstance(child, nn.Module):
            found.append((module, "linear_attn", child))
    return found


def install(model) -> int:
    """Wrap every linear-attention module of `model` in `LinearBottleneck` (idempotent).
    Returns how many are wrapped."""
    count = 0
    for parent, name, child in linear_attention_modules(model):
        if not isinstance(child, LinearBottleneck):
            setattr(parent, name, LinearBottleneck(child))
        count += 1
    return count


def uninstall(model) -> int:
    """Put the wrapped modules back (the model is then exactly transformers' again)."""
    count = 0
    for parent, name, child in linear_attention_modules(model):
        if isinstance(child, LinearBottleneck):
            setattr(parent, name, child.wrapped)
            count += 1
    return count
