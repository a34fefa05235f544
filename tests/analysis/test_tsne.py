"""t-SNE of final-layer hidden states: labels, stratified subsample, hidden states, picture, CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from livr import load_backbone
from livr.analysis.tsne import (
    LABELS,
    draw_tsne,
    embed,
    hidden_state_points,
    share_out,
    stratified_sample,
    token_labels,
    write_tsne,
)
from livr.cli.main import main
from livr.evaluation.generate import encode_prompts, prompt_collator
from livr.models.segments import Segment
from tests.conftest import random_image


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(0)
    return [
        {"id": "a", "task": "counting", "images": [random_image(rng, 56, 84)], "prompt": "How many?",
         "answer": "2", "choices": []},
        {"id": "b", "task": "jigsaw", "images": [random_image(rng, 56, 56), random_image(rng, 60, 90)],
         "prompt": "Which one? (A) the second image", "answer": "A", "choices": ["the second image"]},
        {"id": "c", "task": "counting", "images": [random_image(rng, 70, 56)], "prompt": "How many dogs are there?",
         "answer": "1", "choices": []},
    ]


@pytest.fixture(scope="module")
def lm():
    return load_backbone("tiny:qwen2_5_vl", num_latents=4, seed=1, trainable=False)


def test_token_labels():
    seg = torch.tensor([Segment.PAD, Segment.TEMPLATE, Segment.IMAGE, Segment.PROMPT, Segment.LATENT,
                        Segment.ANSWER])
    assert token_labels(seg).tolist() == [-1, 2, 1, 2, 0, -1]


def test_share_out_water_fills():
    assert share_out([16, 1000, 5000], 300) == [16, 142, 142]
    assert share_out([16, 1000, 5000], 10000) == [16, 1000, 5000]
    assert share_out([0, 7, 50], 20) == [0, 7, 13]
    assert share_out([5, 5, 5], 10) == [4, 3, 3]
    assert sum(share_out([3, 400, 90], 101)) == 101


def test_stratified_sample_is_deterministic_and_stratified():
    labels = np.array([0] * 10 + [1] * 500 + [2] * 900 + [-1] * 30)
    rng = np.random.default_rng(3)
    labels = labels[rng.permutation(len(labels))]
    first = stratified_sample(labels, 100, seed=7)
    assert np.array_equal(first, stratified_sample(labels, 100, seed=7))
    assert not np.array_equal(first, stratified_sample(labels, 100, seed=8))
    assert np.bincount(labels[first], minlength=3).tolist() == [10, 45, 45]
    assert len(set(first.tolist())) == 100 and (labels[first] >= 0).all()
    everything = stratified_sample(labels, 10_000, seed=0)
    assert len(everything) == (labels >= 0).sum()


def test_hidden_states_are_the_final_normed_layer(lm, records):
    points = hidden_state_points(lm, records, max_points=60, seed=0, batch_size=2)
    examples = encode_prompts(lm, records)
    available = np.concatenate([token_labels(ex.segment_ids) for ex in examples])
    assert points["available"] == {name: int((available == k).sum()) for k, name in enumerate(LABELS)}
    assert points["available"]["latent"] == 4 * len(records)
    counts = np.bincount(points["labels"], minlength=3).tolist()
    assert counts == share_out(list(points["available"].values()), 60)
    assert points["states"].shape == (60, lm.base_model.config.get_text_config().hidden_size)
    # each kept state is hidden_states[-1] of a plain forward pass of that example alone
    model = lm.base_model
    for i in range(len(records)):
        batch = prompt_collator(lm).pad([examples[i]])
        normed = []
        hook = model.model.language_model.norm.register_forward_hook(lambda m, a, o: normed.append(o))
        try:
            with torch.no_grad():
                out = model(**lm.model_inputs(batch, "standard"), output_hidden_states=True)
        finally:
            hook.remove()
        last = out.hidden_states[-1][0]
        assert torch.equal(last, normed[-1][0])  # the last entry is the final norm's output
        mine = points["example"] == i
        expected = last[torch.as_tensor(points["position"][mine])].numpy()
        np.testing.assert_allclose(points["states"][mine], expected, rtol=1e-4, atol=1e-4)
        assert (points["labels"][mine] == token_labels(examples[i].segment_ids)[points["position"][mine]]).all()


@pytest.mark.parametrize("family", ["qwen3_vl", "llava_onevision"])
def test_hidden_states_other_families(family, records):
    other = load_backbone(f"tiny:{family}", num_latents=4, seed=1, trainable=False)
    points = hidden_state_points(other, records, max_points=30, seed=0)
    assert points["states"].shape == (30, other.base_model.config.get_text_config().hidden_size)
    assert np.bincount(points["labels"], minlength=3).tolist() == share_out(list(points["available"].values()), 30)
    assert np.isfinite(points["states"]).all()


def test_embed_is_deterministic_and_png_valid(tmp_path, records):
    rng = np.random.default_rng(0)
    states = np.concatenate([rng.normal(c, 1, (15, 8)) for c in (0, 5, 10)]).astype(np.float32)
    labels = np.repeat([0, 1, 2], 15)
    coords, used = embed(states, seed=3, perplexity=30)
    again, _ = embed(states, seed=3, perplexity=30)
    assert coords.shape == (45, 2) and used == pytest.approx(44 / 3)
    np.testing.assert_array_equal(coords, again)
    points = {"labels": labels, "example": np.repeat([0, 1, 2], 15), "position": np.arange(45),
              "available": {"latent": 15, "image": 15, "text": 15}}
    png, json_path = write_tsne(tmp_path / "t.png", coords, points, records, {"model": "m", "seed": 3,
                                                                             "perplexity_used": used})
    image = Image.open(png)
    image.verify()
    assert image.format == "PNG" and image.width >= 600 and image.height >= 600
    saved = json.loads(json_path.read_text())
    assert saved["tokens_plotted"] == {"latent": 15, "image": 15, "text": 15}
    assert saved["points"]["label"][:2] == ["latent", "latent"] and saved["points"]["id"][15] == "b"
    assert len(saved["points"]["x"]) == 45
    picture_without_latents = Image.open(io.BytesIO(draw_tsne(coords[15:], labels[15:])))
    red = np.asarray(picture_without_latents.convert("RGB")).astype(int)
    assert not ((red[..., 0] > 200) & (red[..., 1] < 80) & (red[..., 2] < 80)).any()


# ----------------------------------------------------------------------------- CLI


def small_data(path: Path) -> str:
    from livr.data.synth import generate_split
    from livr.data.writer import write_dataset

    splits = {}
    for split, n in (("train", 1), ("validation", 1), ("test", 2)):
        rows = generate_split("counting", split, n, 0) + generate_split("localization", split, n, 0)
        for r in rows:
            r["images"] = [im.resize((56, 56)) for im in r["images"]]
            r["prompt"] = "Which?"
        splits[split] = rows
    write_dataset(splits, path)
    return str(path)


def test_viz_tsne_cli(tmp_path, capsys):
    data = small_data(tmp_path / "data")
    out = tmp_path / "plots" / "tsne.png"
    argv = ["viz", "tsne", "tiny:qwen2_5_vl", data, "--out", str(out), "--max-points", "40", "--seed", "1"]
    assert main(argv) == 0
    assert str(out) in capsys.readouterr().out
    Image.open(out).verify()
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["tokens_available"]["latent"] == 0  # a zero-shot model has no latents
    # 4 prompts x 4 image tokens (56x56 on the tiny Qwen) are all kept; text takes the rest
    assert saved["tokens_available"]["image"] == 16
    assert saved["tokens_plotted"] == {"latent": 0, "image": 16, "text": 24}
    assert sorted(set(saved["points"]["task"])) == ["counting", "localization"]
    assert main([*argv, "--tasks", "localization", "--limit", "1", "--out", str(tmp_path / "one.png")]) == 0
    one = json.loads((tmp_path / "one.json").read_text())
    assert set(one["points"]["task"]) == {"localization"} and one["examples"] == 1
    capsys.readouterr()
    assert main(["viz", "tsne", "tiny:qwen2_5_vl", data, "--out", str(tmp_path / "x.jpg")]) == 2
    assert "must be a .png file" in capsys.readouterr().err
    assert main(["viz", "tsne", "tiny:qwen2_5_vl", data, "--split", "dev", "--out", str(tmp_path / "x.png")]) == 2
    assert "no split 'dev'" in capsys.readouterr().err
    assert main(["viz", "tsne", "tiny:qwen2_5_vl", data, "--tasks", "colour", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown task 'colour'" in capsys.readouterr().err
