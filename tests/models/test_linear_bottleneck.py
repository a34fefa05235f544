"""The bottleneck in Qwen3.5's linear-attention layers (livr.models.linear_attention), on tiny
Qwen3.5 dense and MoE models of the real classes.

The leak first: a 4-D mask alone (what works for Qwen2.5-VL and Qwen3-VL) leaves the image
readable by the answer through the linear layers' convolution and recurrent state. Then the fix:
with no latents the loss gradient w.r.t. the pixels is exactly 0 and the answer-predicting logits
are bit-identical under a pixel perturbation (left and right padding, one-letter and multi-token
answers, one to four images, both masked-attention paths); with latents it is not 0. Under
`standard` the model is transformers' own, and masked generation continues the right stream.
"""

import copy
import math

import numpy as np
import pytest
import torch

from livr import load_backbone
from livr.evaluation.generate import encode_prompts, masked_greedy, prompt_collator
from livr.models import linear_attention
from livr.models.segments import Segment

from tests.conftest import random_image
from tests.models.test_isolation import answer_predictor_rows, pixel_grad

FAMILIES = ("qwen3_5", "qwen3_5_moe")


@pytest.fixture(scope="module")
def many_images():
    """Records with 1, 4 and 2 images and answers of one letter to several tokens."""
    rng = np.random.default_rng(7)
    return [
        {"id": "one", "images": [random_image(rng, 64, 64)], "prompt": "Pick one.\n(A) red\n(B) blue",
         "answer": "A"},
        {"id": "four", "images": [random_image(rng, 64, 64) for _ in range(4)],
         "prompt": "Which of the four images is the odd one out?", "answer": "the third one"},
        {"id": "two", "images": [random_image(rng, 64, 96), random_image(rng, 96, 64)],
         "prompt": "Same colour?", "answer": "no"},
    ]


@pytest.fixture(scope="module", params=FAMILIES)
def models(request):
    return {k: load_backbone(f"tiny:{request.param}", num_latents=k, seed=4) for k in (0, 4)}


def answer_logits_move(lm, batch, inputs):
    rows = answer_predictor_rows(batch)
    with torch.no_grad():
        a = lm.model(**inputs).logits[rows]
        noisy = dict(inputs, pixel_values=inputs["pixel_values"] + 3.0 * torch.randn_like(inputs["pixel_values"]))
        b = lm.model(**noisy).logits[rows]
    return (a - b).abs().max().item()


def test_hooked_layers_and_lora_targets(models, letter_records):
    """Both linear layers hooked (`install` again is harmless); LoRA on both layer kinds, and
    peft's LoRA layers in the linear layers get gradient on both paths (under the bottleneck
    through every pass the hooks run)."""
    lm = models[4]
    layers = linear_attention.linear_attention_modules(lm.model)
    assert len(layers) == 2 and all(linear_attention.attached(m) for m in layers)
    assert linear_attention.install(lm.base_model) == 2
    names = lm.trainable_parameter_names()
    for target in ("linear_attn.in_proj_qkv", "linear_attn.in_proj_z", "linear_attn.out_proj",
                   "self_attn.q_proj", "self_attn.o_proj"):
        assert any(f"{target}.lora_A" in n for n in names), target
    assert not any("in_proj_a" in n or "in_proj_b" in n or "visual" in n or "mlp.experts" in n for n in names)
    batch = lm.collator("bottleneck")(letter_records)
    for policy in ("bottleneck", "standard"):
        lm.model.zero_grad(set_to_none=True)
        lm(batch, mask_policy=policy).loss.backward()
        grads = {n: p.grad for n, p in lm.model.named_parameters() if "linear_attn" in n and "lora_B" in n}
        assert len(grads) == 6 and all(g is not None and g.abs().max() > 0 for g in grads.values()), policy
    lm.model.zero_grad(set_to_none=True)


