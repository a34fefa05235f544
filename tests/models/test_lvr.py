"""LVR on tiny models of the real classes: slot targets, loss terms, exits, cached decoding."""

import pytest
import torch
from PIL import Image

from livr import load_backbone
from livr.data.collator import IGNORE_INDEX
from livr.errors import ConfigError
from livr.models.lvr import END, SLOT, START, LvrSpec, combine, lvr_forward, patched_slots
from livr.inference.latent import _exits, lvr_greedy
from livr.models.segments import Segment

from tests.conftest import NATIVE_FAMILIES

ROI = [0, 1, 3]  # indices over a record's image tokens (raster order, all images)


def lvr_model(family, spec, seed=3):
    lm = load_backbone(f"tiny:{family}", num_latents=0, lvr=spec, seed=seed)
    lm.roi_tokens = lambda record, vision, rid: ROI
    return lm


def image_features(lm, batch):
    """The merged visual embeddings (vision tower + projector) of every image token, in order."""
    inner = lm.base_model.model
    with torch.no_grad():
        if "image_grid_thw" in batch:
            feats = inner.get_image_features(batch["pixel_values"], batch["image_grid_thw"], return_dict=True)
        else:
            feats = inner.get_image_features(pixel_values=batch["pixel_values"], image_sizes=batch["image_sizes"],
                                             vision_feature_layer=inner.config.vision_feature_layer,
                                             vision_feature_select_strategy=inner.config.vision_feature_select_strategy,
                                             batch_num_images=batch.get("batch_num_images"), return_dict=True)
        feats = feats.pooler_output
    return torch.cat(list(feats), dim=0) if isinstance(feats, (list, tuple)) else feats


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_slot_targets_are_the_roi_visual_embeddings(family, records):
    spec = LvrSpec(steps=3, train_tokens="all")
    lm = lvr_model(family, spec)
    batch = lm.collator("standard")(records[:1])
    seen = {}
    with patched_slots(lm.model, sources=batch["lvr_source"], record=seen), torch.no_grad():
        lm.model(**lm.model_inputs(batch, "standard"))
    slots = batch["segment_ids"][0] == Segment.LATENT
    assert int(slots.sum()) == len(ROI)
    expected = image_features(lm, batch)[ROI]
    torch.testing.assert_close(seen["inputs_embeds"][0, slots], expected, rtol=0, atol=0)


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_slot_targets_of_a_real_roi(family):
    """The family's own ROI mapping (Qwen grids, LLaVA-OneVision anyres): the slots receive the
    visual embeddings of the image tokens it picks, which lie inside the record's image tokens."""
    lm = load_backbone(f"tiny:{family}", num_latents=0, lvr=LvrSpec(steps=2, train_tokens="all"), seed=3)
    mapper, got = lm.adapter.roi_mapper(lm.base_model, lm.processor), []
    lm.roi_tokens = lambda record, vision, rid: got.append(mapper(record, vision, rid)) or got[-1]
    rng = torch.Generator().manual_seed(0)
    pixels = (torch.rand(60, 100, 3, generator=rng) * 255).to(torch.uint8).numpy()
    record = {"id": "loc", "task": "localization", "prompt": "Where is it?", "answer": "A",
              "images": [Image.fromarray(pixels)], "metadata": {"gold_box": [0, 0, 30, 20]}}
    batch = lm.collator("standard")([record])
    seen = {}
    with patched_slots(lm.model, sources=batch["lvr_source"], record=seen), torch.no_grad():
        lm.model(**lm.model_inputs(batch, "standard"))
    slots = batch["segment_ids"][0] == Segment.LATENT
    feats = image_features(lm, batch)
    n_image = int((batch["input_ids"][0] == lm.adapter.image_token_id(lm.processor)).sum())
    (roi,) = got
    assert feats.shape[0] == n_image and 0 < len(roi) < n_image and int(slots.sum()) == len(roi)
    torch.testing.assert_close(seen["inputs_embeds"][0, slots], feats[sorted(roi)], rtol=0, atol=0)


