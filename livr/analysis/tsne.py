"""t-SNE of final-layer hidden states, coloured latent / image / text (the paper's Fig. 4).

The paper extracts "the final-layer hidden states for all token positions (latent, image, and
text) from the first 50 evaluation examples of each of the six tasks" and embeds them with
t-SNE (red: latent, blue: image, green: text). Here:

- Every non-pad token of each encoded prompt (images, question, latents, generation prompt; no
  answer) gets a label: LATENT -> latent, IMAGE -> image, TEMPLATE and PROMPT -> text.
- The hidden state is the language model's `last_hidden_state`, which in transformers 5.23 is
  exactly `hidden_states[-1]` of `output_hidden_states=True` for Qwen2.5-VL, Qwen3-VL and
  LLaVA-OneVision: the output of the last decoder layer **after the final RMSNorm** (the input
  of the LM head). The inner model is called directly, so no vocabulary-sized logits are built.
- Subsampling (`stratified_sample`) is decided from the segment tags before the model runs, so
  only the chosen states are kept. It is deterministic for a seed and stratified so the few
  latent tokens are not drowned by the many image tokens: each label gets an equal share of
  `max_points`; a label with fewer tokens than its share keeps all of them and its unused share
  is split among the others (water-filling); within a label tokens are drawn uniformly without
  replacement. With 16 latents per prompt that keeps every latent and splits the rest between
  image and text tokens, so the plot shows the three kinds in comparable numbers, not in their
  natural proportions (the JSON records both counts).
- `embed(states, seed, perplexity)`: sklearn's Barnes-Hut t-SNE, PCA init, random_state=seed; the
  perplexity is lowered to (n - 1) / 3 when there are too few points for it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from livr.errors import ConfigError, DataError
from livr.io import atomic_write_bytes, atomic_write_json
from livr.models.segments import Segment

LABELS = ("latent", "image", "text")
COLOURS = {"latent": "red", "image": "blue", "text": "green"}
_SEGMENT_LABEL = {int(Segment.LATENT): 0, int(Segment.IMAGE): 1, int(Segment.TEMPLATE): 2,
                  int(Segment.PROMPT): 2}


def token_labels(segment_ids: torch.Tensor) -> np.ndarray:
    """Per token: 0 latent, 1 image, 2 text, -1 not plotted (padding, answer)."""
    seg = torch.as_tensor(segment_ids).cpu().numpy()
    out = np.full(seg.shape, -1, dtype=np.int64)
    for segment, label in _SEGMENT_LABEL.items():
        out[seg == segment] = label
    return out


def share_out(counts: Sequence[int], total: int) -> list[int]:
    """Water-filling: how many points each label keeps out of `total` (see the module docstring)."""
    counts = [int(c) for c in counts]
    quota = [0] * len(counts)
    open_ = [i for i, c in enumerate(counts) if c > 0]
    left = max(0, int(total))
    while open_ and left > 0:
        share, extra = divmod(left, len(open_))
        still = []
        for rank, i in enumerate(open_):
            want = share + (1 if rank < extra else 0)
            take = min(want, counts[i] - quota[i])
            quota[i] += take
            left -= take
            if quota[i] < counts[i]:
                still.append(i)
        if len(still) == len(open_):  # nobody was capped: everything handed out
            break
        open_ = still
    return quota


def stratified_sample(labels: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    """Sorted indices into `labels` (values 0..2, -1 ignored): at most `max_points`, stratified."""
    if max_points < 1:
        raise ConfigError(f"--max-points must be at least 1, got {max_points}")
    rng = np.random.default_rng(seed)
    pools = [np.flatnonzero(labels == k) for k in range(len(LABELS))]
    quota = share_out([len(p) for p in pools], max_points)
    chosen = [pool if q >= len(pool) else rng.choice(pool, size=q, replace=False)
              for pool, q in zip(pools, quota)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


@torch.no_grad()
def hidden_state_points(lm, records: Sequence[dict[str, Any]], *, max_points: int = 6000, seed: int = 0,
                        image_repeats: int = 1, batch_size: int = 4) -> dict[str, Any]:
    """Final-layer hidden states of a stratified sample of the prompts' tokens.

    Returns {"states": (n, d) float32, "labels": (n,) 0/1/2, "example": (n,) record index,
    "position": (n,) token position in the prompt, "available": token count per label}.
    """
    from livr.inference.generate import encode_prompts, prompt_collator

    examples = encode_prompts(lm, records, image_repeats=image_repeats)
    per_example = [token_labels(ex.segment_ids) for ex in examples]
    labels = np.concatenate(per_example)
    example_of = np.concatenate([np.full(len(l), i) for i, l in enumerate(per_example)])
    position_of = np.concatenate([np.arange(len(l)) for l in per_example])
    picked = stratified_sample(labels, max_points, seed)
    starts = np.cumsum([0] + [len(l) for l in per_example])

    model = lm.base_model
    inner = model.model  # the XModel inside XForConditionalGeneration: hidden states, no logits
    device = model.device
    collator = prompt_collator(lm)
    states: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(examples), batch_size):
            chunk = list(range(start, min(start + batch_size, len(examples))))
            wanted = [picked[(picked >= starts[i]) & (picked < starts[i + 1])] - starts[i] for i in chunk]
            if not any(len(w) for w in wanted):
                continue
            batch = collator.pad([examples[i] for i in chunk])
            inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v
                      for k, v in lm.model_inputs(batch, "standard").items() if k != "labels"}
            hidden = inner(**inputs).last_hidden_state
            for row, (i, positions) in enumerate(zip(chunk, wanted)):
                own = hidden[row][batch["segment_ids"][row].to(device) != Segment.PAD]
                if own.shape[0] != len(per_example[i]):
                    raise RuntimeError(f"example {examples[i].id!r}: {own.shape[0]} hidden states for "
                                       f"{len(per_example[i])} tokens")
                states.append(own[torch.as_tensor(positions, device=device)].float().cpu().numpy())
    finally:
        model.train(was_training)
    dim = inner.config.get_text_config().hidden_size if hasattr(inner.config, "get_text_config") else 0
    return {
        "states": np.concatenate(states) if states else np.zeros((0, dim), dtype=np.float32),
        "labels": labels[picked],
        "example": example_of[picked],
        "position": position_of[picked],
        "available": {name: int((labels == k).sum()) for k, name in enumerate(LABELS)},
    }


def embed(states: np.ndarray, *, seed: int = 0, perplexity: float = 30.0) -> tuple[np.ndarray, float]:
    """(n, 2) t-SNE coordinates and the perplexity actually used."""
    from sklearn.manifold import TSNE

    n = len(states)
    if n < 4:
        raise DataError(f"t-SNE needs at least 4 tokens, got {n}; use more records or a larger --max-points")
    if perplexity <= 0:
        raise ConfigError(f"--perplexity must be positive, got {perplexity}")
    used = float(min(perplexity, (n - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=used, init="pca", random_state=seed, learning_rate="auto")
    return tsne.fit_transform(np.asarray(states, dtype=np.float32)).astype(np.float64), used


def draw_tsne(coords: np.ndarray, labels: np.ndarray, *, title: str = "", dpi: int = 120) -> bytes:
    """PNG bytes: the points coloured by label (text, then image, then latent on top)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 7.0), dpi=dpi)
    ax = fig.subplots()
    for k in (2, 1, 0):
        name = LABELS[k]
        mask = labels == k
        if mask.any():
            ax.scatter(coords[mask, 0], coords[mask, 1], s=6 if k else 10, c=COLOURS[name], alpha=0.6,
                       linewidths=0, label=f"{name} ({int(mask.sum())})")
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: LABELS.index(names[i].split(" ")[0]))
    ax.legend([handles[i] for i in order], [names[i] for i in order], loc="best", markerscale=3,
              title="token kind (points)")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)  # a bare Figure renders with Agg; no pyplot state
    return buffer.getvalue()