def test_gradient_checkpointing_recomputes_the_same_passes(models, letter_records):
    """With activation checkpointing (non-reentrant, as `livr train` sets it) the hooks run again
    when the backward pass recomputes a layer: the loss and every gradient are those without it."""
    lm = models[4]
    batch = lm.collator("bottleneck")(letter_records)

    def step():
        lm.model.zero_grad(set_to_none=True)
        torch.manual_seed(0)  # the same LoRA dropout draws
        loss = lm(batch, mask_policy="bottleneck").loss
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in lm.model.named_parameters() if p.grad is not None}

    loss, grads = step()
    lm.base_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    try:
        checkpointed, again = step()
    finally:
        lm.base_model.gradient_checkpointing_disable()
        lm.model.zero_grad(set_to_none=True)
    assert torch.equal(loss, checkpointed) and again.keys() == grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(again[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_naive_4d_mask_leaks_the_image_through_linear_layers(models, letter_records):
    """The documented leak: the 4-D mask alone, without the linear layers' plan."""
    lm = models[0]
    batch = lm.collator("bottleneck")(letter_records)
    inputs = lm.model_inputs(batch, "bottleneck", force_4d=True)
    assert inputs["attention_mask"].dim() == 4
    del inputs[linear_attention.PLAN_KWARG]
    pixels = inputs["pixel_values"].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(lm.model(**dict(inputs, pixel_values=pixels)).loss, pixels)
    assert torch.count_nonzero(grad) > 0
    assert answer_logits_move(lm, batch, inputs) > 0
    # with the plan the same inputs are blind
    inputs = lm.model_inputs(batch, "bottleneck", force_4d=True)
    assert answer_logits_move(lm, batch, inputs) == 0


@pytest.mark.parametrize("path", ["livr_masked", "4d"])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("answers", ["many_images", "letter_records"])
def test_bottleneck_blocks_the_image_exactly(models, path, side, answers, request):
    recs = request.getfixturevalue(answers)
    for k, lm in models.items():
        lm.attention = path if path == "4d" else "livr_masked"
        try:
            batch = lm.collator("bottleneck", padding_side=side)(recs)
            grad = pixel_grad(lm, batch, "bottleneck")
            if k == 0:
                assert torch.count_nonzero(grad) == 0
                assert answer_logits_move(lm, batch, lm.model_inputs(batch, "bottleneck")) == 0
            else:
                assert torch.count_nonzero(grad) > 0
        finally:
            lm.attention = "livr_masked"


def test_standard_policy_is_transformers_model(models, records):
    """Under `standard` the hooked model gives exactly the unhooked model's logits, and the hooks
    change no parameter name (checkpoints, adapters and exports are unchanged)."""
    lm = models[4]
    lm.model.eval()
    batch = lm.collator("standard")(records)
    inputs = lm.model_inputs(batch, "standard")
    assert linear_attention.PLAN_KWARG not in inputs
    keys = list(lm.model.state_dict())
    with torch.no_grad():
        hooked = lm.model(**inputs).logits
        assert linear_attention.uninstall(lm.base_model) == 2
        try:
            assert not any(linear_attention.attached(m) for m in linear_attention.linear_attention_modules(lm.model))
            assert list(lm.model.state_dict()) == keys
            plain = lm.model(**inputs).logits
        finally:
            linear_attention.install(lm.base_model)
    lm.model.train()
    assert torch.equal(hooked, plain)


@pytest.mark.parametrize("policy", ["bottleneck", "answer_bottleneck"])
def test_masked_generation_continues_the_answer_stream(many_images, policy):
    """Greedy tokens from the cache (the prefill leaves the answer rows' stream in each linear
    layer) and their log-probabilities equal those of one full forward over prompt + those tokens
    under the policy; the linear layers have long memory, so a wrong stream would show."""
    lm = load_backbone("tiny:qwen3_5", num_latents=4, seed=4, trainable=False)
    for layer in linear_attention.linear_attention_modules(lm.model):
        remember(layer)
    batch = prompt_collator(lm).pad(encode_prompts(lm, many_images))
    logprobs = []
    tokens = masked_greedy(lm, batch, policy, max_new_tokens=4, eos=-1, pad_token_id=lm.tokenizer.pad_token_id,
                           logprobs=logprobs)
    n, t = tokens.shape
    full = dict(batch, input_ids=torch.cat([batch["input_ids"], tokens], 1),
                attention_mask=torch.cat([batch["attention_mask"], torch.ones(n, t, dtype=torch.long)], 1),
                mm_token_type_ids=torch.cat([batch["mm_token_type_ids"], torch.zeros(n, t, dtype=torch.long)], 1),
                segment_ids=torch.cat([batch["segment_ids"], torch.full((n, t), int(Segment.ANSWER))], 1))
    full.pop("labels", None)
    with torch.no_grad():
        logits = lm(full, mask_policy=policy).logits
    length = batch["input_ids"].shape[1]
    steps = logits[:, length - 1 : length - 1 + t].float().log_softmax(-1)
    assert torch.equal(steps.argmax(-1), tokens)
    reference = steps.gather(2, tokens[..., None])[..., 0]
    assert (reference - logprobs[0]).abs().max().item() < 1e-5


T, I, P, L, A, PAD = (int(s) for s in (Segment.TEMPLATE, Segment.IMAGE, Segment.PROMPT, Segment.LATENT,
                                       Segment.ANSWER, Segment.PAD))
# one right-padded and one left-padded item
SEGMENTS = torch.tensor([[T, I, I, P, P, L, L, T, A, A, PAD, PAD],
                         [PAD, T, I, I, I, P, L, L, T, T, A, A]])


def remember(inner):
    """Make a linear-attention module's state decay slowly and its output O(1): at random init it
    forgets within two tokens and outputs ~1e-3, which would let a wrong stream pass a tolerance."""
    with torch.no_grad():
        inner.A_log.fill_(math.log(0.05))
        torch.nn.init.normal_(inner.out_proj.weight, std=inner.out_proj.in_features ** -0.5)
    return inner


def long_memory_layer(lm):
    """A long-memory copy of the model's first linear-attention layer (copied unhooked), hooked.
    Called without a plan it is the plain module."""
    first = linear_attention.linear_attention_modules(lm.model)[0]
    linear_attention.detach(first)
    try:
        layer = remember(copy.deepcopy(first))
    finally:
        linear_attention.attach(first)
    linear_attention.attach(layer)
    return layer


@pytest.mark.parametrize("policy,blind", [
    ("bottleneck", {T: {I}, P: {I}, A: {I}}),
    ("bottleneck_latent_blind", {T: {I}, P: {I}, A: {I}, L: {P}}),
])
def test_each_row_reads_exactly_the_keys_it_may_see(models, policy, blind):
    """At one layer, with a random input: each row's output is the module run alone on that item's
    keys minus the segments its role may not see (minus pads), to 1e-5."""
    from livr.models.attention import MaskPlan
    from livr.models.masks import query_roles

    layer = long_memory_layer(models[0])
    torch.manual_seed(0)
    hidden = torch.randn(*SEGMENTS.shape, layer.hidden_size)
    with torch.no_grad():
        out = layer(hidden, livr_linear_plan=MaskPlan.for_training(SEGMENTS, policy))
        full = layer(hidden, attention_mask=(SEGMENTS != PAD).float())
        roles = query_roles(SEGMENTS)
        checked, differ = 0, 0
        for b in range(len(SEGMENTS)):
            for row in (SEGMENTS[b] != PAD).nonzero()[:, 0].tolist():
                hidden_from = blind.get(int(roles[b, row]), set()) | {PAD}
                keep = torch.tensor([s not in hidden_from for s in SEGMENTS[b].tolist()])
                keep[row] = True
                keep[row + 1:] = False
                expected = layer(hidden[b, keep][None])[0, -1]
                torch.testing.assert_close(out[b, row], expected, rtol=1e-4, atol=1e-5)
                checked += 1
                differ += (full[b, row] - expected).abs().max().item() > 1e-2
    assert checked == 21 and differ >= 8  # the blinded rows after an image are not the full stream


def test_prefill_leaves_the_answer_stream_in_the_cache(models):
    """A one-token step after a cached prefill equals the module run on the answer rows' keys
    (the prompt without image tokens) followed by that token."""
    from transformers import DynamicCache

    from livr.models.attention import MaskPlan

    lm = models[0]
    layer = long_memory_layer(lm)
    prompts = SEGMENTS[:, :8].clone()
    prompts[1] = torch.tensor([PAD, PAD, T, I, I, P, L, T])
    torch.manual_seed(1)
    hidden = torch.randn(*prompts.shape, layer.hidden_size)
    new = torch.randn(len(prompts), 1, layer.hidden_size)
    cache = DynamicCache(config=lm.base_model.config.get_text_config())
    with torch.no_grad():
        layer(hidden, cache_params=cache, livr_linear_plan=MaskPlan.for_prompts(prompts, "bottleneck"))
        step = layer(new, cache_params=cache, livr_linear_plan=MaskPlan.for_new_tokens(prompts, 0, "bottleneck"))
        for b in range(len(prompts)):
            keep = (prompts[b] != PAD) & (prompts[b] != I)
            expected = layer(torch.cat([hidden[b, keep], new[b]])[None])[0, -1]
            torch.testing.assert_close(step[b, 0], expected, rtol=1e-4, atol=1e-5)


def test_attach_is_idempotent_and_detach_restores_the_module(models):
    """Attached twice, detached once: no hook is left, the plan keyword reaches the module, whose
    reference kernels ignore it, and the layer runs as shipped; attached, the plan blinds rows."""
    from livr.models.attention import MaskPlan

    layer = long_memory_layer(models[0])
    linear_attention.attach(layer)
    torch.manual_seed(2)
    hidden = torch.randn(*SEGMENTS.shape, layer.hidden_size)
    plan = MaskPlan.for_training(SEGMENTS, "bottleneck")
    mask = (SEGMENTS != PAD).float()
    with torch.no_grad():
        blind = layer(hidden, livr_linear_plan=plan)
        assert linear_attention.detach(layer) and not linear_attention.attached(layer)
        assert not linear_attention.detach(layer)
        plain = layer(hidden, attention_mask=mask)
        assert torch.equal(layer(hidden, attention_mask=mask, livr_linear_plan=plan), plain)
    assert (blind - plain).abs().max() > 1e-2
