"""PNG bytes of the images livr draws: lossless, deterministic, and cheap to make.

PNG encoding was most of the time of `livr data synth` (PIL at zlib level 1: ~8 ms for a
330x360 photo-based image, against ~2 ms to draw it). Here the PNG is assembled directly:

* one filter for every row, "Up" (the byte above subtracted, wrapping), made with one numpy
  subtraction instead of PIL trying all five filters on each row;
* zlib level 1 with the run-length strategy (`Z_RLE`): on the generators' images within
  about -5%..+20% of PIL's level-1 bytes (docs/data.md has the numbers), 2-3x faster;
* both steps release the GIL (numpy on large arrays, zlib always), so several images can be
  encoded at once by threads (`encode_images`), without copying them to other processes.

The bytes depend only on the pixels (no time stamps, no metadata chunks), so the same image
always gives the same bytes, whichever thread encodes it. Modes other than 8-bit L, RGB and
RGBA (palette, 1-bit, 16-bit) go through PIL at zlib level 1, as before.
"""

from __future__ import annotations

import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import numpy as np
from PIL import Image

# PNG colour types of the modes encoded here (PNG spec, IHDR): greyscale, truecolour, + alpha.
_COLOUR_TYPE = {"L": 0, "RGB": 2, "RGBA": 6}
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(image: Image.Image) -> bytes:
    """`image` as PNG bytes (lossless: decoding gives the same pixels and mode)."""
    colour_type = _COLOUR_TYPE.get(image.mode)
    if colour_type is None or image.width == 0 or image.height == 0:
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()
    rows = np.asarray(image).reshape(image.height, -1)  # (H, W * channels) uint8
    filtered = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = _FILTER_UP
    filtered[0, 1:] = rows[0]  # the row above the first one counts as zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8: wraps modulo 256, as PNG wants
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    idat = deflate.compress(filtered) + deflate.flush()
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, colour_type, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def encode_images(images: Iterable[Image.Image], workers: int = 1) -> list[bytes]:
    """PNG bytes of each image, in order; `workers` > 1 encodes that many at once (threads)."""
    images = list(images)
    if workers <= 1 or len(images) < 2:
        return [encode_png(im) for im in images]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="livr-png") as pool:
        return list(pool.map(encode_png, images))
