"""The blockwise `livr_masked` path equals the 4-D additive-mask path, on tiny models of every
native family: logits and every trainable gradient within 1e-5 (float32), right and left padding,
one to four images per record, every non-standard policy; masked generation too. The chunk is
set to 8 rows so that every batch goes through the causal prefix and several masked blocks.
"""

import logging

import numpy as np
import pytest
import torch

from livr import load_backbone
from livr.errors import ConfigError
from livr.evaluation.generate import encode_prompts, masked_greedy, prompt_collator
from livr.models import attention
from livr.models.masks import POLICIES, allowed_matrix

from tests.conftest import NATIVE_FAMILIES, random_image

POLICIES_MASKED = [name for name, p in POLICIES.items() if not p.is_standard]


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(attention, "CHUNK", 8)


@pytest.fixture(scope="module")
def many_images():
    """Records with 1, 4 and 2 images (56 px: 4 image tokens each on Qwen2.5-VL)."""
    rng = np.random.default_rng(5)
    return [
        {"id": "one", "images": [random_image(rng, 56, 56)], "prompt": "How many?", "answer": "3"},
        {"id": "four", "images": [random_image(rng, 56, 56) for _ in range(4)],
         "prompt": "Which of the four images is the odd one out?", "answer": "the third one"},
        {"id": "two", "images": [random_image(rng, 56, 70), random_image(rng, 60, 56)],
         "prompt": "Same colour?", "answer": "no"},
    ]


@pytest.fixture(scope="module", params=NATIVE_FAMILIES)
def lm(request):
    model = load_backbone(f"tiny:{request.param}", num_latents=4, seed=2)
    model.model.eval()  # no LoRA dropout: both paths must see the same network
    assert model.attention == attention.NAME
    return model


def _logits_and_grads(lm, batch, policy, force_4d):
    lm.model.zero_grad(set_to_none=True)
    out = lm(batch, mask_policy=policy, force_4d=force_4d)
    out.loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in lm.model.named_parameters() if p.requires_grad}
    return out.logits.detach(), grads


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("policy", POLICIES_MASKED)
def test_blockwise_equals_4d(lm, many_images, side, policy, small_chunks):
    batch = lm.collator(policy, padding_side=side)(many_images)
    inputs = lm.model_inputs(batch, policy)
    assert "attention_mask" not in inputs and attention.PLAN_KWARG in inputs
    plan = inputs[attention.PLAN_KWARG]
    if side == "right":
        assert plan.prefix() > 0  # the causal kernel takes the rows before the first blocked one
    assert len(plan.blocks(torch.float32, torch.device("cpu"))) > 1
    logits, grads = _logits_and_grads(lm, batch, policy, force_4d=False)
    ref_logits, ref_grads = _logits_and_grads(lm, batch, policy, force_4d=True)
    real = batch["attention_mask"].bool()
    assert (logits[real] - ref_logits[real]).abs().max().item() <= 1e-5
    assert grads.keys() == ref_grads.keys() and len(grads) > 0
    for name in grads:
        assert (grads[name] - ref_grads[name]).abs().max().item() <= 1e-5, name
    assert any(g.abs().max() > 0 for g in grads.values())


def test_masked_generation_equals_4d(lm, many_images, small_chunks):
    examples = encode_prompts(lm, many_images)
    batch = prompt_collator(lm).pad(examples)
    kw = {"max_new_tokens": 5, "eos": -1, "pad_token_id": lm.tokenizer.pad_token_id}
    blockwise = masked_greedy(lm, batch, "bottleneck", **kw)
    lm.attention = "4d"
    try:
        reference = masked_greedy(lm, batch, "bottleneck", **kw)
    finally:
        lm.attention = attention.NAME
    assert blockwise.shape == (3, 5) and torch.equal(blockwise, reference)


@pytest.mark.parametrize("side", ["right", "left"])
def test_plan_blocks_and_prefix_rebuild_the_allowed_matrix(many_images, side):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=4, seed=2, trainable=False)
    segments = lm.collator("bottleneck", padding_side=side)(many_images)["segment_ids"]
    plan = attention.MaskPlan.for_training(segments, "bottleneck", chunk=8)
    length = segments.shape[1]
    rebuilt = torch.zeros(len(segments), length, length, dtype=torch.bool)
    p = plan.prefix()
    rebuilt[:, :p, :p] = torch.tril(torch.ones(p, p, dtype=torch.bool))
    for start, end, mask in plan.blocks(torch.float32, torch.device("cpu")):
        assert mask.shape == (len(segments), 1, end - start, end) and end - start <= 8
        rebuilt[:, start:end, :end] = mask[:, 0] == 0
    assert torch.equal(rebuilt, allowed_matrix(segments, "bottleneck"))


def test_unsupported_kernel_falls_back_to_4d_once(caplog):
    attention._warned.clear()
    with caplog.at_level(logging.WARNING, logger="livr.models.attention"):
        for _ in range(2):
            lm = load_backbone("tiny:qwen2_5_vl", num_latents=2, attn_implementation="eager", trainable=False)
            assert lm.attention == "4d"
    assert sum("4-D additive mask" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(ConfigError, match="livr_masked"):
        load_backbone("tiny:qwen2_5_vl", num_latents=2, attn_implementation="eager", attention="livr_masked")
    with pytest.raises(ConfigError, match="attention must be"):
        load_backbone("tiny:qwen2_5_vl", num_latents=2, attention="flash")