def test_budget_takes_roi_tokens_evenly():
    from livr.models.lvr import select_roi_tokens

    assert select_roi_tokens([9, 1, 5, 3, 7], LvrSpec(steps=3)) == [1, 5, 9]
    assert select_roi_tokens([4, 2], LvrSpec(steps=4)) == [2, 2, 4, 4]
    assert select_roi_tokens([4, 2], LvrSpec(steps=2, train_tokens="all")) == [2, 4]


def test_span_layout_and_no_ce_on_slots(records):
    spec = LvrSpec(steps=4)
    lm = lvr_model("qwen2_5_vl", spec)
    batch = lm.collator("standard")(records)
    tok = lm.tokenizer
    ids, labels, seg = batch["input_ids"], batch["labels"], batch["segment_ids"]
    for row in range(len(records)):
        start = (ids[row] == tok.convert_tokens_to_ids(START)).nonzero().item()
        span = ids[row, start : start + 6].tolist()
        assert span == [tok.convert_tokens_to_ids(t) for t in [START] + [SLOT] * 4 + [END]]
        assert labels[row, start] == ids[row, start]  # the model learns to open the span
        assert (labels[row, start + 1 : start + 6] == IGNORE_INDEX).all()  # slots and <|lvr_end|>
        assert (seg[row, start + 1 : start + 5] == Segment.LATENT).all()
    # CE counts only labelled tokens: the loss equals the mean NLL over them
    out, _ = lvr_forward(lm, lm.model, batch, spec)
    logp = out.logits[:, :-1].float().log_softmax(-1)
    target = labels[:, 1:]
    keep = target != IGNORE_INDEX
    nll = -logp[keep].gather(-1, target[keep][:, None]).mean()
    torch.testing.assert_close(out.loss.float(), nll, rtol=1e-5, atol=1e-5)


