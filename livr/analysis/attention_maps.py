"""Latent-to-image attention maps over the input images (the paper's Fig. 3 and 5).

`livr.evaluation.attention.latent_image_attention` gives, per prompt, the attention from the
latent tokens to every IMAGE token in sequence order (averaged over latents, heads and layers).
This module puts those values back on each image's spatial token grid and draws them:

- `image_token_layout(lm, example)`: where each image's tokens sit among the example's image
  tokens and the shape of its grid. The image tokens come as one contiguous run per image, in
  image order (Qwen wraps each image in <|vision_start|> ... <|vision_end|>, LLaVA puts "\\n"
  after each <image>). Per family:
    * Qwen2.5-VL / Qwen3-VL (and the Qwen-like LLaVA-OneVision-1.5): image i is a
      (h / merge, w / merge) grid, row-major, from `image_grid_thw[i] = (t, h, w)` (t = 1 for
      images); the run holds exactly those tokens.
    * LLaVA-OneVision: the first (image_size / patch_size)^2 tokens of each run are the base
      image features (the whole image resized to a square), row-major on a square grid. The
      rest of the run (anyres tiles and their newline features for a single-image prompt, one
      newline feature for multi-image prompts) is ignored: the tiles are unpadded crops whose
      geometry differs per image, and the base grid already covers the whole image.
  A run whose length does not fit raises `ConfigError` instead of drawing garbage.
  `image_twice` models (`image_repeats=2`) see every image twice; the attention to the two
  copies is **added** cell by cell, so a grid cell holds the latents' total attention to that
  region of the image.
- `attention_grids(...)`: the per-image (h, w) grids of every example.
- `joint_range` / `joint_normalise`: the maps of one example share one colour scale, from the
  smallest to the largest value over all its images (min-max), so one image's attention can be
  compared with another's. Values are attention shares (a grid sums, over all images, to the
  fraction of the latents' attention that lands on image tokens).
- `draw_attention_figure(record, grids)`: PNG bytes, one column per image: top row the input
  image (a check mark on the correct image for tasks whose choices are images), second row the
  image with the upsampled (bilinear) map overlaid (jet, alpha 0.5), and for Art Style and
  Visual Similarity a third row with the raw token grids, as the paper's Fig. 5 shows them.
- `write_attention_maps(...)`: DIR/<task>/<id>.png, DIR/index.html and DIR/attention.json (the raw
  grids, to re-plot).
"""

from __future__ import annotations

import html
import io
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from livr.errors import ConfigError
from livr.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from livr.models.segments import Segment

# Tasks whose choices are images: the answer letter picks one of the images after the first.
IMAGE_CHOICE_TASKS = ("jigsaw", "art_style", "visual_similarity")
# Tasks drawn with an extra row of raw token grids (Fig. 5 shows raw maps for these).
RAW_MAP_TASKS = ("art_style", "visual_similarity")
_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3}
NORMALISATION = ("joint min-max per example: one colour scale from the smallest to the largest "
                 "value over all of the example's images")


@dataclass(frozen=True)
class ImageGrid:
    """One image's place among an example's image tokens: the offset of each copy's first
    token (two copies for image_twice) and the token grid's shape."""

    index: int
    height: int
    width: int
    offsets: tuple[int, ...]

    @property
    def size(self) -> int:
        return self.height * self.width


# ----------------------------------------------------------------------------- layout


def image_runs(segment_ids: torch.Tensor) -> list[tuple[int, int]]:
    """(offset among the image tokens, length) of each contiguous run of IMAGE tokens."""
    is_image = (torch.as_tensor(segment_ids) == Segment.IMAGE).tolist()
    runs: list[tuple[int, int]] = []
    seen = 0
    previous = False
    for flag in is_image:
        if flag:
            if not previous:
                runs.append((seen, 0))
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            seen += 1
        previous = flag
    return runs


