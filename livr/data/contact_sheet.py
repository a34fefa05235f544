"""A contact sheet: a PNG with one row per example, to look at a data folder by eye.

Each row shows the example's images side by side (scaled to a common height, numbered in the
order the prompt refers to them; a Mirage helper image, if the record has one, last and labelled
"helper"), then its id, task and source, the prompt wrapped to the row
width (long prompts keep their beginning and their end, where the choices are) and the answer.
"""

from __future__ import annotations

import functools
import io
import os
import textwrap
from typing import Any, Iterable

from PIL import Image, ImageDraw, ImageFont

from livr.io import atomic_write_bytes

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (90, 90, 90)
ANSWER = (0, 110, 40)
RULE = (200, 200, 200)


@functools.cache
def _font(size: int, bold: bool = False) -> ImageFont.ImageFont:
    """DejaVu Sans from matplotlib (always installed here); PIL's default font otherwise."""
    try:
        from matplotlib import font_manager

        path = font_manager.findfont(
            font_manager.FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal"),
            fallback_to_default=True,
        )
        return ImageFont.truetype(path, size)
    except Exception:  # matplotlib or the font missing: still produce a (smaller) readable sheet
        return ImageFont.load_default(size)


def _thumbnails(images: list[Image.Image], height: int, width: int, gap: int) -> list[Image.Image]:
    """Scale all images of one example by the same factor, so their relative sizes stay true."""
    images = [im.convert("RGB") for im in images]
    room = width - gap * (len(images) + 1)
    scale = min(height / max(im.height for im in images), room / sum(im.width for im in images))
    return [
        im.resize(
            (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS
        )
        for im in images
    ]


def wrap_prompt(prompt: str, width: int, max_lines: int) -> list[str]:
    """Wrap each paragraph to `width` characters; if too long keep the head and the tail."""
    lines: list[str] = []
    for para in prompt.splitlines() or [""]:
        lines.extend(textwrap.wrap(para, width) or [""])
    if len(lines) <= max_lines:
        return lines
    tail = min(4, max_lines // 2)
    head = max_lines - tail - 1
    return lines[:head] + [f"[... {len(lines) - head - tail} more lines ...]"] + lines[-tail:]


def _panel(example: dict[str, Any], width: int, thumb_height: int, font_size: int) -> Image.Image:
    images = list(example["images"])
    if example.get("helper_image") is not None:
        images.append(example["helper_image"])
    gap = 10
    thumbs = _thumbnails(images, thumb_height, width, gap)
    thumb_height = max(t.height for t in thumbs)
    font, bold, small = _font(font_size), _font(font_size, bold=True), _font(font_size - 2)
    char_w = max(1.0, font.getlength("abcdefghijklmnopqrstuvwxyz") / 26)
    lines = wrap_prompt(example["prompt"], int((width - 2 * gap) / char_w), max_lines=14)
    line_h = int(font_size * 1.35)
    caption_h = int((font_size - 2) * 1.6)
    text_h = line_h * (len(lines) + 2) + gap
    canvas = Image.new("RGB", (width, gap + caption_h + thumb_height + gap + text_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    x = gap
    for k, thumb in enumerate(thumbs):
        label = "helper" if k >= len(example["images"]) else f"image {k + 1}"
        draw.text(
            (x, gap), f"{label} ({images[k].width}x{images[k].height})", fill=MUTED, font=small
        )
        canvas.paste(thumb, (x, gap + caption_h))
        x += thumb.width + gap
    y = gap + caption_h + thumb_height + gap
    header = f"{example['id']}  |  task: {example['task']}  |  source: {example['source']}"
    draw.text((gap, y), header, fill=MUTED, font=small)
    y += line_h
    for line in lines:
        draw.text((gap, y), line, fill=INK, font=font)
        y += line_h
    draw.text((gap, y), f"Answer: {example['answer']}", fill=ANSWER, font=bold)
    return canvas


def render_contact_sheet(
    examples: Iterable[dict[str, Any]],
    width: int = 1400,
    thumb_height: int = 220,
    font_size: int = 16,
) -> Image.Image:
    panels = [_panel(ex, width, thumb_height, font_size) for ex in examples]
    if not panels:
        raise ValueError("no examples to show")
    sheet = Image.new("RGB", (width, sum(p.height for p in panels) + 2 * len(panels)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    y = 0
    for panel in panels:
        sheet.paste(panel, (0, y))
        y += panel.height
        draw.line([(0, y), (width, y)], fill=RULE, width=2)
        y += 2
    return sheet


def write_contact_sheet(
    examples: Iterable[dict[str, Any]], out: str | os.PathLike, **kwargs
) -> Image.Image:
    """Render and write the sheet as PNG (atomically); returns the image."""
    sheet = render_contact_sheet(examples, **kwargs)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    return sheet
