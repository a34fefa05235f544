"""LVR (Latent Visual Reasoning) at the model level: its tokens, its latent slots, its loss.

The assistant turn of an LVR example is

    <|lvr_start|> s_1 ... s_N <|lvr_end|> answer <|im_end|>

where s_1 ... s_N are latent slots (token `<|lvr|>`, segment LATENT: no cross-entropy). In
training (teacher forcing) slot j receives, as its input embedding, the merged visual embedding
(vision tower + projector output) of the j-th selected image token inside the record's ROI, and
the last-layer hidden state one position earlier is regressed onto it:

    loss = CE(answer) + lambda * D(h[p - 1], e[p])   over the slot positions p

At decoding the hidden state is fed back as the next input embedding instead (`lvr_decode`).

Slot embeddings are put in place by `patched_slots`, a forward pre-hook on the language model
(PyTorch's public hook API): every family hands its language model `inputs_embeds` in which the
image features already sit at the image-token positions, so the hook copies them from there
(one vision pass, and Qwen3-VL's deepstack features stay untouched) or writes given vectors
(the recorded hidden states of a rollout, for replay or for a full recompute of decoding).

Exits (how decoding leaves latent mode):
    fixed        exactly `steps` latent steps (LVR's most stable choice, the default)
    latent_end   stop when the hidden state comes within `end_threshold` (cosine distance) of
                 the learned `<|lvr_latent_end|>` embedding; trained by one more slot after the
                 N slots whose target is that embedding
    mode_switch  stop when the LM head puts most mass on `<|lvr_end|>`; trained by a BCE term on
                 p(<|lvr_end|>) (1 at the last slot, 0 before)
A hard cap (`max_steps`) always applies.
"""

from __future__ import annotations

import contextlib
import torch
import torch.nn.functional as F

from livr.errors import ConfigError

from livr.data.lvr_layout import (  # noqa: F401 (LVR's names, importable from here too)
    END,
    EXITS,
    LATENT_END,
    LOSS_KINDS,
    SLOT,
    START,
    TOKENS,
    TRAIN_TOKENS,
    LvrSpec,
    add_lvr_tokens,
    select_roi_tokens,
    slot_sources,
)

__all__ = ["END", "EXITS", "LATENT_END", "LOSS_KINDS", "SLOT", "START", "TOKENS", "TRAIN_TOKENS", "LvrSpec",
           "add_lvr_tokens", "select_roi_tokens", "slot_sources", "language_model", "patched_slots",
           "reconstruction_loss", "lvr_loss_terms", "lvr_forward", "combine"]


def language_model(model):
    """The decoder stack that receives `inputs_embeds` (same path in every native family)."""
    from livr.models.backbones.base import inner_model

    return inner_model(model).model.language_model