def _qwen_grids(lm, grid_thw: torch.Tensor) -> list[tuple[int, int]]:
    merge = getattr(lm.processor.image_processor, "merge_size", None)
    if merge is None:
        merge = getattr(lm.base_model.config.vision_config, "spatial_merge_size", 2)
    shapes = []
    for i, (t, h, w) in enumerate(torch.as_tensor(grid_thw).tolist()):
        if t != 1 or h % merge or w % merge:
            raise ConfigError(f"image {i + 1}: image_grid_thw ({t}, {h}, {w}) is not an image grid with "
                              f"merge size {merge}; cannot place its attention on the image")
        shapes.append((h // merge, w // merge))
    return shapes


def _llava_side(lm) -> int:
    config = lm.base_model.config
    if getattr(config, "vision_feature_select_strategy", "full") == "default":
        raise ConfigError("this LLaVA-OneVision checkpoint drops the first vision feature "
                          "(vision_feature_select_strategy='default'), so its base features are not a "
                          "square grid; attention maps support the 'full' strategy only")
    vision = config.vision_config
    return int(vision.image_size) // int(vision.patch_size)


def image_token_layout(lm, example, image_repeats: int = 1) -> list[ImageGrid]:
    """The grid of each input image of an encoded prompt (see the module docstring)."""
    runs = image_runs(example.segment_ids)
    vision = example.vision
    if "image_grid_thw" in vision:
        shapes = _qwen_grids(lm, vision["image_grid_thw"])
        exact = True
    elif lm.adapter.family == "llava_onevision":
        side = _llava_side(lm)
        shapes = [(side, side)] * len(vision["image_sizes"])
        exact = False  # the base grid is followed by tiles and newline features
    else:
        raise ConfigError(f"attention maps do not know the image-token layout of family {lm.adapter.family!r}")
    where = f"example {example.id!r}"
    if len(runs) != len(shapes):
        raise ConfigError(f"{where}: {len(runs)} runs of image tokens for {len(shapes)} images; "
                          "the prompt's image tokens do not come one run per image")
    for k, ((_, length), (h, w)) in enumerate(zip(runs, shapes)):
        if (length != h * w) if exact else (length <= h * w):
            want = f"{h * w}" if exact else f"more than {h * w} (a {h}x{w} base grid, then tiles/newlines)"
            raise ConfigError(f"{where}: image run {k + 1} has {length} tokens, expected {want}; "
                              "the processor and the model disagree on the image-token layout")
    count, rest = divmod(len(shapes), image_repeats)
    if rest or image_repeats < 1:
        raise ConfigError(f"{where}: {len(shapes)} image runs cannot be {image_repeats} copies of the images")
    grids = []
    for i in range(count):
        copies = [i + c * count for c in range(image_repeats)]
        if any(shapes[c] != shapes[i] for c in copies):
            raise ConfigError(f"{where}: the copies of image {i + 1} have different grids")
        grids.append(ImageGrid(i, shapes[i][0], shapes[i][1], tuple(runs[c][0] for c in copies)))
    return grids


def to_grids(values: torch.Tensor, layout: Sequence[ImageGrid]) -> list[np.ndarray]:
    """Per image, its (height, width) grid of `values` (one value per image token, sequence
    order); the copies of an image_twice prompt are added."""
    flat = torch.as_tensor(values, dtype=torch.float32).flatten()
    grids = []
    for image in layout:
        total = sum(flat[o : o + image.size] for o in image.offsets)
        if total.numel() != image.size:
            raise ConfigError(f"image {image.index + 1}: {flat.numel()} attention values do not reach "
                              f"its tokens")
        grids.append(total.reshape(image.height, image.width).numpy().astype(np.float64))
    return grids


def attention_grids(lm, records: Sequence[dict[str, Any]], *, image_repeats: int = 1,
                    batch_size: int = 4) -> list[list[np.ndarray]]:
    """Per record, the latent-to-image attention grid of each of its images.

    ConfigError when the model has no latents (from `latent_image_attention`)."""
    from livr.evaluation.attention import latent_image_attention
    from livr.inference.generate import encode_prompts

    if lm.latents.num_latents == 0:
        raise ConfigError("latent-to-image attention needs a model with latent tokens; this one has none "
                          "(a zero-shot or Direct SFT model): point it at a LIVR run or export")
    examples = encode_prompts(lm, records, image_repeats=image_repeats)
    layouts = [image_token_layout(lm, ex, image_repeats) for ex in examples]  # fail before running
    values = latent_image_attention(lm, examples, batch_size=batch_size)
    return [to_grids(v, layout) for v, layout in zip(values, layouts)]


# ----------------------------------------------------------------------------- normalisation


def joint_range(grids: Sequence[np.ndarray]) -> tuple[float, float]:
    """(min, max) over all grids of one example."""
    lo = min(float(np.min(g)) for g in grids)
    hi = max(float(np.max(g)) for g in grids)
    return lo, hi


def joint_normalise(grids: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The grids of one example mapped to [0, 1] with one shared min-max (all zeros if flat)."""
    lo, hi = joint_range(grids)
    span = hi - lo
    return [(g - lo) / span if span > 0 else np.zeros_like(g, dtype=np.float64) for g in grids]


def upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a token grid to (height, width) pixels."""
    t = torch.as_tensor(np.asarray(grid, dtype=np.float32))[None, None]
    out = torch.nn.functional.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)
    return out[0, 0].numpy()


# ----------------------------------------------------------------------------- drawing


def correct_image(record: dict[str, Any]) -> int | None:
    """Index of the image that is the correct answer, for tasks whose choices are images."""
    if record.get("task") not in IMAGE_CHOICE_TASKS:
        return None
    answer = str(record.get("answer", "")).strip().upper()
    choices = list(record.get("choices") or [])
    if len(answer) != 1 or not "A" <= answer <= "H":
        return None
    k = ord(answer) - ord("A")
    index = k + 1  # choices are the images after the reference one
    if k < len(choices):
        words = re.findall(r"[a-z]+", choices[k].lower())
        named = [_ORDINALS[w] for w in words if w in _ORDINALS]
        if named:
            index = named[0]
    return index if index < len(record.get("images") or []) else None


def _answer_text(record: dict[str, Any]) -> str:
    answer = str(record.get("answer", ""))
    choices = list(record.get("choices") or [])
    if len(answer) == 1 and "A" <= answer <= "H" and ord(answer) - ord("A") < len(choices):
        return f"{answer} ({choices[ord(answer) - ord('A')]})"
    return answer


def _title(record: dict[str, Any], width: int) -> str:
    question = str(record.get("question") or record.get("prompt") or "").strip()
    lines = textwrap.wrap(" ".join(question.split()), width=width)
    if len(lines) > 4:  # keep the beginning and the end (where the object / choices are named)
        lines = [*lines[:2], "… " + lines[-2], lines[-1]]
    head = f"{record.get('task', '')} · {record.get('id', '')}"
    return "\n".join([head, *lines, f"Gold answer: {_answer_text(record)}"])


def _thumbnail(image, max_side: int = 384):
    image = image.convert("RGB")
    scale = min(1.0, max_side / max(image.size))
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    return image


def draw_attention_figure(record: dict[str, Any], grids: Sequence[np.ndarray], *,
                          raw_maps: bool | None = None, cmap: str = "jet", alpha: float = 0.5,
                          dpi: int = 100) -> bytes:
    """PNG bytes of one example's figure (layout in the module docstring)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    images = [_thumbnail(im) for im in record["images"]]
    if len(images) != len(grids):
        raise ConfigError(f"record {record.get('id')!r}: {len(images)} images but {len(grids)} attention grids")
    if raw_maps is None:
        raw_maps = record.get("task") in RAW_MAP_TASKS
    rows = 3 if raw_maps else 2
    n = len(images)
    col_w = 3.0  # inches per image column
    aspect = max(im.height / im.width for im in images)
    row_h = col_w * min(max(aspect, 0.35), 1.6) + 0.35  # image + its panel title
    fig_w = max(col_w * n + 0.2, 6.5)
    title = _title(record, width=int(fig_w * 14))
    head_h, foot_h = 0.3 + 0.17 * (title.count("\n") + 1), 0.75  # title block; colour bar at the bottom
    fig_h = head_h + rows * row_h + foot_h
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
    lo, hi = joint_range(grids)
    norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1e-12)
    right = 1 - 0.1 / fig_w
    axes = fig.subplots(rows, n, squeeze=False)
    fig.subplots_adjust(left=0.1 / fig_w, right=right, bottom=foot_h / fig_h, top=1 - head_h / fig_h,
                        wspace=0.08, hspace=0.35 / row_h)
    answer = correct_image(record)
    for i, (image, grid) in enumerate(zip(images, grids)):
        pixels = np.asarray(image)
        top, over = axes[0][i], axes[1][i]
        top.imshow(pixels)
        label = f"Image {i + 1}"
        if i == answer:
            label += "  \u2713 correct"
            h, w = pixels.shape[:2]
            top.add_patch(Rectangle((0, 0), w - 1, h - 1, fill=False, edgecolor="limegreen", linewidth=4))
        top.set_title(label, fontsize=10, color="green" if i == answer else "black",
                      fontweight="bold" if i == answer else "normal")
        over.imshow(pixels)
        over.imshow(upsample(grid, pixels.shape[0], pixels.shape[1]), cmap=cmap, norm=norm, alpha=alpha)
        over.set_title(f"latent attention ({grid.shape[0]}x{grid.shape[1]} tokens)", fontsize=8)
        if raw_maps:
            raw = axes[2][i]
            raw.imshow(grid, cmap=cmap, norm=norm, interpolation="nearest")
            raw.set_title("raw token grid", fontsize=8)
        for row in range(rows):
            axes[row][i].set_xticks([])
            axes[row][i].set_yticks([])
    fig.text(0.1 / fig_w, 1 - 0.08 / fig_h, title, fontsize=9,
             ha="left", va="top")
    left_edge, right_edge = axes[0][0].get_position().x0, axes[0][n - 1].get_position().x1
    middle = (left_edge + right_edge) / 2
    bar_w = max(right_edge - left_edge, 4.0 / fig_w)
    cax = fig.add_axes((middle - bar_w / 2, 0.38 / fig_h, bar_w, 0.12 / fig_h))
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal")
    bar.set_label("latent→image attention share (one colour scale for all images of this example)",
                  fontsize=8)
    bar.ax.tick_params(labelsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)  # a bare Figure renders with Agg; no pyplot state
    return buffer.getvalue()


# ----------------------------------------------------------------------------- writing


def safe_name(text: str) -> str:
    """A file name for a record id: anything but letters, digits, '.', '_' and '-' becomes '_'."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(text)).strip(".")
    return name or "example"


def _index_html(entries: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>livr latent attention</title>",
             "<h1>Latent-to-image attention</h1>",
             f"<p>model {html.escape(str(meta.get('model')))}, data {html.escape(str(meta.get('data')))} "
             f"(split {html.escape(str(meta.get('split')))}). Colour scale: {html.escape(NORMALISATION)}.</p>"]
    task = None
    for e in entries:
        if e["task"] != task:
            task = e["task"]
            parts.append(f"<h2>{html.escape(task)}</h2>")
        parts.append(f"<figure><img src='{html.escape(e['png'])}' style='max-width:100%'>"
                     f"<figcaption>{html.escape(e['id'])}</figcaption></figure>")
    return "\n".join(parts) + "\n"


def write_attention_maps(out: str | Path, records: Sequence[dict[str, Any]],
                         grids: Sequence[Sequence[np.ndarray]], meta: dict[str, Any]) -> dict[str, Path]:
    """Write DIR/<task>/<id>.png per record, DIR/index.html and DIR/attention.json; returns the
    paths of the index and the JSON."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the pictures")
    entries = []
    used: set[str] = set()
    for record, example_grids in zip(records, grids):
        task = safe_name(record.get("task", "task"))
        name = safe_name(record.get("id", "example"))
        stem, k = name, 1
        while f"{task}/{name}" in used:  # two ids that sanitise to one name
            k += 1
            name = f"{stem}-{k}"
        used.add(f"{task}/{name}")
        rel = f"{task}/{name}.png"
        atomic_write_bytes(out / rel, draw_attention_figure(record, example_grids))
        lo, hi = joint_range(example_grids)
        entries.append({
            "id": record.get("id"), "task": record.get("task"), "png": rel,
            "answer": record.get("answer"), "correct_image": correct_image(record),
            "joint_min": lo, "joint_max": hi,
            "images": [{"index": i, "width": im.width, "height": im.height,
                        "grid_height": int(g.shape[0]), "grid_width": int(g.shape[1]),
                        "grid": np.asarray(g, dtype=float).round(8).tolist()}
                       for i, (im, g) in enumerate(zip(record["images"], example_grids))],
        })
    entries.sort(key=lambda e: (str(e["task"]), str(e["id"])))
    payload = {**meta, "normalisation": NORMALISATION,
               "values": "attention share from the latent tokens to each image token, averaged over "
                         "latents, heads and layers; grids are row-major (rows top to bottom)",
               "examples": entries}
    json_path = out / "attention.json"
    index_path = out / "index.html"
    atomic_write_json(json_path, payload)
    atomic_write_text(index_path, _index_html(entries, meta))
    return {"index": index_path, "json": json_path, "dir": out}