def tsne_paths(out: str | Path) -> tuple[Path, Path]:
    """(FILE.png, FILE.json); ConfigError if `out` is not a .png path."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out} must be a .png file (the coordinates go beside it as .json)")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a .png file name")
    return out, out.with_suffix(".json")


def write_tsne(out: str | Path, coords: np.ndarray, points: dict[str, Any], records: Sequence[dict[str, Any]],
               meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write FILE.png and FILE.json (coordinates, labels, record id / task and token position)."""
    png, json_path = tsne_paths(out)
    labels = points["labels"]
    counts = {name: int((labels == k).sum()) for k, name in enumerate(LABELS)}
    title = f"t-SNE of final-layer hidden states: {meta.get('model', '')}\n" \
            f"{len(records)} prompts, {len(labels)} tokens (seed {meta.get('seed')}, " \
            f"perplexity {meta.get('perplexity_used', 0):.3g})"
    atomic_write_bytes(png, draw_tsne(coords, labels, title=title))
    payload = {
        **meta,
        "hidden_state": "last_hidden_state of the language model (= hidden_states[-1], after the final norm)",
        "labels_order": list(LABELS), "colours": COLOURS,
        "tokens_available": points["available"], "tokens_plotted": counts,
        "points": {
            "x": coords[:, 0].round(6).tolist(), "y": coords[:, 1].round(6).tolist(),
            "label": [LABELS[k] for k in labels],
            "id": [records[i].get("id") for i in points["example"]],
            "task": [records[i].get("task") for i in points["example"]],
            "position": [int(p) for p in points["position"]],
        },
    }
    atomic_write_json(json_path, payload)
    return png, json_path
