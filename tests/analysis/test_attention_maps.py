"""Latent-to-image attention maps: token-to-grid layout per family, normalisation, pictures, CLI."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from livr import load_backbone
from livr.analysis.attention_maps import (
    attention_grids,
    correct_image,
    draw_attention_figure,
    image_runs,
    image_token_layout,
    joint_normalise,
    joint_range,
    to_grids,
    upsample,
    write_attention_maps,
)
from livr.cli.main import main
from livr.errors import ConfigError
from livr.evaluation.generate import encode_prompts
from livr.models.segments import Segment
from tests.conftest import random_image


@pytest.fixture(scope="module")
def three_images():
    """A jigsaw-like record (three images of different shapes, answer B = the third image) and a
    one-image record (LLaVA tiles a lone image)."""
    rng = np.random.default_rng(0)
    jigsaw = {"id": "jig/0", "task": "jigsaw", "answer": "B", "question": "Which piece fits?",
              "prompt": "Which piece fits? (A) the second image (B) the third image",
              "choices": ["the second image", "the third image"],
              "images": [random_image(rng, 64, 96), random_image(rng, 60, 60), random_image(rng, 90, 64)]}
    counting = {"id": "count-0", "task": "counting", "answer": "3", "question": "How many?",
                "prompt": "How many?", "choices": [], "images": [random_image(rng, 64, 80)]}
    return jigsaw, counting


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(family):
        if family not in cache:
            cache[family] = load_backbone(f"tiny:{family}", num_latents=4, seed=1, trainable=False)
        return cache[family]
    return get


def image_token_count(example) -> int:
    return int((example.segment_ids == Segment.IMAGE).sum())


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("repeats", [1, 2])
def test_qwen_grids_follow_image_grid_thw(family, repeats, models, three_images):
    lm = models(family)
    example = encode_prompts(lm, [three_images[0]], image_repeats=repeats)[0]
    layout = image_token_layout(lm, example, repeats)
    thw = example.vision["image_grid_thw"].tolist()
    assert len(layout) == 3 and len(thw) == 3 * repeats
    for image, (t, h, w) in zip(layout, thw):
        assert (image.height, image.width) == (h // 2, w // 2) and t == 1
        assert len(image.offsets) == repeats
    assert sum(g.size for g in layout) * repeats == image_token_count(example)
    # row-major: value k of an image's run lands at (k // width, k % width); copies are added
    values = torch.arange(image_token_count(example), dtype=torch.float32)
    grids = to_grids(values, layout)
    for image, grid in zip(layout, grids):
        expected = sum(torch.arange(o, o + image.size, dtype=torch.float32) for o in image.offsets)
        assert grid.shape == (image.height, image.width)
        np.testing.assert_allclose(grid, expected.reshape(image.height, image.width).numpy())
    assert grids[1][0, 0] == sum(o for o in layout[1].offsets)  # image 2 starts after image 1


def test_llava_uses_the_square_base_grid(models, three_images):
    lm = models("llava_onevision")
    side = lm.base_model.config.vision_config.image_size // lm.base_model.config.vision_config.patch_size
    multi, single = encode_prompts(lm, list(three_images))
    layout = image_token_layout(lm, multi)
    runs = image_runs(multi.segment_ids)
    assert [length for _, length in runs] == [side * side + 1] * 3  # base grid + one newline feature
    assert [(g.height, g.width) for g in layout] == [(side, side)] * 3
    # a lone image is tiled: its run is longer, only the first side*side tokens (the base) are used
    (lone,) = image_token_layout(lm, single)
    (run,) = image_runs(single.segment_ids)
    assert run[1] > side * side + 1
    values = torch.arange(run[1], dtype=torch.float32)
    (grid,) = to_grids(values, [lone])
    np.testing.assert_allclose(grid.ravel(), np.arange(side * side))


def test_layout_mismatch_is_an_error(models, three_images):
    lm = models("qwen2_5_vl")
    example = encode_prompts(lm, [three_images[0]])[0]
    wrong = copy.deepcopy(example)
    wrong.vision["image_grid_thw"][0, 1] += 2  # the processor "says" more rows than were encoded
    with pytest.raises(ConfigError, match="image run 1 has .* tokens, expected"):
        image_token_layout(lm, wrong)
    split = copy.deepcopy(example)
    first = int((split.segment_ids == Segment.IMAGE).nonzero()[1])
    split.segment_ids[first] = Segment.TEMPLATE  # one image's tokens no longer contiguous
    with pytest.raises(ConfigError, match="4 runs of image tokens for 3 images"):
        image_token_layout(lm, split)
    with pytest.raises(ConfigError, match="cannot be 2 copies"):
        image_token_layout(lm, example, image_repeats=2)
    llava = models("llava_onevision")
    short = copy.deepcopy(encode_prompts(llava, [three_images[0]])[0])
    last = int((short.segment_ids == Segment.IMAGE).nonzero()[-1])
    short.segment_ids[last - 5 : last + 1] = Segment.TEMPLATE  # the last run is cut below its base grid
    with pytest.raises(ConfigError, match="image run 3 has 11 tokens"):
        image_token_layout(llava, short)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "llava_onevision"])
@pytest.mark.parametrize("repeats", [1, 2])
def test_attention_grids_of_a_latent_model(family, repeats, models, three_images):
    lm = models(family)
    grids = attention_grids(lm, list(three_images), image_repeats=repeats, batch_size=2)
    layouts = [image_token_layout(lm, ex, repeats)
               for ex in encode_prompts(lm, list(three_images), image_repeats=repeats)]
    assert [[g.shape for g in gs] for gs in grids] == [[(l.height, l.width) for l in ls] for ls in layouts]
    for gs in grids:
        total = sum(float(g.sum()) for g in gs)
        assert all((g >= 0).all() for g in gs) and 0 < total < 1  # a share of the latents' attention
    no_latents = load_backbone("tiny:qwen2_5_vl", num_latents=0, trainable=False)
    with pytest.raises(ConfigError, match="needs a model with latent tokens"):
        attention_grids(no_latents, [three_images[1]])


# ----------------------------------------------------------------------------- normalisation, drawing


def test_joint_normalisation_keeps_images_comparable():
    weak = np.array([[0.1, 0.2], [0.3, 0.2]])
    strong = 10 * weak
    a, b = joint_normalise([weak, strong])
    assert joint_range([weak, strong]) == pytest.approx((0.1, 3.0))
    assert b.max() == pytest.approx(1.0) and a.min() == pytest.approx(0.0)
    assert a.max() < 0.1  # per-image normalisation would have stretched it to 1
    np.testing.assert_allclose(b, (strong - 0.1) / 2.9)
    assert all((g == 0).all() for g in joint_normalise([np.ones((2, 2)), np.ones((1, 3))]))
    up = upsample(strong, 20, 30)
    assert up.shape == (20, 30) and strong.min() - 1e-6 <= up.min() and up.max() <= strong.max() + 1e-6


def test_check_mark_image():
    base = {"images": [None] * 3, "choices": ["the second image", "the third image"]}
    assert correct_image({**base, "task": "jigsaw", "answer": "B"}) == 2
    assert correct_image({**base, "task": "art_style", "answer": "A"}) == 1
    assert correct_image({**base, "task": "visual_similarity", "answer": "A",
                          "choices": ["the third image", "the second image"]}) == 2  # named ordinal wins
    assert correct_image({**base, "task": "localization", "answer": "A"}) is None
    assert correct_image({**base, "task": "jigsaw", "answer": "C"}) is None  # no fourth image


def green_x(png: bytes) -> float:
    """Mean column of the bright green check-mark frame."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    green = (pixels[..., 1] > 180) & (pixels[..., 0] < 90) & (pixels[..., 2] < 90)
    assert green.sum() > 100
    return float(np.nonzero(green)[1].mean())