@contextlib.contextmanager
def patched_slots(model, *, sources: torch.Tensor | None = None, slot_mask: torch.Tensor | None = None,
                  values: torch.Tensor | None = None, record: dict | None = None):
    """Within the block, every forward of `model` rewrites the language model's input embeddings:

    - `sources` (B, L) long, -1 elsewhere: position p takes the embedding at `sources[b, p]`
      (an image-token position of the same row): the ROI's merged visual embedding;
    - `slot_mask` (B, L) bool with `values` (n, H): the masked positions take `values` in
      row-major order (recorded hidden states: replay, or a full recompute of decoding).

    `record`, if given, receives `inputs_embeds` (after the rewrite) under key "inputs_embeds".
    """
    target = language_model(model)

    def hook(module, args, kwargs):
        embeds = kwargs.get("inputs_embeds")
        if embeds is None:
            return None
        if sources is not None and bool((sources >= 0).any()):
            src = sources.to(embeds.device)
            rows, cols = (src >= 0).nonzero(as_tuple=True)
            embeds = embeds.clone()
            embeds[rows, cols] = embeds[rows, src[rows, cols]].detach()
        if slot_mask is not None and values is not None and values.numel():
            embeds = embeds.clone()
            embeds[slot_mask.to(embeds.device)] = values.to(embeds.device, embeds.dtype)
        kwargs["inputs_embeds"] = embeds
        if record is not None:
            record["inputs_embeds"] = embeds
        return args, kwargs

    handle = target.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def reconstruction_loss(hidden: torch.Tensor, targets: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean distance between predicted (n, H) and target (n, H) embeddings, in float32."""
    if kind not in LOSS_KINDS:
        raise ConfigError(f"lvr_loss must be one of {', '.join(LOSS_KINDS)}, got {kind!r}")
    if hidden.numel() == 0:
        return hidden.sum().float() * 0.0
    h, t = hidden.float(), targets.float()
    if kind == "mse":
        return F.mse_loss(h, t)
    if kind == "mae":
        return F.l1_loss(h, t)
    return (1.0 - F.cosine_similarity(h, t, dim=-1)).mean()


def slot_pairs(slot_mask: torch.Tensor):
    """(rows, cols) of slot positions p and of the positions p - 1 whose hidden states predict
    them; a slot never sits at position 0 (the span starts with <|lvr_start|>)."""
    rows, cols = slot_mask.nonzero(as_tuple=True)
    return rows, cols, cols - 1


def lvr_loss_terms(hidden: torch.Tensor, inputs_embeds: torch.Tensor, slot_mask: torch.Tensor,
                   spec: LvrSpec, logits: torch.Tensor | None = None, end_token_id: int | None = None,
                   last_slot: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The LVR terms added to the cross-entropy: {"reconstruction": D(h[p-1], e[p])} over the
    slots (targets detached: the vision tower and projector are frozen), and for exit
    mode_switch {"mode_switch": BCE(p(<|lvr_end|>) at each slot row, 1 at `last_slot` else 0)}."""
    rows, cols, prev = slot_pairs(slot_mask)
    terms = {"reconstruction": reconstruction_loss(hidden[rows, prev], inputs_embeds[rows, cols].detach(), spec.loss)}
    if spec.exit == "mode_switch" and logits is not None and end_token_id is not None and len(rows):
        # rows that hold a slot (they must not switch) and the last slot's row (it must)
        p_end = logits[rows, cols].float().log_softmax(-1)[:, end_token_id].exp().clamp(1e-6, 1 - 1e-6)
        target = last_slot.to(p_end.device)[rows, cols].float() if last_slot is not None else torch.zeros_like(p_end)
        terms["mode_switch"] = F.binary_cross_entropy(p_end, target)
    return terms


def lvr_forward(lm, model, batch: dict, spec: LvrSpec, *, loss_fn=None):
    """One teacher-forced LVR forward: ROI embeddings in the slots, hidden states kept.

    Returns (outputs, terms). `loss_fn(model, inputs) -> (loss, outputs)`, when given, runs the
    forward (the Trainer's `compute_loss`, so its loss scaling stays its own); the default calls
    `model(**inputs)`. The caller adds `lam * terms["reconstruction"]` (and the mode switch).
    """
    from livr.models.segments import Segment

    inputs = dict(lm.model_inputs(batch, "standard"), output_hidden_states=True)
    seen: dict = {}
    sources = batch.get("lvr_source")
    with patched_slots(model, sources=sources, record=seen):
        if loss_fn is None:
            outputs = model(**inputs)
        else:
            _, outputs = loss_fn(model, inputs)
    segments = batch["segment_ids"].to(outputs.logits.device)
    slot_mask = segments == Segment.LATENT
    end_id = lm.tokenizer.convert_tokens_to_ids(END) if END in lm.tokenizer.get_vocab() else -1
    ids = batch["input_ids"].to(segments.device)
    last_slot = torch.zeros_like(slot_mask)
    last_slot[:, :-1] = slot_mask[:, :-1] & (ids[:, 1:] == end_id)
    embeds = seen.get("inputs_embeds")
    if embeds is None:
        raise RuntimeError("the LVR slot hook did not run: the model did not pass inputs_embeds to its language model")
    terms = lvr_loss_terms(outputs.hidden_states[-1], embeds, slot_mask, spec, logits=outputs.logits,
                           end_token_id=end_id, last_slot=last_slot)
    return outputs, terms


def combine(ce: torch.Tensor, terms: dict[str, torch.Tensor], spec: LvrSpec) -> torch.Tensor:
    """CE + lambda * reconstruction (+ switch_weight * mode switch)."""
    loss = ce + spec.lam * terms["reconstruction"].to(ce.dtype)
    if "mode_switch" in terms:
        loss = loss + spec.switch_weight * terms["mode_switch"].to(ce.dtype)
    return loss
