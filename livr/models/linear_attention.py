"""The visual bottleneck in linear-attention layers (Qwen3.5's Gated DeltaNet).

A linear-attention layer reads no attention mask: every row's output comes from a causal short
convolution and a recurrent state over the whole sequence before it, so a 4-D mask (or the
blockwise `livr_masked` path) bottlenecks only the full-attention layers of a hybrid model and
the prompt and answer rows keep reading the image through the linear layers
(tests/models/test_linear_bottleneck.py measures that leak).

`install` puts a forward pre-hook and a forward hook (torch's public hook API) on every
unmodified `linear_attn` module. Without a plan both do nothing (the standard policy runs the
model as transformers ships it). With a plan (keyword `livr_linear_plan`, the same `MaskPlan` the
masked attention path gets; the decoder layer passes its keywords on to the module) every row is
given the output of the module run over the keys its policy lets it see:

    rows whose role blocks nothing (image, latent, pad rows under `bottleneck`): the full stream
    rows whose role blocks a set of segments S (template, prompt and answer rows: S = {image}):
        the module run again over the sequence with the keys of S (and the pads) taken out,
        packed per batch item to the left, the result scattered back into those rows

so under `bottleneck` the conv window and the recurrent state of a prompt or answer row never
contain an image token, and a latent's own hidden state (which sees the image) is the only route
from the image to them, as in the full-attention layers. One pass per distinct blocked set (plus
the full one where some rows block nothing): the pre-hook turns the module's own call into the
first pass, the forward hook runs the others through `module.forward` (no hooks again) and
returns the scattered output. Every shipped policy but `bottleneck_latent_blind` (two blind sets)
costs one extra pass. The removed keys are gathered out, not multiplied by zero, so the gradient
to them from blinded rows is exactly 0.

Pads: the module's own 2-D padding mask is lost once a 4-D mask or a plan replaces the 2-D mask,
so each pass gets one built from the plan's PAD segment (pad inputs zeroed, as transformers does
for a padded batch); packed sequences are padded on the left with zeros, which leave the
convolution and the recurrent state at exactly zero.

Decoding with a cache: the prefill stores in the cache the stream of the ANSWER role's blocked
set (every generated token is an answer row), so the following one-token steps continue it.

The modules themselves are not replaced, so parameter names, state dicts, LoRA targets, saved
adapters and exports are those of the plain model.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import torch
from torch import nn

from livr.models.segments import NUM_SEGMENTS, Segment

PLAN_KWARG = "livr_linear_plan"
_POSITIONAL = ("hidden_states", "cache_params", "attention_mask")  # Qwen3_5GatedDeltaNet.forward

_handles: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> its two hook handles
# what each pre-hook leaves for its forward hook: per thread (DataParallel runs replicas in
# threads), a stack of (module, pending passes) so that nested or repeated calls (gradient
# checkpointing recomputes a layer in the backward pass) each pop their own
_calls = threading.local()


@dataclass
class _Pass:
    """One run of the module: its input, cache and 2-D mask, and where its rows go. `code` 0 is
    the full stream (its output is the base of the result); otherwise `rows` (b, l) of the
    result take the output at `where` (b, l)."""
    code: int
    hidden: torch.Tensor
    cache: object
    mask: torch.Tensor | None
    rows: tuple | None = None
    where: torch.Tensor | None = None


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


def plan_passes(plan, hidden_states: torch.Tensor, cache_params) -> list[_Pass]:
    """The runs of the module that give each row of `hidden_states` (B, L, D) the output over the
    keys its role may see: the full stream first where some rows block nothing, then one per
    blocked set. Only the pass whose set is the answer role's gets the cache."""
    table = plan.table.to(hidden_states.device)
    roles = plan.roles.to(hidden_states.device)
    codes = _codes(table[roles])  # (B, L)
    cache_code = int(_codes(table[int(Segment.ANSWER)]))
    if plan.offset:  # one-token steps after a prefill: the cache holds the answer rows' stream
        if not bool((codes == cache_code).all()):
            raise ValueError("a linear-attention layer can continue only answer rows after a prefill "
                             f"(the cache holds their stream); {PLAN_KWARG} has other roles")
        return [_Pass(0, hidden_states, cache_params, None)]
    segments = plan.key_segments.to(hidden_states.device)
    if roles.shape[1] != hidden_states.shape[1] or segments.shape[1] != hidden_states.shape[1]:
        raise ValueError(f"{PLAN_KWARG} describes {roles.shape[1]} rows over {segments.shape[1]} keys, "
                         f"but the linear-attention layer got {hidden_states.shape[1]}")
    valid = segments != Segment.PAD
    codes = codes.masked_fill(~valid, 0)  # pad rows: whatever the full stream gives
    groups = set(codes.unique().tolist())
    if cache_params is not None:
        groups.add(cache_code)
    passes = []
    if 0 in groups:
        passes.append(_Pass(0, hidden_states, cache_params if cache_code == 0 else None,
                            valid.to(hidden_states.dtype)))
    for code in sorted(groups - {0}):
        blocked = torch.tensor([bool(code >> s & 1) for s in range(NUM_SEGMENTS)], device=segments.device)
        rows = codes == code
        keep = (valid & ~blocked[segments]) | rows
        packed, mask, where = _pack(hidden_states, keep)
        passes.append(_Pass(code, packed, cache_params if code == cache_code else None, mask,
                            rows.nonzero(as_tuple=True), where))
    return passes


