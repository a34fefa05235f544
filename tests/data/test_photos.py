"""livr.data.photos reads the sample photos' files directly: the same pixels as the libraries'
own loaders, without importing them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from livr.data.photos import PHOTO_SPLITS, load_photo, load_photo_from_library, photo_file


@pytest.mark.parametrize("name", sorted(PHOTO_SPLITS))
def test_photo_read_directly_equals_the_library_loader(name):
    assert photo_file(name) is not None, f"{name}: file not found inside its package"
    direct = load_photo(name)
    library = np.ascontiguousarray(np.asarray(load_photo_from_library(name))[..., :3], dtype=np.uint8)
    assert direct.dtype == np.uint8 and direct.shape == library.shape and direct.shape[2] == 3
    assert np.array_equal(direct, library)
    assert not direct.flags.writeable


def test_loading_photos_imports_none_of_their_libraries():
    code = ("import sys; from livr.data.photos import PHOTO_SPLITS, load_photo\n"
            "[load_photo(n) for n in PHOTO_SPLITS]\n"
            "print(sorted(m for m in ('sklearn', 'skimage', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
