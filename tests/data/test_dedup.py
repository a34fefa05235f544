"""Near-duplicate removal (livr.data.dedup): injected degraded copies of test images are found,
nothing else is removed, and an independent all-pairs check finds nothing left afterwards."""

from __future__ import annotations

import io

import datasets
import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from livr.data.dedup import (
    DescriptorEmbedder,
    Thresholds,
    dedup_splits,
    find_near_duplicates,
    prepare_images,
)
from livr.data.loading import load_data
from livr.data.photos import PHOTO_SPLITS, load_photo, random_crop
from livr.data.schema import make_record
from livr.data.writer import to_dataset, write_dataset

# A few photos per split: loading all is slow, and these need no scikit-learn import.
PHOTOS = {
    "train": ("astronaut", "immunohistochemistry"),
    "validation": ("chelsea",),
    "test": ("coffee", "rocket"),
}


def photo_crop(split: str, rng: np.random.Generator) -> Image.Image:
    assert all(PHOTO_SPLITS[name] == split for name in PHOTOS[split])
    names = PHOTOS[split]
    photo = load_photo(names[int(rng.integers(len(names)))])
    h, w = int(rng.integers(150, 260)), int(rng.integers(150, 260))
    return Image.fromarray(random_crop(photo, min(h, photo.shape[0]), min(w, photo.shape[1]), rng))


def drawing(rng: np.random.Generator) -> Image.Image:
    """Coloured shapes on a plain background: the kind of image the generators draw."""
    image = Image.new("RGB", (200, 200), tuple(int(c) for c in rng.integers(150, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 8))):
        x, y = (int(v) for v in rng.integers(0, 150, 2))
        s = int(rng.integers(25, 60))
        fill = tuple(int(c) for c in rng.integers(0, 200, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x, y, x + s, y + s], fill=fill)
    return image


def degrade(image: Image.Image, kind: str) -> Image.Image:
    w, h = image.size
    if kind == "jpeg":
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=45)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if kind == "blur":
        return image.filter(ImageFilter.GaussianBlur(1.2))
    if kind == "crop":  # 2.5% off the top-left, then resized to 90%
        box = (int(0.025 * w), int(0.025 * h), w, h)
        return image.crop(box).resize((int(0.9 * w), int(0.9 * h)))
    if kind == "bright":
        return ImageEnhance.Brightness(image).enhance(1.15)
    raise ValueError(kind)


def _record(rid: str, images: list[Image.Image]) -> dict:
    return make_record(
        id=rid,
        task="jigsaw",
        images=images,
        question="q",
        choices=["a", "b"],
        answer="A",
        prompt="q",
        source="synthetic:test",
    )


@pytest.fixture(scope="module")
def leaky_folder(tmp_path_factory):
    """Train/validation with degraded copies of some test images; returns (path, injected)."""
    rng = np.random.default_rng(7)
    test_images = [photo_crop("test", rng) for _ in range(6)] + [drawing(rng) for _ in range(6)]
    test = [_record(f"test-{i:02d}", [test_images[i]]) for i in range(12)]
    train = [_record(f"train-{i:02d}", [photo_crop("train", rng), drawing(rng)]) for i in range(14)]
    val = [_record(f"val-{i:02d}", [photo_crop("validation", rng), drawing(rng)]) for i in range(4)]
    # (record list, example, image slot, test image, degradation); photos and drawings both.
    injections = [
        (train, 1, 0, 0, "jpeg"),
        (train, 4, 1, 7, "blur"),
        (train, 6, 0, 2, "crop"),
        (train, 9, 1, 9, "bright"),
        (train, 11, 0, 10, "crop"),
        (val, 2, 1, 4, "bright"),
        (val, 3, 0, 6, "jpeg"),
    ]
    injected = {}
    for records, i, slot, t, kind in injections:
        records[i]["images"][slot] = degrade(test_images[t], kind)
        injected[records[i]["id"]] = f"test-{t:02d}"
    path = tmp_path_factory.mktemp("dedup") / "data"
    write_dataset({"train": train, "validation": val, "test": test}, path)
    return path, injected


def brute_force_pairs(dd, splits, test_split="test"):
    """Independent check: every (train image, test image) pair, pHash and SSIM, no prefilter."""
    t = Thresholds()

    def feats(image):
        grey = (
            np.asarray(image.convert("L").resize((t.size, t.size), Image.BILINEAR), np.float32)
            / 255
        )
        grey = (grey - grey.mean()) / max(float(grey.std()), 0.02) * 0.15 + 0.5
        return imagehash.phash(image), grey, gaussian_filter(grey, t.blur_sigma)

    tests = [(row["id"], feats(im)) for row in dd[test_split] for im in row["images"]]
    found = set()
    for split in splits:
        for row in dd[split]:
            for im in row["images"]:
                h, g, b = feats(im)
                for tid, (th, tg, tb) in tests:
                    if h - th > t.phash_max:
                        continue
                    s = structural_similarity(g, tg, data_range=1.0)
                    sb = structural_similarity(b, tb, data_range=1.0)
                    if s >= t.ssim_min or sb >= t.ssim_blur_min:
                        found.add((row["id"], tid))
    return found