def scatter(hidden_states: torch.Tensor, passes: list[_Pass], outputs: list[torch.Tensor]) -> torch.Tensor:
    """The (B, L, D) result of `passes` given their outputs, in order."""
    out = None
    for p, sub in zip(passes, outputs):
        if p.code == 0:
            out = sub
            continue
        b, l = p.rows
        if out is None:
            out = sub.new_zeros(hidden_states.shape[:2] + sub.shape[2:])
        out = out.index_put((b, l), sub[b, p.where[b, l]])
    return out


def _stack() -> list:
    if not hasattr(_calls, "stack"):
        _calls.stack = []
    return _calls.stack


def _before(module, args, kwargs):
    """Forward pre-hook: take the plan keywords out; with a plan, make this call the first pass."""
    from livr.models.attention import PLAN_KWARG as ATTENTION_PLAN

    stack = _stack()
    stack.append((module, None))  # first, so that the forward hook pops it even if this raises
    if PLAN_KWARG not in kwargs and ATTENTION_PLAN not in kwargs:
        return None
    kwargs = dict(kwargs)
    plan = kwargs.pop(PLAN_KWARG, None)
    kwargs.pop(ATTENTION_PLAN, None)  # for the full-attention layers only
    if plan is None:
        return args, kwargs
    kwargs.update(zip(_POSITIONAL, args))
    passes = plan_passes(plan, kwargs["hidden_states"], kwargs.get("cache_params"))
    stack[-1] = (module, (kwargs["hidden_states"], passes))
    first = passes[0]
    return (), dict(kwargs, hidden_states=first.hidden, cache_params=first.cache, attention_mask=first.mask)


def _after(module, args, kwargs, output):
    """Forward hook (always called, so the stack stays balanced when the forward raises): run the
    remaining passes through `module.forward` and return the scattered output."""
    stack = _stack()
    if not stack or stack[-1][0] is not module:
        return None
    _, pending = stack.pop()
    if pending is None or output is None:
        return None
    hidden_states, passes = pending
    rest = {k: v for k, v in kwargs.items() if k not in _POSITIONAL}
    outputs = [output] + [module.forward(hidden_states=p.hidden, cache_params=p.cache, attention_mask=p.mask, **rest)
                          for p in passes[1:]]
    return scatter(hidden_states, passes, outputs)


def attach(module: nn.Module) -> None:
    """Put the bottleneck hooks on one linear-attention module (once)."""
    if module not in _handles:
        _handles[module] = (module.register_forward_pre_hook(_before, with_kwargs=True),
                            module.register_forward_hook(_after, with_kwargs=True, always_call=True))


def detach(module: nn.Module) -> bool:
    """Take the hooks off `module`; whether it had them."""
    handles = _handles.pop(module, None)
    for handle in handles or ():
        handle.remove()
    return handles is not None


def attached(module: nn.Module) -> bool:
    """Whether `attach` hooked `module` (and `detach` has not unhooked it)."""
    return module in _handles


def linear_attention_modules(model) -> list[nn.Module]:
    """Every linear-attention module (a decoder layer's `linear_attn`) of `model`."""
    found = []
    for module in model.modules():
        child = getattr(module, "linear_attn", None) if getattr(module, "block_type", None) else None
        if isinstance(child, nn.Module):
            found.append(child)
    return found


def install(model) -> int:
    """Hook every linear-attention module of `model` (idempotent). Returns how many are hooked."""
    modules = linear_attention_modules(model)
    for module in modules:
        attach(module)
    return len(modules)


def uninstall(model) -> int:
    """Take the hooks off again (the model is then exactly transformers' again); how many had them."""
    return sum(detach(m) for m in linear_attention_modules(model))