def test_figure_is_a_png_with_the_check_mark_on_the_answer(three_images):
    record = three_images[0]
    grids = [np.random.default_rng(i).random((3, 4)) for i in range(3)]
    png = draw_attention_figure(record, grids)
    image = Image.open(io.BytesIO(png))
    image.verify()
    assert image.format == "PNG" and 900 <= image.width <= 1200 and 600 <= image.height <= 1600
    as_a = draw_attention_figure({**record, "answer": "A"}, grids)
    assert green_x(as_a) < image.width * 0.6 < green_x(png)  # frame on image 2, then on image 3
    raw = Image.open(io.BytesIO(draw_attention_figure({**record, "task": "art_style"}, grids)))
    assert raw.height > image.height + 200  # a third row of raw token grids
    with pytest.raises(ConfigError, match="3 images but 2 attention grids"):
        draw_attention_figure(record, grids[:2])


def test_write_attention_maps(tmp_path, three_images):
    records = list(three_images)
    grids = [[np.full((2, 3), float(i + j)) + np.eye(2, 3) for j in range(len(r["images"]))]
             for i, r in enumerate(records)]
    paths = write_attention_maps(tmp_path / "att", records, grids, {"model": "m", "data": "d", "split": "test"})
    assert (tmp_path / "att" / "jigsaw" / "jig_0.png").is_file()  # the id's "/" cannot make a folder
    assert (tmp_path / "att" / "counting" / "count-0.png").is_file()
    saved = json.loads(paths["json"].read_text())
    assert [e["id"] for e in saved["examples"]] == ["count-0", "jig/0"]
    jig = saved["examples"][1]
    assert jig["correct_image"] == 2 and len(jig["images"]) == 3
    np.testing.assert_allclose(jig["images"][2]["grid"], grids[0][2])
    assert "jigsaw/jig_0.png" in paths["index"].read_text()
    assert not list((tmp_path / "att").rglob(".*tmp*"))


