"""Mirage on tiny models of the real classes: helper targets, span, stage 1, stage 2."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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


def end_bias(lm, when=None):
    """A hook on the LM head: the <|latent_end|> logit at -1e4 at every position, or at +1e4
    where the head's input equals the hidden state `when` (in the cached loop and the full
    recompute alike: the rule reads only the position's own hidden state)."""
    end_id = lm.tokenizer.convert_tokens_to_ids(END)

    def hook(module, args, out):
        bias = torch.full_like(out[..., :1], -1e4)
        if when is not None:
            hit = F.cosine_similarity(args[0].float(), when.float(), dim=-1) > 1 - 1e-6  # consecutive states can be 0.9999 apart
            bias = torch.where(hit[..., None], torch.full_like(bias, 1e4), bias)
        return out.index_add(-1, torch.tensor([end_id], device=out.device), bias)

    return lm.base_model.lm_head.register_forward_hook(hook)


def decode_and_recompute(lm, records):
    """Mirage's latent decoding on `records`, checked row by row against one full forward over
    prompt + pads + <|latent_end|> + text with the fed-back states patched into the pads."""
    from livr.inference.latent import decoding_spec, lvr_greedy
    from livr.models.lvr import patched_slots

    tok = lm.tokenizer
    end_id = tok.convert_tokens_to_ids(END)
    spec, end_token = decoding_spec(lm)
    assert (spec.max_steps, spec.exit, end_token) == (SPEC.latents, "mode_switch", END)
    batch = lm.collator("standard", padding_side="left", with_answer=False)(records)
    out = lvr_greedy(lm, batch, spec, max_new_tokens=3, eos=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                     end_token=end_token)
    for row in range(len(records)):
        steps = int(out.steps[row])
        assert 0 <= steps <= SPEC.latents and len(out.latents[row]) == steps
        prompt = batch["input_ids"][row][batch["attention_mask"][row].bool()]
        assert prompt[-1] == tok.convert_tokens_to_ids(START)
        text = out.tokens[row]
        if tok.eos_token_id in text.tolist():  # a row that ended early is padded after its end of turn
            text = text[: text.tolist().index(tok.eos_token_id) + 1]
        tail = torch.tensor([tok.convert_tokens_to_ids(PAD)] * steps + [end_id])
        ids = torch.cat([prompt, tail, text[:-1]])[None]
        one = lm.collator("standard", padding_side="left", with_answer=False)([records[row]])
        full = dict(one, input_ids=ids, attention_mask=torch.ones_like(ids),
                    segment_ids=torch.cat([one["segment_ids"], torch.full((1, ids.shape[1] - len(prompt)),
                                                                          int(Segment.ANSWER))], 1))
        if "mm_token_type_ids" in one:
            full["mm_token_type_ids"] = (full["segment_ids"] == Segment.IMAGE).long()
        pads = torch.zeros_like(ids, dtype=torch.bool)
        pads[0, len(prompt) : len(prompt) + steps] = True
        with patched_slots(lm.model, slot_mask=pads, values=out.latents[row]), torch.no_grad():
            ref = lm.model(**lm.model_inputs(full, "standard"), output_hidden_states=True)
        hidden, logits = ref.hidden_states[-1][0], ref.logits[0]
        start = len(prompt) - 1  # the <|latent_start|> position feeds the first pad
        torch.testing.assert_close(hidden[start : start + steps], out.latents[row], rtol=1e-4, atol=1e-4)
        # latent mode went on while the LM head did not predict <|latent_end|>, and stopped when it
        # did (or at the cap K)
        chosen = logits[start : start + steps + 1].argmax(-1).tolist()
        assert end_id not in chosen[:steps]
        assert steps == SPEC.latents or chosen[steps] == end_id
        assert logits[len(prompt) + steps :].argmax(-1).tolist() == text.tolist()
    return out


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_cached_decoding_equals_full_recompute(family, records):
    """Mirage's latent-mode decoding (`decoding_spec`: the cap K, exit when the LM head predicts
    <|latent_end|>; KV cache, left padding, two images) equals the full recompute, in the two
    ways latent mode ends: at the cap K (<|latent_end|> never predicted), and early, where the
    head predicts <|latent_end|> after two fed-back states, in the first row only."""
    lm = mirage_model(family)
    handle = end_bias(lm)
    out = decode_and_recompute(lm, records)
    handle.remove()
    assert out.steps.tolist() == [SPEC.latents] * len(records)
    # the hidden state at the second pad (fed to the third) now predicts <|latent_end|>
    end_bias(lm, when=out.latents[0][2])
    early = decode_and_recompute(lm, records)
    assert early.steps.tolist() == [2] + [SPEC.latents] * (len(records) - 1)
    torch.testing.assert_close(early.latents[0], out.latents[0][:2])


def test_added_output_rows_are_the_same_at_every_load():
    """The LM-head rows of Mirage's tokens (livr-tiny's head is untied; with LoRA these rows are
    neither trained nor saved) come from a fixed private generator, not the global random state
    that `resize_token_embeddings` draws from, so a reloaded run decodes (and leaves latent mode)
    as the trained one did. A checkpoint (unlike tiny:<family>, built under a seed) is the case."""
    rows = []
    for state in (0, 1):
        torch.manual_seed(state)
        lm = load_backbone("livr-tiny", num_latents=0, mirage=SPEC, seed=3)
        head = lm.base_model.get_output_embeddings().weight
        assert head is not lm.base_model.get_input_embeddings().weight  # the case that matters
        ids = [lm.tokenizer.convert_tokens_to_ids(t) for t in (START, PAD, END)]
        rows.append(head[ids].detach().clone())
    torch.testing.assert_close(rows[0], rows[1], rtol=0, atol=0)
