"""Attention weights of the language model, reduced layer by layer as they are computed.

`capture_attention(lm, on_layer)` switches the language model to eager attention (sdpa never
materialises the weights) and hooks every decoder layer's self-attention module through torch's
public forward hooks (in a hybrid model such as Qwen3.5, its full-attention layers only);
`on_layer(layer_index, weights)` receives each layer's (B, heads, q, k) softmax weights once and
may keep only a reduction, so memory stays at one layer's worth even for 36-layer models. The attention kernel is restored on exit. The weights are post-mask: a
blocked key gets exactly 0.

Two reductions of the paper are built on it:

- `answer_latent_attention`: the mean attention from answer tokens to latent tokens (summed over
  the K latent keys), averaged over heads, layers and answer positions (Sec. 4.4.1), by teacher
  forcing the gold answer under the standard mask. "Answer positions" are the rows that predict
  answer tokens (the template token before the answer and every answer token but the last):
  the rows that produce the answer, as in `livr.models.masks`.
- `latent_image_attention`: for each prompt, the attention from the latent tokens to every image
  token, averaged over latents, heads and layers (Fig. 3 and 5).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch

from livr.data.collator import EncodedExample
from livr.models.segments import Segment


def language_layers(lm) -> list[torch.nn.Module]:
    """The self-attention modules of the language model, in order. Hybrid models (Qwen3.5) have
    them only in their full-attention layers; linear-attention layers have no attention weights,
    so the read-outs average over the full-attention layers."""
    return [layer.self_attn for layer in lm.base_model.model.language_model.layers if hasattr(layer, "self_attn")]


@contextmanager
def capture_attention(lm, on_layer: Callable[[int, torch.Tensor], None]) -> Iterator[None]:
    """Within the block, every forward pass calls `on_layer(i, weights)` for each LM layer."""
    base = lm.base_model
    text_config = base.config.get_text_config()
    previous = text_config._attn_implementation
    base.set_attn_implementation({"text_config": "eager"})
    handles = []
    for index, layer in enumerate(language_layers(lm)):
        def hook(module, args, output, index=index):
            weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
            if weights is None:
                raise RuntimeError(f"layer {index} returned no attention weights under eager attention")
            on_layer(index, weights.detach())
        handles.append(layer.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        base.set_attn_implementation({"text_config": previous})


def _device(lm) -> torch.device:
    return lm.base_model.device


@torch.no_grad()
def _forward_with_capture(lm, collator, examples: Sequence[EncodedExample], batch_size: int,
                          on_layer: Callable[[int, torch.Tensor], None],
                          before: Callable[[int, dict], None], after: Callable[[dict], None] | None = None):
    """Standard-mask forward passes over padded batches of `examples`, attention captured:
    `before(start, batch)` prepares what `on_layer` needs, `after(batch)` collects."""
    model = lm.base_model
    was_training = model.training
    model.eval()
    try:
        with capture_attention(lm, on_layer):
            for start in range(0, len(examples), batch_size):
                batch = collator.pad(list(examples[start : start + batch_size]))
                before(start, batch)
                inputs = lm.model_inputs(batch, "standard")
                model(**{k: v.to(_device(lm)) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()})
                if after is not None:
                    after(batch)
    finally:
        model.train(was_training)


@torch.no_grad()
def answer_latent_attention(lm, records: Sequence[dict[str, Any]], *, batch_size: int = 4,
                            image_repeats: int = 1, max_length: int = 4096) -> dict[str, Any]:
    """Mean answer-to-latent and answer-to-image attention (Sec. 4.4.1), overall and per task.

    Each value is the share of an answer row's attention that lands on the latent (image) keys,
    averaged over heads, then answer rows, then layers, then records. None without latents.
    """
    from livr.models.masks import query_roles

    collator = lm.collator("standard", max_length=max_length, image_repeats=image_repeats)
    examples = [collator.encode(r, i) for i, r in enumerate(records)]
    to_latent = torch.zeros(len(examples), dtype=torch.float64)
    to_image = torch.zeros(len(examples), dtype=torch.float64)
    current: dict[str, Any] = {}

    def on_layer(index: int, weights: torch.Tensor) -> None:
        w = weights.float().mean(1)  # (B, q, k), averaged over heads
        rows = current["rows"]
        n_rows = rows.sum(-1).clamp(min=1)
        for target, cols in ((to_latent, current["latent"]), (to_image, current["image"])):
            mass = (w * cols[:, None, :]).sum(-1)  # (B, q) share of each row on those keys
            target[current["slice"]] += ((mass * rows).sum(-1) / n_rows).double().cpu()

    def before(start: int, batch: dict) -> None:
        segments, device = batch["segment_ids"], _device(lm)
        current.update(
            slice=slice(start, start + len(segments)),
            rows=(query_roles(segments) == Segment.ANSWER).float().to(device),
            latent=(segments == Segment.LATENT).float().to(device),
            image=(segments == Segment.IMAGE).float().to(device),
        )

    _forward_with_capture(lm, collator, examples, batch_size, on_layer, before)
    layers = len(language_layers(lm))
    to_latent /= layers
    to_image /= layers
    has_latents = lm.latents.num_latents > 0

    def summary(values: torch.Tensor, index: list[int]) -> float:
        return float(values[index].mean()) if index else float("nan")

    tasks = sorted({r.get("task", "") for r in records})
    by_task = {t: [i for i, r in enumerate(records) if r.get("task", "") == t] for t in tasks}
    everyone = list(range(len(records)))
    return {
        "answer_to_latent": summary(to_latent, everyone) if has_latents else None,
        "answer_to_image": summary(to_image, everyone),
        "per_task": {t: {"answer_to_latent": summary(to_latent, i) if has_latents else None,
                         "answer_to_image": summary(to_image, i)} for t, i in by_task.items()},
        "n": len(records),
    }


@torch.no_grad()
def latent_image_attention(lm, examples: Sequence[EncodedExample], *,
                           batch_size: int = 4) -> list[torch.Tensor]:
    """Per prompt: (number of image tokens,) attention from the latents to each image token, in
    sequence order, averaged over latents, heads and layers. Needs a model with latents."""
    from livr.errors import ConfigError
    from livr.inference.generate import prompt_collator

    if lm.latents.num_latents == 0:
        raise ConfigError("latent-to-image attention needs a model with latent tokens; this one has none")
    collator = prompt_collator(lm)
    maps: list[torch.Tensor] = []
    current: dict[str, Any] = {}

    def on_layer(index: int, weights: torch.Tensor) -> None:
        w = weights.float().mean(1)  # (B, q, k)
        rows = current["latent"]
        summed = (w * rows[:, :, None]).sum(1) / rows.sum(-1, keepdim=True)  # (B, k)
        current["total"] = summed if index == 0 else current["total"] + summed

    def before(start: int, batch: dict) -> None:
        current["latent"] = (batch["segment_ids"] == Segment.LATENT).float().to(_device(lm))

    def after(batch: dict) -> None:
        total = current["total"].cpu() / len(language_layers(lm))
        for row, segments in zip(total, batch["segment_ids"]):
            maps.append(row[segments == Segment.IMAGE].clone())

    _forward_with_capture(lm, collator, examples, batch_size, on_layer, before, after)
    return maps
