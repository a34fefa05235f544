"""Real photographs available offline, assigned to splits so that no photo is shared across them.

The photos come from scikit-image, scikit-learn and matplotlib sample data (no network). Every
photo belongs to exactly one split; generators that paste, crop or warp real images draw only
from their split's photos, so no source image crosses splits.
"""

from __future__ import annotations

import functools

import numpy as np

# name -> split. Test and validation get two photos each; train gets the rest.
PHOTO_SPLITS: dict[str, str] = {
    "astronaut": "train",
    "hubble_deep_field": "train",
    "retina": "train",
    "immunohistochemistry": "train",
    "china": "train",
    "grace_hopper": "train",
    "chelsea": "validation",
    "flower": "validation",
    "coffee": "test",
    "rocket": "test",
}


@functools.cache
def load_photo(name: str) -> np.ndarray:
    """An RGB uint8 array (H, W, 3). Read-only: copy before drawing on it."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        arr = load_sample_image(f"{name}.jpg")
    elif name == "grace_hopper":
        import matplotlib.cbook as cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as fh:
            arr = np.asarray(Image.open(fh).convert("RGB"))
    else:
        import skimage.data

        arr = getattr(skimage.data, name)()
    arr = np.ascontiguousarray(arr[..., :3], dtype=np.uint8)
    arr.setflags(write=False)
    return arr


def photos_for_split(split: str) -> list[np.ndarray]:
    names = sorted(n for n, s in PHOTO_SPLITS.items() if s == split)
    if not names:
        raise ValueError(f"no photos for split {split!r}")
    return [load_photo(n) for n in names]


def photo_names_for_split(split: str) -> list[str]:
    return sorted(n for n, s in PHOTO_SPLITS.items() if s == split)


def random_crop(photo: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random (height, width) crop; the photo is resized up first if it is too small."""
    h, w = photo.shape[:2]
    if h < height or w < width:
        from PIL import Image

        scale = max(height / h, width / w)
        photo = np.asarray(
            Image.fromarray(photo).resize((int(np.ceil(w * scale)), int(np.ceil(h * scale))))
        )
        h, w = photo.shape[:2]
    y = int(rng.integers(0, h - height + 1))
    x = int(rng.integers(0, w - width + 1))
    return photo[y : y + height, x : x + width].copy()
