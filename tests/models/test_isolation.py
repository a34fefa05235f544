"""The bottleneck blocks the image exactly, on tiny models of each real transformers class.

Proof by gradient: with no latents under `bottleneck`, the training loss (computed on the rows
that predict answer tokens) has exactly zero gradient w.r.t. pixel_values, and perturbing the
pixels moves none of those logits. With latents the image reaches the answer through them.
Every test runs on both masked-attention paths (blockwise `livr_masked` and the 4-D mask).
"""

import pytest
import torch

from livr import load_backbone
from livr.data.collator import IGNORE_INDEX
from livr.models.segments import Segment

from tests.conftest import NATIVE_FAMILIES


def pixel_grad(lm, batch, policy):
    pixels = batch["pixel_values"].clone().requires_grad_(True)
    out = lm({**batch, "pixel_values": pixels}, mask_policy=policy)
    (grad,) = torch.autograd.grad(out.loss, pixels)
    return grad


def answer_predictor_rows(batch):
    """(B, L) bool: rows whose next token is labelled (they predict answer tokens)."""
    rows = torch.zeros_like(batch["labels"], dtype=torch.bool)
    rows[:, :-1] = batch["labels"][:, 1:] != IGNORE_INDEX
    return rows


@pytest.fixture(scope="module", params=NATIVE_FAMILIES)
def family(request):
    return request.param


@pytest.fixture(scope="module", params=["livr_masked", "4d"])
def path(request):
    """The masked-attention path: blockwise (livr.models.attention) or the additive 4-D mask."""
    return request.param


@pytest.fixture(scope="module")
def models(family, path):
    out = {k: load_backbone(f"tiny:{family}", num_latents=k, seed=3, attention=path) for k in (0, 4)}
    assert all(lm.attention == path for lm in out.values())
    return out


@pytest.mark.parametrize("answers", ["records", "letter_records"])
def test_bottleneck_without_latents_blocks_the_image_exactly(models, answers, request):
    lm = models[0]
    batch = lm.collator("bottleneck")(request.getfixturevalue(answers))
    assert torch.count_nonzero(pixel_grad(lm, batch, "bottleneck")) == 0
    # and perturbing the pixels changes none of the logits at answer-predicting rows
    rows = answer_predictor_rows(batch)
    with torch.no_grad():
        a = lm(batch).logits[rows]
        b = lm({**batch, "pixel_values": batch["pixel_values"] + 3.0 * torch.randn_like(batch["pixel_values"])}).logits[rows]
    assert torch.equal(a, b)


@pytest.mark.parametrize("answers", ["records", "letter_records"])
def test_image_reaches_the_answer_through_latents_or_standard_mask(models, answers, request):
    recs = request.getfixturevalue(answers)
    with_latents = models[4]
    batch = with_latents.collator("bottleneck")(recs)
    assert torch.count_nonzero(pixel_grad(with_latents, batch, "bottleneck")) > 0
    plain = models[0]
    batch = plain.collator("standard")(recs)
    assert torch.count_nonzero(pixel_grad(plain, batch, "standard")) > 0


def test_every_image_reaches_the_answer_through_latents(models, records):
    """Under the bottleneck each image of a multi-image record (the second record has two) gets
    gradient through the latents, not only the first."""
    lm = models[4]
    batch = lm.collator("bottleneck")(records)
    grad = pixel_grad(lm, batch, "bottleneck")
    if "image_grid_thw" in batch:  # Qwen: the images' patches, flattened one after another
        per_image = torch.split(grad, batch["image_grid_thw"].prod(-1).tolist())
    else:  # LLaVA-OneVision: one entry per image
        per_image = list(grad)
    assert len(per_image) == 3
    assert all(torch.count_nonzero(g) > 0 for g in per_image)


def test_latent_blind_still_routes_through_latents(models, letter_records):
    lm = models[4]
    batch = lm.collator("bottleneck_latent_blind")(letter_records)
    assert torch.count_nonzero(pixel_grad(lm, batch, "bottleneck_latent_blind")) > 0


def test_answer_bottleneck_lets_prompt_rows_see_the_image(models, letter_records):
    lm = models[0]
    batch = lm.collator("answer_bottleneck")(letter_records)
    # the answer itself is still blind to the image when there is no latent...
    prompt_rows = batch["segment_ids"] == Segment.PROMPT

    def prompt_grad(policy):
        pixels = batch["pixel_values"].clone().requires_grad_(True)
        logits = lm({**batch, "pixel_values": pixels}, mask_policy=policy).logits
        (grad,) = torch.autograd.grad(logits[prompt_rows].sum(), pixels)
        return grad

    assert torch.count_nonzero(prompt_grad("answer_bottleneck")) > 0
    assert torch.count_nonzero(prompt_grad("bottleneck")) == 0
    # ...but through the prompt rows the image does reach it (the paper's reason to block both)
    assert torch.count_nonzero(pixel_grad(lm, batch, "answer_bottleneck")) > 0
