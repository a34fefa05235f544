"""After AdamW steps with weight decay, only LoRA weights and the K latent rows changed."""

import pytest
import torch

from livr import load_backbone

from tests.conftest import NATIVE_FAMILIES


def train_steps(lm, records, steps=3, policy="bottleneck"):
    params = [p for p in lm.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01)
    batch = lm.collator(policy)(records)
    lm.model.train()
    for _ in range(steps):
        opt.zero_grad()
        lm(batch).loss.backward()
        opt.step()


def merged_state(lm):
    return {k: v.detach().clone() for k, v in lm.model.merge_and_unload().state_dict().items()}


def changed(before, after):
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("family,tied", [(f, False) for f in NATIVE_FAMILIES] + [("qwen2_5_vl", True)])
def test_only_lora_and_latent_rows_change(family, tied, letter_records):
    trained = load_backbone(f"tiny:{family}", num_latents=4, tie_word_embeddings=tied, seed=5)
    fresh = load_backbone(f"tiny:{family}", num_latents=4, tie_word_embeddings=tied, seed=5)
    names = trained.trainable_parameter_names()
    assert names and all("lora_" in n or "trainable_tokens" in n for n in names)
    assert not any("visual" in n or "vision" in n or "projector" in n or "merger" in n for n in names)

    train_steps(trained, letter_records)
    before, after = merged_state(fresh), merged_state(trained)
    diff = changed(before, after)

    emb_key = next(k for k in before if k.endswith("embed_tokens.weight"))
    head_key = "lm_head.weight"
    lora_pattern = trained.adapter.lora_target_pattern
    import re

    linear = {k for k in diff if re.fullmatch(lora_pattern, k.rsplit(".", 1)[0])}
    assert linear, "LoRA should have moved the language model's projections"
    other = diff - linear - {emb_key, head_key}
    assert not other, f"unexpected parameters changed: {sorted(other)[:5]}"

    rows = (before[emb_key] != after[emb_key]).any(dim=1).nonzero().flatten().tolist()
    assert rows == sorted(trained.latent_ids)
    head_rows = (before[head_key] != after[head_key]).any(dim=1).nonzero().flatten().tolist()
    if tied:
        assert head_rows == sorted(trained.latent_ids)  # the tie moves exactly those LM-head rows
    else:
        assert head_rows == []


def test_direct_sft_has_no_trainable_rows(letter_records):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=0)
    assert all("lora_" in n for n in lm.trainable_parameter_names())


def test_prompt_tuning_trains_only_latent_rows(letter_records):
    lm = load_backbone("tiny:qwen3_vl", num_latents=4, lora=False)
    names = lm.trainable_parameter_names()
    assert names and all("trainable_tokens" in n for n in names)


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_train_vision_also_moves_the_vision_tower(family, letter_records):
    """train_vision: LoRA, the latent rows and the vision encoder + projector move; the rest of
    the language model does not."""
    trained = load_backbone(f"tiny:{family}", num_latents=4, seed=5, train_vision=True)
    fresh = load_backbone(f"tiny:{family}", num_latents=4, seed=5)
    train_steps(trained, letter_records, policy="standard")
    before, after = merged_state(fresh), merged_state(trained)
    diff = changed(before, after)

    import re

    vision = tuple(f"model.{name}." for name in trained.adapter.vision_modules)
    linear = {k for k in diff if re.fullmatch(trained.adapter.lora_target_pattern, k.rsplit(".", 1)[0])}
    moved_vision = {k for k in diff if k.startswith(vision)}
    assert linear and moved_vision
    emb_key = next(k for k in before if k.endswith("embed_tokens.weight"))
    assert not diff - linear - moved_vision - {emb_key}
    rows = (before[emb_key] != after[emb_key]).any(dim=1).nonzero().flatten().tolist()
    assert rows == sorted(trained.latent_ids)


def test_train_vision_with_prompt_tuning_is_refused():
    from livr.errors import ConfigError

    with pytest.raises(ConfigError, match="train_vision"):
        load_backbone("tiny:qwen2_5_vl", num_latents=4, lora=False, train_vision=True)
