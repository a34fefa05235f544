"""Attention read-outs against an independent computation with `output_attentions=True`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livr import load_backbone
from livr.evaluation.attention import answer_latent_attention, latent_image_attention
from livr.evaluation.generate import encode_prompts, prompt_collator
from livr.models.masks import query_roles
from livr.models.segments import Segment
from tests.conftest import NATIVE_FAMILIES, random_image


def _records():
    rng = np.random.default_rng(5)
    return [{"id": "a", "task": "localization", "images": [random_image(rng, 64, 80)],
             "prompt": "Which box? (A) left (B) right", "answer": "B"},
            {"id": "b", "task": "counting", "images": [random_image(rng, 60, 60), random_image(rng, 56, 84)],
             "prompt": "How many?", "answer": "7"}]


@pytest.fixture(scope="module", params=NATIVE_FAMILIES)
def lm(request):
    return load_backbone(f"tiny:{request.param}", num_latents=4, seed=2, trainable=False,
                         attn_implementation="eager")


@torch.no_grad()
def _reference(lm, batch):
    """All layers' attention weights (B, H, L, L) from transformers' own output_attentions."""
    out = lm.base_model(**lm.model_inputs(batch, "standard"), output_attentions=True)
    return [a.float() for a in out.attentions]


def test_answer_to_latent_attention_matches_output_attentions(lm):
    records = _records()
    got = answer_latent_attention(lm, records, batch_size=2)
    again = answer_latent_attention(lm, records, batch_size=1)
    assert got["answer_to_latent"] == pytest.approx(again["answer_to_latent"], rel=1e-5)

    expected_latent, expected_image = [], []
    for record in records:
        batch = lm.collator("standard")([record])
        seg = batch["segment_ids"][0]
        rows = query_roles(batch["segment_ids"])[0] == Segment.ANSWER
        per_layer_latent, per_layer_image = [], []
        for weights in _reference(lm, batch):
            w = weights[0].mean(0)[rows]  # (answer rows, keys)
            per_layer_latent.append(w[:, seg == Segment.LATENT].sum(-1).mean())
            per_layer_image.append(w[:, seg == Segment.IMAGE].sum(-1).mean())
        expected_latent.append(torch.stack(per_layer_latent).mean())
        expected_image.append(torch.stack(per_layer_image).mean())
    assert got["answer_to_latent"] == pytest.approx(float(torch.stack(expected_latent).mean()), rel=1e-4)
    assert got["answer_to_image"] == pytest.approx(float(torch.stack(expected_image).mean()), rel=1e-4)
    assert got["per_task"]["counting"]["answer_to_latent"] == pytest.approx(float(expected_latent[1]), rel=1e-4)


def test_no_latents_gives_none(lm):
    from livr.evaluation.probes import without_latents

    got = answer_latent_attention(without_latents(lm), _records())
    assert got["answer_to_latent"] is None and 0 < got["answer_to_image"] < 1


def test_latent_to_image_maps_match_output_attentions(lm):
    examples = encode_prompts(lm, _records())
    maps = latent_image_attention(lm, examples, batch_size=2)
    for example, got in zip(examples, maps):
        batch = prompt_collator(lm).pad([example])
        seg = batch["segment_ids"][0]
        layers = _reference(lm, batch)
        expected = torch.stack([w[0].mean(0)[seg == Segment.LATENT][:, seg == Segment.IMAGE].mean(0)
                                for w in layers]).mean(0)
        assert got.shape == (int((seg == Segment.IMAGE).sum()),)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-7)


def test_attention_kernel_is_restored():
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=2, trainable=False)  # sdpa under livr_masked
    before = lm.base_model.config.get_text_config()._attn_implementation
    answer_latent_attention(lm, _records()[:1])
    assert lm.base_model.config.get_text_config()._attn_implementation == before == "livr_masked"
