"""Mirage on tiny models of the real classes: helper targets, span, stage 1, stage 2."""

import numpy as np
import pytest
import torch

from livr import load_backbone
from livr.data.collator import IGNORE_INDEX, Collator, Encoder
from livr.models.latents import LatentSpec
from livr.errors import ConfigError, DataError
from livr.models.mirage import END, PAD, START, MirageSpec, chunk_means, helper_targets, recurrent_forward, stage1_forward
from livr.models.segments import Segment

from tests.conftest import NATIVE_FAMILIES, random_image
from tests.models.test_lvr import image_features

SPEC = MirageSpec(latents=4)


def mirage_model(family, spec=SPEC, seed=3):
    return load_backbone(f"tiny:{family}", num_latents=0, mirage=spec, seed=seed)


@pytest.fixture
def helped(records):
    rng = np.random.default_rng(5)
    return [dict(r, helper_image=random_image(rng, 70 + 10 * i, 90)) for i, r in enumerate(records)]


def test_chunk_means_drop_the_remainder():
    tokens = torch.arange(22.0).reshape(11, 2)
    expected = torch.tensor([[1.0, 2.0], [5.0, 6.0], [9.0, 10.0], [13.0, 14.0]])  # 8 tokens, 4 x 2
    torch.testing.assert_close(chunk_means(tokens[:9], 4), expected)
    torch.testing.assert_close(chunk_means(tokens, 4)[0], tokens[:2].mean(0))
    with pytest.raises(DataError, match="cannot fill 4 latents"):
        chunk_means(tokens[:3], 4)


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_targets_are_chunk_means_of_the_helper_tokens(family, helped):
    lm = mirage_model(family)
    targets = helper_targets(lm, helped, SPEC)
    assert targets.shape[0] == 2 * SPEC.latents
    # independent: the helper alone through get_image_features, averaged chunk by chunk by hand
    for i, record in enumerate(helped):
        plain = Collator(Encoder(lm.adapter, lm.processor, LatentSpec(num_latents=0)))
        alone = plain([{"id": "h", "images": [record["helper_image"]], "prompt": ".", "answer": "."}])
        feats = image_features(lm, alone)
        size = feats.shape[0] // 4
        for j in range(4):
            manual = sum(feats[j * size + t] for t in range(size)) / size
            torch.testing.assert_close(targets[4 * i + j], manual, rtol=1e-5, atol=1e-6)


def test_without_helper_image_mirage_refuses_by_name(records):
    lm = mirage_model("qwen2_5_vl")
    with pytest.raises(DataError, match="record .?short.? has no helper_image"):
        helper_targets(lm, records, SPEC)
    with pytest.raises(DataError, match="record .?short.? has no helper_image"):
        lm.collator("standard")(records)
    lm.collator("standard", with_answer=False)(records)  # prompts alone need no helper


def test_spec_errors_name_the_option():
    with pytest.raises(ConfigError, match="mirage_latents"):
        MirageSpec(latents=0)
    with pytest.raises(ConfigError, match="mirage_ce_weight"):
        MirageSpec(ce_weight=-1.0)


def test_span_layout_ce_on_start_and_end_not_pads(helped):
    records = helped
    lm = mirage_model("qwen2_5_vl")
    batch = lm.collator("standard")(records)
    tok = lm.tokenizer
    ids, labels, seg = batch["input_ids"], batch["labels"], batch["segment_ids"]
    for row in range(len(records)):
        start = (ids[row] == tok.convert_tokens_to_ids(START)).nonzero().item()
        assert ids[row, start : start + 6].tolist() == [tok.convert_tokens_to_ids(t) for t in [START] + [PAD] * 4 + [END]]
        assert labels[row, start] == ids[row, start] and labels[row, start + 5] == ids[row, start + 5]
        assert (labels[row, start + 1 : start + 5] == IGNORE_INDEX).all()
        assert (seg[row, start + 1 : start + 5] == Segment.LATENT).all()
    prompt = lm.collator("standard", with_answer=False)(records)["input_ids"]
    assert (prompt[:, -1] == tok.convert_tokens_to_ids(START)).all() or \
        (prompt == tok.convert_tokens_to_ids(START)).sum() == len(records)


def test_stage1_writes_the_targets_and_adds_the_cosine_term(helped):
    lm = mirage_model("qwen2_5_vl")
    batch = lm.collator("standard")(helped)
    targets = helper_targets(lm, helped, SPEC)
    ce, cos, out = stage1_forward(lm, lm.model, batch, targets, SPEC)
    torch.testing.assert_close(ce, out.loss)
    # the cosine term, by hand: the hidden state before each pad against its target
    pads = batch["segment_ids"] == Segment.LATENT
    rows, cols = pads.nonzero(as_tuple=True)
    h = out.hidden_states[-1][rows, cols - 1]
    manual = torch.stack([1 - (a @ b) / (a.norm() * b.norm()) for a, b in zip(h, targets)]).mean()
    torch.testing.assert_close(cos, manual, rtol=1e-5, atol=1e-6)
    loss = 0.1 * ce + cos
    from livr.models.lvr import patched_slots

    seen = {}
    with patched_slots(lm.model, slot_mask=pads, values=targets, record=seen), torch.no_grad():
        lm.model(**lm.model_inputs(batch, "standard"))
    torch.testing.assert_close(seen["inputs_embeds"][pads], targets, rtol=0, atol=0)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in lm.model.parameters() if p.requires_grad)


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_stage2_feeds_back_exactly_the_previous_hidden_state(family, helped):
    lm = mirage_model(family)
    batch = lm.collator("standard")(helped)
    kept = []
    ce, out = recurrent_forward(lm, lm.model, batch, SPEC, record=kept)
    values, embeds = kept
    pads = batch["segment_ids"] == Segment.LATENT
    rows, cols = pads.nonzero(as_tuple=True)
    torch.testing.assert_close(embeds[pads], values, rtol=0, atol=0)
    # in the final pass, each pad's input is the last hidden state one position earlier
    hidden = out.hidden_states[-1]
    torch.testing.assert_close(embeds[rows, cols], hidden[rows, cols - 1], rtol=1e-4, atol=1e-5)
    ce.backward()  # gradients flow through the fed-back states
    assert torch.isfinite(ce)
