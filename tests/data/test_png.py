"""PNG bytes of drawn images (livr.data.png): lossless, deterministic, the same with threads."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from livr.data.png import encode_images, encode_png


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


@pytest.mark.parametrize("mode, channels", [("L", None), ("RGB", 3), ("RGBA", 4)])
@pytest.mark.parametrize("size", [(1, 1), (37, 1), (1, 23), (64, 48)])
def test_round_trip_is_lossless(mode, channels, size):
    rng = np.random.default_rng(size[0] * 100 + size[1])
    shape = (size[1], size[0]) + ((channels,) if channels else ())
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[size[1] // 2 :] = 255 - pixels[size[1] // 2 :]  # large row-to-row jumps: Up wraps
    image = Image.fromarray(pixels, mode)
    back = _decode(encode_png(image))
    assert back.mode == mode and back.size == image.size
    np.testing.assert_array_equal(np.asarray(back), pixels)


def test_other_modes_go_through_pil():
    image = Image.new("P", (20, 10), 3)
    image.putpalette([i % 256 for i in range(768)])
    back = _decode(encode_png(image))
    assert back.mode == "P" and np.asarray(back).tolist() == np.asarray(image).tolist()
    one_bit = Image.fromarray(np.eye(9, dtype=bool))
    assert np.array_equal(np.asarray(_decode(encode_png(one_bit))), np.eye(9, dtype=bool))


def test_same_bytes_whatever_the_number_of_threads():
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (50 + i, 40, 3), dtype=np.uint8)) for i in range(9)]
    one = encode_images(images, workers=1)
    assert encode_images(images, workers=4) == one == encode_images(images, workers=2)
    assert one == [encode_png(im) for im in images]
    assert len(set(one)) == len(images)
