"""Shared pieces of the real-source builders: layout checks, seeded splitting, image I/O, marks.

Everything a builder needs besides its own parsing lives here, so the nine builders stay short
and draw their marks the same way:

- `require_dir` / `require_file`: a missing piece of an official layout raises `DataError`
  naming the folder and what was expected in it.
- `Report`: what a build skipped and why (dead images, filtered instances, short pools); the
  CLI prints it, so nothing is dropped silently.
- `task_rng`, `split_counts`, `take`: deterministic randomness and splitting (same seed, same
  records; no global random state).
- `encode_image`, `image_from_file`, `load_rgb`: images kept encoded in memory. A record's
  images are PIL images opened lazily from JPEG/PNG bytes; the bytes ride along as
  `image.livr_bytes` so the writer can store them as they are (`as_feature_image`) instead of
  decoding every image and re-compressing it.
- `draw_points`, `draw_boxes`: the red circles with "REF"/"A".."D" labels and the labelled boxes
  drawn on BLINK-style questions, scaled to the image so they stay visible at any resolution.
"""

from __future__ import annotations

import contextlib
import io
import json
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from livr.data.prompts import build_prompt
from livr.data.schema import choice_letter, make_record
from livr.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp", ".tif", ".tiff")
RED = (230, 30, 30)
BLUE = (30, 90, 235)
WHITE = (255, 255, 255)
JPEG_QUALITY = 95


# ---------------------------------------------------------------------------- layout checks


def require_dir(path: Path, what: str) -> Path:
    """`path` must be a folder; otherwise a DataError names it and says what belongs there."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder here ({what}), found none")
    return path


def require_file(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path.parent}: expected the file {path.name} ({what}), found none")
    return path


def jsonl_rows(path: Path, fields: Sequence[str], name: str) -> Iterator[tuple[int, str, dict]]:
    """(line number, where, row) for each non-blank line of a jsonl file, `where` naming the file and line;
    DataError naming them for a line that is not JSON or lacks one of `fields` (of source `name`)."""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not JSON ({err})") from None
        missing = [f for f in fields if f not in row]
        if missing:
            raise DataError(f"{where}: missing {name} fields {missing} (expected {', '.join(fields)})")
        yield n, where, row


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


# ---------------------------------------------------------------------------- build report


class Report:
    """Counts of what a build skipped, by reason, plus free-form notes (printed by the CLI)."""

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()
        self.notes: list[str] = []

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def note(self, message: str) -> None:
        self.notes.append(message)

    def short(self, split: str, wanted: int | None, got: int, pool: str) -> None:
        """Record that a split came out smaller than asked (the pool ran out)."""
        if wanted is not None and got < wanted:
            self.note(f"{split}: asked for {wanted} examples, {pool} gave only {got}")

    def lines(self) -> list[str]:
        out = [f"skipped {n}: {reason}" for reason, n in sorted(self.skipped.items())]
        return out + list(self.notes)


# ---------------------------------------------------------------------------- randomness, splits


def task_rng(task: str, purpose: str, seed: int) -> np.random.Generator:
    """An independent, reproducible stream per (task, purpose, seed); purpose is e.g. a split."""
    return np.random.default_rng([seed, zlib.crc32(f"build/{task}/{purpose}".encode())])


def shuffled(items: Sequence, rng: np.random.Generator) -> list:
    """A shuffled copy (the input order must already be deterministic, e.g. sorted)."""
    return [items[i] for i in rng.permutation(len(items))]


def split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Integer sizes for `n` items split by `fractions`; with n >= len(fractions) none is empty.

    80/10/10 of 57 gives [45, 6, 6]; of 4 gives [2, 1, 1] (small pools keep every split).
    """
    sizes = [int(round(f * n)) for f in fractions[1:]]
    sizes.insert(0, n - sum(sizes))
    if n >= len(sizes):
        for i in range(1, len(sizes)):
            if sizes[i] == 0:
                sizes[i] = 1
                sizes[0] -= 1
    return sizes


