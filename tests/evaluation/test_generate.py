"""Generation under a mask policy: the manual greedy loop equals `generate()` under the standard
policy, and under the bottleneck without latents nothing of the image reaches the answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livr import load_backbone
from livr.evaluation.generate import _answer_row_mask, encode_prompts, generate_answers, masked_greedy, prompt_collator
from livr.evaluation.probes import without_latents
from tests.conftest import NATIVE_FAMILIES, random_image


def _records(seed: int, n: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    prompts = ["Which box is red? (A) left (B) right", "How many dots?", "Is it brighter? (A) yes (B) no (C) same"]
    return [{"id": f"r{i}", "task": "localization",
             "images": [random_image(rng, 56 + 8 * i, 64)] * (1 + i % 2),
             "prompt": prompts[i % len(prompts)], "answer": "A"} for i in range(n)]


def _eos(lm):
    return lm.tokenizer.convert_tokens_to_ids("<|im_end|>")


@pytest.fixture(scope="module", params=NATIVE_FAMILIES)
def lm(request):
    return load_backbone(f"tiny:{request.param}", num_latents=4, seed=3, trainable=False)


def test_masked_loop_equals_generate_under_standard(lm):
    batch = prompt_collator(lm).pad(encode_prompts(lm, _records(0)))
    pad = lm.tokenizer.pad_token_id
    ref = lm.base_model.generate(**lm.model_inputs(batch), max_new_tokens=6, do_sample=False,
                                 pad_token_id=pad, eos_token_id=_eos(lm))
    mine = masked_greedy(lm, batch, "standard", max_new_tokens=6, eos=_eos(lm), pad_token_id=pad)
    assert torch.equal(ref[:, batch["input_ids"].shape[1]:], mine)


def test_bottleneck_without_latents_ignores_the_images(lm):
    """The probe `bottleneck_remove_latents`: every generated token (prefill and decode steps)
    is blind to the image, so other images give exactly the same output."""
    plain = without_latents(lm)
    a, b = _records(0), _records(1)  # same prompts, different images
    for r_a, r_b in zip(a, b):
        assert not np.array_equal(np.asarray(r_a["images"][0]), np.asarray(r_b["images"][0]))
    out_a = generate_answers(plain, encode_prompts(plain, a), max_new_tokens=6, mask_policy="bottleneck")
    out_b = generate_answers(plain, encode_prompts(plain, b), max_new_tokens=6, mask_policy="bottleneck")
    assert out_a == out_b
    # ... while the standard mask (and the bottleneck WITH latents) do see the images
    std_a = _first_logits(plain, a, "standard")
    std_b = _first_logits(plain, b, "standard")
    assert (std_a - std_b).abs().max() > 1e-4
    bn_a, bn_b = _first_logits(lm, a, "bottleneck"), _first_logits(lm, b, "bottleneck")
    assert (bn_a - bn_b).abs().max() > 1e-6
    blind_a, blind_b = _first_logits(plain, a, "bottleneck"), _first_logits(plain, b, "bottleneck")
    assert torch.equal(blind_a, blind_b)


@torch.no_grad()
def _first_logits(lm, records, policy):
    """Logits that choose the first answer token, under `policy` with the answer-row prefill mask."""
    batch = prompt_collator(lm).pad(encode_prompts(lm, records))
    inputs = lm.model_inputs(batch, policy, force_4d=True)
    dtype = lm.base_model.get_input_embeddings().weight.dtype
    inputs["attention_mask"] = _answer_row_mask(batch["segment_ids"], policy, dtype)
    return lm.base_model(**inputs).logits[:, -1]


def test_last_prompt_row_is_blind_under_the_bottleneck(lm):
    """The row that predicts the first answer token takes the answer role: blocked from images."""
    from livr.models.segments import Segment

    batch = prompt_collator(lm).pad(encode_prompts(lm, _records(0)))
    mask = _answer_row_mask(batch["segment_ids"], "bottleneck", torch.float32)
    last_row = mask[:, 0, -1]  # (B, L)
    image = batch["segment_ids"] == Segment.IMAGE
    assert (last_row[image] < 0).all()
    latent = batch["segment_ids"] == Segment.LATENT
    assert (last_row[latent] == 0).all()


def test_bottleneck_generation_does_not_depend_on_batching(lm):
    records = _records(2)
    examples = encode_prompts(lm, records)
    together = generate_answers(lm, examples, batch_size=3, max_new_tokens=5, mask_policy="bottleneck")
    alone = generate_answers(lm, examples, batch_size=1, max_new_tokens=5, mask_policy="bottleneck")
    assert together == alone
