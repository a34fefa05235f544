"""Latent placement (before/after the prompt), shared/unshared, and bad latent settings."""

import pytest
import torch

from livr import load_backbone
from livr.errors import ConfigError
from livr.models.latents import LatentSpec
from livr.models.segments import Segment

from tests.conftest import NATIVE_FAMILIES


def segments_of(lm, record, policy="standard"):
    batch = lm.collator(policy)([record])
    return batch["input_ids"][0], batch["segment_ids"][0]


def runs(segment_ids):
    """Collapse consecutive equal segments: [T T I I P] -> [T, I, P]."""
    keep = torch.ones_like(segment_ids, dtype=torch.bool)
    keep[1:] = segment_ids[1:] != segment_ids[:-1]
    return [Segment(int(s)).name for s in segment_ids[keep]]


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_after_prompt_inside_user_turn(family, letter_records):
    lm = load_backbone(f"tiny:{family}", num_latents=3)
    ids, seg = segments_of(lm, letter_records[0])
    order = runs(seg)
    assert order[-5:] == ["PROMPT", "LATENT", "TEMPLATE", "ANSWER", "TEMPLATE"] or order[-4:] == ["PROMPT", "LATENT", "TEMPLATE", "ANSWER"]
    latent = ids[seg == Segment.LATENT].tolist()
    assert latent == lm.latent_ids and len(set(latent)) == 3
    # template tokens separate the latents from the answer: the answer's predictor is not a latent
    first_answer = int((seg == Segment.ANSWER).nonzero()[0])
    assert seg[first_answer - 1] == Segment.TEMPLATE
    between = lm.tokenizer.decode(ids[int((seg == Segment.LATENT).nonzero()[-1]) + 1 : first_answer])
    assert "<|im_end|>" in between and "assistant" in between


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_before_prompt_after_images(family, letter_records):
    lm = load_backbone(f"tiny:{family}", num_latents=3, latent_position="before")
    _, seg = segments_of(lm, letter_records[0])
    order = runs(seg)
    assert order.index("LATENT") > order.index("IMAGE")  # latents can still see the image
    assert order.index("LATENT") < order.index("PROMPT")


def test_shared_latents_repeat_one_token(letter_records):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=5, shared_latents=True)
    ids, seg = segments_of(lm, letter_records[0])
    latent = ids[seg == Segment.LATENT].tolist()
    assert len(latent) == 5 and len(set(latent)) == 1 and lm.latent_ids == latent[:1]
    assert lm.tokenizer.convert_ids_to_tokens(latent[0]) == "<|latent|>"


def test_unshared_names():
    assert LatentSpec(3).sequence() == ["<|latent_0|>", "<|latent_1|>", "<|latent_2|>"]
    assert LatentSpec(0).sequence() == [] and not LatentSpec(0).enabled


def test_k_zero_adds_nothing(letter_records):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=0)
    _, seg = segments_of(lm, letter_records[0])
    assert not (seg == Segment.LATENT).any() and lm.latent_ids == []


@pytest.mark.parametrize("kwargs,match", [
    ({"num_latents": -1}, "num_latents must be an integer >= 0"),
    ({"latent_position": "middle"}, "latent_position must be one of"),
])
def test_bad_latent_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load_backbone("tiny:qwen2_5_vl", **kwargs)


def test_latent_rows_are_initialised_not_leftovers():
    from livr.models.backbones import get_adapter
    from livr.models.latents import initialise_latent_rows

    def build(seed):
        model, _ = get_adapter("qwen2_5_vl").build_tiny(seed=0)
        emb = model.get_input_embeddings().weight
        with torch.no_grad():
            emb[-3:] = 123.0  # leftovers, as in the padded tables of real checkpoints
        info = initialise_latent_rows(model, [emb.shape[0] - 3, emb.shape[0] - 2, emb.shape[0] - 1], seed)
        return emb.detach().clone(), info

    a, info = build(seed=7)
    b, _ = build(seed=7)
    c, _ = build(seed=8)
    assert info["latent_init_seed"] == 7
    assert torch.equal(a, b) and not torch.equal(a[-3:], c[-3:]) and torch.equal(a[:-3], c[:-3])
    assert (a[-3:] - 123.0).abs().min() > 1  # leftovers overwritten
    assert 0.3 < a[-3:].std() / a[:-3].std() < 3  # on the scale of the existing rows
