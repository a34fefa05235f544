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


# name -> (package, file inside it): where the libraries keep the photos. Read directly, so the
# libraries themselves are not imported (sklearn.datasets alone took ~0.7 s of each command's
# start-up); tests/data/test_photos.py checks the pixels equal the libraries' own loaders.
PHOTO_FILES: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg"),
    "retina": ("skimage", "data/retina.jpg"),
    "immunohistochemistry": ("skimage", "data/ihc.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}


def photo_file(name: str):
    """The photo's file inside its library's installed package, or None where it is not there
    (found without importing the library)."""
    import importlib.util
    from pathlib import Path

    package, rel = PHOTO_FILES[name]
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / rel
        if path.is_file():
            return path
    return None


def load_photo_from_library(name: str) -> np.ndarray:
    """The photo as its library's own loader returns it (slow to import; the fallback)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name == "grace_hopper":
        import matplotlib.cbook as cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as fh:
            return np.asarray(Image.open(fh).convert("RGB"))
    import skimage.data

    return getattr(skimage.data, name)()


@functools.cache
def load_photo(name: str) -> np.ndarray:
    """An RGB uint8 array (H, W, 3). Read-only: copy before drawing on it."""
    path = photo_file(name)
    if path is None:
        arr = load_photo_from_library(name)
    else:
        from PIL import Image

        with Image.open(path) as image:
            arr = np.asarray(image.convert("RGB") if image.mode not in ("RGB", "RGBA") else image)
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