def partition(items: Sequence, fractions: Sequence[float], rng: np.random.Generator) -> list[list]:
    """Shuffle `items` and cut them into consecutive groups sized by `split_counts`."""
    order = shuffled(items, rng)
    groups, start = [], 0
    for size in split_counts(len(order), fractions):
        groups.append(order[start : start + size])
        start += size
    return groups


def take(pool: list, n: int | None, rng: np.random.Generator) -> list:
    """`n` items of `pool` in a random but reproducible choice (all of them when n is None)."""
    if n is None or n >= len(pool):
        return list(pool)
    keep = np.sort(rng.choice(len(pool), size=n, replace=False))
    return [pool[i] for i in keep]


# ---------------------------------------------------------------------------- images


def encode_image(image: Image.Image | np.ndarray, fmt: str = "JPEG") -> Image.Image:
    """Compress an image once and return it as a lazily decoded PIL image carrying its bytes."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buf, format="PNG", optimize=False)
    return _lazy(buf.getvalue())


def _lazy(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.livr_bytes = data  # the exact encoded bytes, for as_feature_image
    return image


def image_from_file(path: Path) -> Image.Image:
    """A source image kept exactly as stored (JPEG/PNG bytes are not re-encoded)."""
    data = Path(path).read_bytes()
    try:
        image = Image.open(io.BytesIO(data))
        fmt = image.format
    except Exception as err:  # PIL raises several types for broken files
        raise DataError(f"{path}: not a readable image ({err})") from None
    if fmt in ("JPEG", "PNG") and image.mode in ("RGB", "L"):
        return _lazy(data)
    return encode_image(image.convert("RGB"), fmt="PNG")


@contextlib.contextmanager
def _open_source_image(path: Path) -> Iterator[Image.Image]:
    """Image.open with a missing or broken file turned into a DataError naming it."""
    try:
        with Image.open(path) as image:
            yield image
    except FileNotFoundError:
        raise DataError(
            f"{Path(path).parent}: expected the image {Path(path).name}, found none"
        ) from None
    except Exception as err:  # PIL raises several types for broken files
        raise DataError(f"{path}: not a readable image ({err})") from None


def load_rgb(path: Path) -> Image.Image:
    """Decode an image file to RGB; a broken file is a DataError naming it."""
    with _open_source_image(path) as image:
        return image.convert("RGB")


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header; a broken file is a DataError naming it."""
    with _open_source_image(path) as image:
        return image.size


def image_from_bytes(data: bytes, where: str) -> Image.Image:
    try:
        Image.open(io.BytesIO(data))  # parses the header: fails fast on a broken file
    except Exception as err:
        raise DataError(f"{where}: not a readable image ({err})") from None
    return _lazy(data)


def as_feature_image(image: Any) -> Any:
    """What the writer stores: the original bytes when we have them, else the image itself."""
    data = getattr(image, "livr_bytes", None)
    if data is not None:
        return {"bytes": data, "path": None}
    return image


# ---------------------------------------------------------------------------- marks