# ----------------------------------------------------------------------------- CLI


def small_data(path: Path, task: str) -> str:
    from livr.data.synth import generate_split
    from livr.data.writer import write_dataset

    def shrink(records):
        for r in records:
            r["images"] = [im.resize((56, 56)) for im in r["images"]]
            r["prompt"] = "Which?" + "".join(f" ({'ABCD'[i]}) {c}" for i, c in enumerate(r["choices"]))
        return records

    write_dataset({s: shrink(generate_split(task, s, n, 0)) for s, n in
                   (("train", 4), ("validation", 2), ("test", 2))}, path)
    return str(path)


@pytest.fixture(scope="module")
def livr_run(tmp_path_factory):
    """A finished (tiny, 1 + 1 epoch) LIVR run on jigsaw and its data folder."""
    root = tmp_path_factory.mktemp("viz")
    data = small_data(root / "data", "jigsaw")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny step is much faster on one thread of this shared machine
    try:
        rc = main(["train", "--model", "tiny:qwen2_5_vl", "--method", "livr", "--data", data,
                   "--out", str(root / "run"), "--num_latents", "4", "--stage1_epochs", "1",
                   "--stage2_epochs", "1", "--per_device_train_batch_size", "4", "--max_new_tokens", "2",
                   "--warmup_ratio", "0", "--disable_tqdm", "--report_to", "none"])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    return root / "run", data


def test_viz_attention_cli(livr_run, tmp_path, capsys):
    run, data = livr_run
    out = tmp_path / "maps"
    assert main(["viz", "attention", str(run), data, "--out", str(out), "--limit", "2"]) == 0
    assert str(out) in capsys.readouterr().out
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert pngs == ["jigsaw/jigsaw-test-000000.png", "jigsaw/jigsaw-test-000001.png"]
    saved = json.loads((out / "attention.json").read_text())
    assert saved["num_latents"] == 4 and saved["method"] == "livr" and len(saved["examples"]) == 2
    assert all(len(e["images"]) == 3 and e["correct_image"] in (1, 2) for e in saved["examples"])
    Image.open(out / pngs[0]).verify()


def test_viz_attention_cli_errors(livr_run, tmp_path, capsys):
    _, data = livr_run
    out = tmp_path / "maps"
    assert main(["viz", "attention", "tiny:qwen2_5_vl", data, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "has no latent tokens" in err and len(err.strip().splitlines()) == 1
    assert main(["viz", "attention", "tiny:qwen2_5_vl", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["viz", "attention", "tiny:qwen2_5_vl", data, "--tasks", "counting", "--out", str(out)]) == 2
    assert "no records of task(s) counting" in capsys.readouterr().err
    assert not out.exists()


def test_viz_attention_killed_then_rerun_gives_the_same_files(livr_run, tmp_path):
    """SIGKILL with the first picture published and the second complete under its temporary name:
    every file under a final name is complete; the same command again writes the files of an
    uninterrupted run and removes the temporary."""
    from livr.locks import is_lock_file
    from tests.faults import run_killed, tree_digest

    run, data = livr_run
    assert main(["viz", "attention", str(run), data, "--limit", "2", "--out", str(tmp_path / "ref")]) == 0
    expected = tree_digest(tmp_path / "ref")
    out = tmp_path / "maps"
    argv = ["viz", "attention", str(run), data, "--limit", "2", "--out", str(out)]
    run_killed(argv, tmp_path / "child", stall="livr.io:os.replace", call=2, match=".png.tmp-",
               preload=("torch", "transformers"))
    done = tree_digest(out)
    [tmp] = [name for name in done if Path(name).name.startswith(".")]
    assert Path(tmp).name.startswith(".jigsaw-test-000001.png.tmp-")
    assert {n: d for n, d in done.items() if n != tmp} == {"jigsaw/jigsaw-test-000000.png":
                                                           expected["jigsaw/jigsaw-test-000000.png"]}
    assert main(argv) == 0
    assert tree_digest(out) == expected
    assert sorted(p.name for p in tmp_path.iterdir() if not is_lock_file(p.name)) == ["child", "maps", "ref"]
