"""Mirage (latents supervised by helper images) at the model level: targets, stage 1, stage 2.

The assistant turn of a Mirage example is

    <|latent_start|> p_1 ... p_K <|latent_end|> answer <|im_end|>

(pads: segment LATENT, no cross-entropy; start and end carry it). Targets: the record's helper
image goes through the frozen vision tower + projector alone; its merged visual tokens, in
raster order, lose their last N mod K and are cut into K contiguous chunks, each averaged
(`chunk_means`). Stage 1 (teacher forcing) writes the K targets into the pads' input embeddings
(`livr.models.lvr.patched_slots`) and trains

    ce_weight * CE + cosine_weight * mean_j (1 - cos(h[p_j - 1], target_j))

with h the final-layer (post-norm) hidden state. Stage 2 trains CE only, each pad's input being
the hidden state one position earlier, computed step by step (`recurrent_forward`): K + 1
forwards of the whole sequence, pass j writing the hidden states of pass j - 1 into pads 1..j.
Causality makes this exact (a pad only sees what precedes it) and gradients flow through every
fed-back state; it costs K + 1 forwards instead of a cached prefix, which is simple and cheap
at Mirage's K = 4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from livr.data.mirage_layout import END, PAD, START, TOKENS, MirageSpec, add_mirage_tokens  # noqa: F401
from livr.errors import DataError
from livr.models.lvr import patched_slots
from livr.models.segments import Segment


def chunk_means(tokens: torch.Tensor, k: int) -> torch.Tensor:
    """(N, H) merged visual tokens in raster order -> (k, H): the last N mod k dropped, the rest
    cut into k contiguous chunks, each averaged."""
    n = tokens.shape[0] - tokens.shape[0] % k
    if n == 0:
        raise DataError(f"a helper image with {tokens.shape[0]} visual tokens cannot fill {k} latents")
    return tokens[:n].reshape(k, n // k, tokens.shape[-1]).mean(1)


class _Stop(Exception):
    """Raised from the recording hook: the vision pass is all that is needed."""


@torch.no_grad()
def helper_batch_tokens(model, helper: dict, model_inputs) -> list[torch.Tensor]:
    """Per row of a padded helper batch (`batch["mirage_helper"]`), the merged visual tokens
    (vision tower + projector output, raster order) of its helper image, read where every family
    puts them: the language model's input embeddings at the image positions. The language
    model itself is not run (the recording hook stops the forward there)."""
    from livr.models.lvr import language_model

    seen: dict = {}

    def hook(module, args, kwargs):
        seen["embeds"] = kwargs["inputs_embeds"]
        raise _Stop

    handle = language_model(model).register_forward_pre_hook(hook, with_kwargs=True)
    try:
        model(**model_inputs(helper, "standard"))
    except _Stop:
        pass
    finally:
        handle.remove()
    if "embeds" not in seen:
        raise RuntimeError("the vision pass did not reach the language model")
    images = (helper["segment_ids"] == Segment.IMAGE).to(seen["embeds"].device)
    return [seen["embeds"][row, images[row]].detach() for row in range(images.shape[0])]


def batch_targets(lm, model, batch: dict, spec: MirageSpec) -> torch.Tensor:
    """(B * K, H): the K chunk-mean targets of each row's helper image, row after row."""
    if "mirage_helper" not in batch:
        raise DataError("a Mirage training batch needs its helper images (records without helper_image "
                        "are refused when encoded)")
    return torch.cat([chunk_means(t, spec.latents)
                      for t in helper_batch_tokens(model, batch["mirage_helper"], lm.model_inputs)])


def helper_targets(lm, records: list, spec: MirageSpec) -> torch.Tensor:
    """(B * K, H): the targets of `records`, encoded here. A record without a helper image is
    refused by name."""
    batch = lm.collator("standard")(records)
    return batch_targets(lm, lm.model, batch, spec)


def pad_mask(batch: dict) -> torch.Tensor:
    return batch["segment_ids"] == Segment.LATENT


def cosine_term(hidden: torch.Tensor, embeds: torch.Tensor, pads: torch.Tensor) -> torch.Tensor:
    """mean over latents of 1 - cos(h[t - 1], e[t]), float32, targets detached."""
    rows, cols = pads.nonzero(as_tuple=True)
    h, e = hidden[rows, cols - 1].float(), embeds[rows, cols].detach().float()
    return (1.0 - F.cosine_similarity(h, e, dim=-1)).mean()


def stage1_forward(lm, model, batch: dict, targets: torch.Tensor, spec: MirageSpec, *, loss_fn=None):
    """Teacher forcing: the targets in the pads. Returns (CE, cosine term, outputs), both terms
    live (the caller weights them: ce_weight * CE + cosine_weight * cosine)."""
    inputs = dict(lm.model_inputs(batch, "standard"), output_hidden_states=True)
    pads = pad_mask(batch)
    seen: dict = {}
    with patched_slots(model, slot_mask=pads, values=targets, record=seen):
        ce, outputs = loss_fn(model, inputs) if loss_fn is not None else (None, model(**inputs))
    ce = outputs.loss if ce is None else ce
    cos = cosine_term(outputs.hidden_states[-1], seen["inputs_embeds"], pads.to(outputs.logits.device))
    return ce, cos, outputs


def recurrent_forward(lm, model, batch: dict, spec: MirageSpec, *, loss_fn=None, record: list | None = None):
    """Stage 2: each pad's input is the previous position's last hidden state, step by step
    (pass j fills pad j from pass j - 1). Returns (CE, outputs of the last pass). `record`, if
    given, receives the fed-back values (B * K, H) and the final inputs_embeds."""
    inputs = dict(lm.model_inputs(batch, "standard"), output_hidden_states=True)
    pads = pad_mask(batch)
    per_row = pads.sum(1)
    if not bool((per_row == spec.latents).all()):
        raise DataError(f"every Mirage example needs {spec.latents} latent pads, got {per_row.tolist()}")
    rows, cols = pads.nonzero(as_tuple=True)
    step = torch.arange(len(cols)) % spec.latents  # pad index within its row
    values = None
    for j in range(spec.latents):
        mask = torch.zeros_like(pads)
        if values is not None:
            keep = step < j
            mask[rows[keep], cols[keep]] = True
        with patched_slots(model, slot_mask=mask, values=None if values is None else values[step < j]):
            out = model(**{k: v for k, v in inputs.items() if k != "labels"})
        hidden = out.hidden_states[-1]
        # the state that feeds pad j is the one at the position before it, from this pass
        new = hidden[rows.to(hidden.device), cols.to(hidden.device) - 1]
        values = new if values is None else torch.where((step == j).to(new.device)[:, None], new, values)
    seen: dict = {}
    with patched_slots(model, slot_mask=pads, values=values, record=seen):
        ce, outputs = loss_fn(model, inputs) if loss_fn is not None else (None, model(**inputs))
    ce = outputs.loss if ce is None else ce
    if record is not None:
        record += [values, seen["inputs_embeds"]]
    return ce, outputs
