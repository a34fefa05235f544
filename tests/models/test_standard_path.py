"""The `standard` policy through the 4-D path reproduces the native 2-D-mask logits."""

import pytest
import torch

from livr import load_backbone

from tests.conftest import NATIVE_FAMILIES


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_standard_4d_matches_native_2d(family, attn, records):
    lm = load_backbone(f"tiny:{family}", num_latents=4, attn_implementation=attn, seed=1)
    lm.model.eval()
    batch = lm.collator("standard")(records)
    assert batch["attention_mask"].min() == 0  # padding is exercised
    native = lm.model_inputs(batch)
    assert native["attention_mask"].dim() == 2  # standard takes the backbone's native path
    with torch.no_grad():
        a = lm(batch).logits
        b = lm(batch, force_4d=True).logits
    real = batch["attention_mask"].bool()
    assert (a[real] - b[real]).abs().max().item() <= 1e-5


def test_bottleneck_on_the_4d_path_uses_4d_mask(records):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=2, attention="4d")
    inputs = lm.model_inputs(lm.collator("bottleneck")(records))
    assert inputs["attention_mask"].dim() == 4 and inputs["attention_mask"].dtype == torch.float32
    assert inputs["position_ids"].shape[0] == 3  # M-RoPE positions computed from the 2-D mask