def test_dedup_removes_exactly_the_injected_examples(leaky_folder):
    path, injected = leaky_folder
    dd = load_data(path)
    cleaned, report = dedup_splits(dd, dd["test"], ["train", "validation"])
    removed = {r["id"]: r for r in report["removed"]}
    assert set(removed) == set(injected)
    for rid, rec in removed.items():
        assert {m["test_id"] for m in rec["matches"]} == {injected[rid]}
        assert all(m["phash_distance"] <= 12 for m in rec["matches"])
    assert report["splits"]["train"] == {"before": 14, "removed": 5, "after": 9}
    assert report["splits"]["validation"] == {"before": 4, "removed": 2, "after": 2}
    kept = set(cleaned["train"]["id"]) | set(cleaned["validation"]["id"])
    assert kept == (set(dd["train"]["id"]) | set(dd["validation"]["id"])) - set(injected)
    assert list(cleaned["test"]["id"]) == list(dd["test"]["id"])

    # The independent all-pairs check sees every injected pair before, and none after.
    before = brute_force_pairs(dd, ["train", "validation"])
    assert before == set(injected.items())
    assert brute_force_pairs(cleaned, ["train", "validation"]) == set()


def test_prefilter_keeps_all_true_pairs(leaky_folder):
    """top_k=1 (only the single nearest test image) already finds every injected pair."""
    path, injected = leaky_folder
    dd = load_data(path)
    train_images = [im for row in dd["train"] for im in row["images"]]
    test_images = [row["images"][0] for row in dd["test"]]
    exhaustive = find_near_duplicates(train_images, test_images, thresholds=Thresholds(top_k=0))
    nearest = find_near_duplicates(train_images, test_images, thresholds=Thresholds(top_k=1))
    assert [(m.a, m.b) for m in nearest] == [(m.a, m.b) for m in exhaustive]
    assert len(exhaustive) == 5


def test_pair_aware_rule_needs_every_image_to_match():
    rng = np.random.default_rng(3)
    a, b = drawing(rng), drawing(rng)
    test = [_record("t0", [a, b])]
    train = [
        _record("both", [degrade(b, "jpeg"), degrade(a, "blur")]),  # swapped order still counts
        _record("one", [degrade(a, "jpeg"), drawing(rng)]),
    ]

    dd = datasets.DatasetDict(
        {"train": to_dataset(train, "train"), "test": to_dataset(test, "test")}
    )
    _, any_report = dedup_splits(dd, dd["test"], ["train"], require="any")
    _, all_report = dedup_splits(dd, dd["test"], ["train"], require="all")
    assert [r["id"] for r in any_report["removed"]] == ["both", "one"]
    assert [r["id"] for r in all_report["removed"]] == ["both"]


def test_descriptor_is_normalised_and_brightness_tolerant():
    rng = np.random.default_rng(5)
    images = [photo_crop("train", rng) for _ in range(3)]
    emb = DescriptorEmbedder().embed(images + [degrade(images[0], "bright")])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sims = emb[3] @ emb[:3].T
    assert sims.argmax() == 0 and sims[0] > 0.9


def test_prepared_images_can_be_reused():
    rng = np.random.default_rng(11)
    test = [drawing(rng) for _ in range(4)]
    prepared = prepare_images(test)
    queries = [degrade(test[2], "jpeg"), drawing(rng)]
    matches = find_near_duplicates(queries, prepared)
    assert [(m.a, m.b) for m in matches] == [(0, 2)]


def test_clip_embedder_from_a_local_checkpoint(tmp_path):
    """The CLIP path runs on a tiny random checkpoint (real weights are not available offline)."""
    from transformers import CLIPConfig, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from livr.data.dedup import make_embedder
    from livr.errors import ConfigError

    small = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    config = CLIPConfig(
        text_config={
            **small,
            "vocab_size": 64,
            "max_position_embeddings": 8,
            "bos_token_id": 0,
            "eos_token_id": 1,
        },
        vision_config={**small, "image_size": 32, "patch_size": 16},
        projection_dim=8,
    )
    CLIPModel(config).save_pretrained(tmp_path / "clip")
    CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(tmp_path / "clip")
    embedder = make_embedder(str(tmp_path / "clip"))
    rng = np.random.default_rng(2)
    test = [drawing(rng) for _ in range(3)]
    emb = embedder.embed(test)
    assert emb.shape == (3, 8) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # Random weights rank nothing meaningfully, so compare all pairs: pHash + SSIM still decide.
    matches = find_near_duplicates(
        [degrade(test[1], "blur")], test, embedder=embedder, thresholds=Thresholds(top_k=0)
    )
    assert [(m.a, m.b) for m in matches] == [(0, 1)]
    with pytest.raises(ConfigError, match="--clip"):
        make_embedder(str(tmp_path / "missing"))


def test_images_are_indexed_the_same_in_small_batches(leaky_folder):
    from livr.data.dedup import index_images

    dd = load_data(leaky_folder[0])
    whole = index_images(dd["train"], DescriptorEmbedder(), Thresholds())
    pieces = index_images(dd["train"], DescriptorEmbedder(), Thresholds(), batch=5)
    assert pieces.ids == whole.ids and pieces.image_index == whole.image_index == [0, 1] * 14
    assert np.array_equal(pieces.prepared.phash, whole.prepared.phash)
    assert np.array_equal(pieces.prepared.grey_blur, whole.prepared.grey_blur)
    assert np.array_equal(pieces.prepared.embedding, whole.prepared.embedding)