def test_reconstruction_trains_the_language_model(records):
    spec = LvrSpec(steps=3)
    lm = lvr_model("qwen2_5_vl", spec)
    batch = lm.collator("standard")(records[:1])
    _, terms = lvr_forward(lm, lm.model, batch, spec)
    assert terms["reconstruction"].item() > 0
    trainable = [p for p in lm.model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(terms["reconstruction"], trainable, allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert not any(p.requires_grad for p in lm.base_model.model.visual.parameters())


def test_zero_steps_and_zero_lambda_is_direct_sft(records):
    spec = LvrSpec(steps=0, lam=0.0)
    lvr = lvr_model("qwen2_5_vl", spec, seed=5)
    sft = load_backbone("tiny:qwen2_5_vl", num_latents=0, seed=5)
    b_lvr, b_sft = lvr.collator("standard")(records), sft.collator("standard")(records)
    assert torch.equal(b_lvr["input_ids"], b_sft["input_ids"])
    out, terms = lvr_forward(lvr, lvr.model, b_lvr, spec)
    loss_lvr = combine(out.loss, terms, spec)
    loss_sft = sft(b_sft).loss
    torch.testing.assert_close(loss_lvr, loss_sft, rtol=0, atol=0)


def test_spec_errors_name_the_option():
    with pytest.raises(ConfigError, match="lvr_exit"):
        LvrSpec(exit="sometimes")
    with pytest.raises(ConfigError, match="lvr_max_steps"):
        LvrSpec(steps=8, max_steps=4)
    with pytest.raises(ConfigError, match="lvr_loss"):
        LvrSpec(loss="l3")


def test_exit_rules():
    hidden = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    logits = torch.tensor([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0]])  # row 0 argmax is token 1
    end = torch.tensor([1.0, 0.0])
    steps = torch.tensor([2, 2])
    assert _exits(LvrSpec(steps=2), steps, hidden, logits, end, 1).tolist() == [True, True]
    assert _exits(LvrSpec(steps=3), steps, hidden, logits, end, 1).tolist() == [False, False]
    assert _exits(LvrSpec(exit="latent_end"), steps, hidden, logits, end, 1).tolist() == [True, False]
    assert _exits(LvrSpec(exit="mode_switch"), steps, hidden, logits, end, 1).tolist() == [True, False]
    capped = torch.tensor([32, 5])
    assert _exits(LvrSpec(exit="latent_end", end_threshold=-1.0), capped, hidden, logits, end, 7).tolist() == [True, False]


def decode(lm, records, spec, max_new_tokens=4):
    batch = lm.collator("standard", padding_side="left", with_answer=False)(records)
    out = lvr_greedy(lm, batch, spec, max_new_tokens=max_new_tokens, eos=lm.tokenizer.eos_token_id,
                     pad_token_id=lm.tokenizer.pad_token_id)
    return batch, out


@pytest.mark.parametrize("steps", [0, 1, 4])
def test_fixed_budget_is_exact(records, steps):
    spec = LvrSpec(steps=steps)
    lm = lvr_model("qwen2_5_vl", LvrSpec(steps=max(steps, 1)))
    _, out = decode(lm, records, spec)
    assert out.steps.tolist() == [steps] * len(records)
    assert [len(x) for x in out.latents] == [steps] * len(records)


@pytest.mark.parametrize("exit_", ["latent_end", "mode_switch"])
def test_cap_always_applies(records, exit_):
    spec = LvrSpec(steps=2, exit=exit_, max_steps=5, end_threshold=-1.0)  # latent_end never fires
    lm = lvr_model("qwen2_5_vl", spec)
    if exit_ == "mode_switch":  # make <|lvr_end|> unreachable for the LM head
        with torch.no_grad():
            lm.base_model.lm_head.weight[lm.tokenizer.convert_tokens_to_ids(END)] = -1e4
    _, out = decode(lm, records, spec)
    assert out.steps.tolist() == [5] * len(records)


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_cached_decoding_equals_full_recompute(family, records):
    """The tokens and fed-back states of the cached loop equal one full forward over the whole
    sequence with the recorded states patched into the slots (left padding, two images)."""
    spec = LvrSpec(steps=3)
    lm = lvr_model(family, spec)
    batch, out = decode(lm, records, spec, max_new_tokens=3)
    tok = lm.tokenizer
    for row in range(len(records)):
        prompt = batch["input_ids"][row][batch["attention_mask"][row].bool()]
        text = out.tokens[row][: out.tokens.shape[1]]
        tail = torch.tensor([tok.convert_tokens_to_ids(SLOT)] * 3 + [tok.convert_tokens_to_ids(END)])
        ids = torch.cat([prompt, tail, text[:-1]])[None]
        one = {k: v for k, v in lm.collator("standard", padding_side="left", with_answer=False)(
            [records[row]]).items()}
        full = dict(one, input_ids=ids, attention_mask=torch.ones_like(ids),
                    segment_ids=torch.cat([one["segment_ids"], torch.full((1, ids.shape[1] - len(prompt)),
                                                                          int(Segment.ANSWER))], 1))
        if "mm_token_type_ids" in one:
            full["mm_token_type_ids"] = (full["segment_ids"] == Segment.IMAGE).long()
        slots = torch.zeros_like(ids, dtype=torch.bool)
        slots[0, len(prompt) : len(prompt) + 3] = True
        with patched_slots(lm.model, slot_mask=slots, values=out.latents[row]), torch.no_grad():
            ref = lm.model(**lm.model_inputs(full, "standard"), output_hidden_states=True)
        hidden = ref.hidden_states[-1][0]
        start = len(prompt) - 1  # the <|lvr_start|> row feeds the first slot
        torch.testing.assert_close(hidden[start : start + 3], out.latents[row], rtol=1e-4, atol=1e-4)
        predicted = ref.logits[0, len(prompt) + 3 :].argmax(-1)
        assert predicted.tolist() == text.tolist()