def mark_style(size: tuple[int, int]) -> tuple[int, int, ImageFont.ImageFont]:
    """(circle radius, line width, label font) scaled to the image so marks stay visible."""
    short = min(size)
    radius = max(5, int(round(0.03 * short)))
    width = max(2, radius // 3)
    font = ImageFont.load_default(size=max(11, int(round(1.8 * radius))))
    return radius, width, font


def _label(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, color, font, size
) -> None:
    """Text with a white outline, nudged inside the image."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=2)
    x = min(max(xy[0], 0), size[0] - (right - left)) - left
    y = min(max(xy[1], 0), size[1] - (bottom - top)) - top
    draw.text((x, y), text, fill=color, font=font, stroke_width=2, stroke_fill=WHITE)


def draw_points(
    image: Image.Image, points: Sequence[tuple[float, float]], labels: Sequence[str], color=RED
) -> Image.Image:
    """A copy of `image` with a circle at each point and its label to the right of the circle."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    radius, width, font = mark_style(out.size)
    for (x, y), text in zip(points, labels):
        box = (x - radius, y - radius, x + radius, y + radius)
        draw.ellipse(box, outline=WHITE, width=width + 2)
        draw.ellipse(box, outline=color, width=width)
        tw = draw.textbbox((0, 0), text, font=font, stroke_width=2)[2]
        lx = x + radius + 2 if x + radius + 2 + tw <= out.size[0] else x - radius - 2 - tw
        _label(draw, (lx, y - radius), text, color, font, out.size)
    return out


def draw_boxes(
    image: Image.Image,
    boxes: Sequence[tuple[float, float, float, float]],
    labels: Sequence[str],
    colors: Sequence[tuple[int, int, int]] = (RED, BLUE),
) -> Image.Image:
    """A copy of `image` with each (x0, y0, x1, y1) box outlined and its label in a filled tag."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    _, width, font = mark_style(out.size)
    for (x0, y0, x1, y1), text, color in zip(boxes, labels, colors):
        draw.rectangle((x0, y0, x1, y1), outline=color, width=width)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left + 6, bottom - top + 6
        tx = min(max(x0, 0), out.size[0] - tw)
        ty = y0 - th if y0 - th >= 0 else min(y0 + width, out.size[1] - th)
        draw.rectangle((tx, ty, tx + tw, ty + th), fill=color)
        draw.text((tx + 3 - left, ty + 3 - top), text, fill=WHITE, font=font)
    return out


# ---------------------------------------------------------------------------- geometry


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two (x0, y0, x1, y1) boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def far_points(
    rng: np.random.Generator,
    size: tuple[int, int],
    avoid: Sequence[tuple[float, float]],
    n: int,
    min_dist: float,
    margin: float,
    tries: int = 500,
) -> list[tuple[float, float]] | None:
    """`n` random points inside `size` less `margin`, >= min_dist from `avoid` and each other."""
    chosen: list[tuple[float, float]] = []
    w, h = size
    for _ in range(tries):
        p = (float(rng.uniform(margin, w - margin)), float(rng.uniform(margin, h - margin)))
        if all(np.hypot(p[0] - q[0], p[1] - q[1]) >= min_dist for q in [*avoid, *chosen]):
            chosen.append(p)
            if len(chosen) == n:
                return chosen
    return None


def separated_subset(
    points: np.ndarray, true_pos: int, min_dist: float, rng: np.random.Generator, n: int = 3
) -> list[int] | None:
    """`n` indices of other points, each >= min_dist from points[true_pos] and from each other."""
    chosen = [true_pos]
    for o in rng.permutation(len(points)):
        o = int(o)
        if o != true_pos and all(np.hypot(*(points[o] - points[c])) >= min_dist for c in chosen):
            chosen.append(o)
            if len(chosen) == n + 1:
                return chosen[1:]
    return None


# ---------------------------------------------------------------------------- records


def record_id(task: str, split: str, index: int) -> str:
    return f"{task}-{split}-{index:06d}"


def mcq_record(
    task: str,
    split: str,
    index: int,
    images: list,
    answer_index: int,
    source: str,
    metadata: dict,
    **prompt_fields: str,
) -> dict:
    """A multiple-choice record with the task's BLINK-style prompt and letter answer."""
    question, choices, prompt = build_prompt(task, **prompt_fields)
    return make_record(
        id=record_id(task, split, index),
        task=task,
        images=images,
        question=question,
        choices=choices,
        answer=choice_letter(answer_index),
        prompt=prompt,
        source=source,
        metadata=metadata,
    )


def letters(n: int) -> list[str]:
    return [choice_letter(i) for i in range(n)]


def place_answer(
    true_item: Any, distractors: Iterable[Any], rng: np.random.Generator
) -> tuple[list, int]:
    """Put the true item at a random position among the distractors; return (items, its index)."""
    items = list(distractors)
    pos = int(rng.integers(0, len(items) + 1))
    items.insert(pos, true_item)
    return items, pos
