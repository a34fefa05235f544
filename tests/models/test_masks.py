"""Mask policies as pure functions of segment ids, checked against literal matrices."""

import pytest
import torch

from livr.errors import ConfigError
from livr.models.masks import POLICIES, MaskPolicy, additive_mask, allowed_matrix, build_attention_mask, get_policy
from livr.models.segments import Segment as S

# [T I I P L T A A]: the docstring's example
SEQ = torch.tensor([[S.TEMPLATE, S.IMAGE, S.IMAGE, S.PROMPT, S.LATENT, S.TEMPLATE, S.ANSWER, S.ANSWER]])


def m(rows):
    return torch.tensor([[c == "1" for c in r.replace(" ", "")] for r in rows], dtype=torch.bool)


def test_bottleneck_literal():
    expected = m([
        "1 . . . . . . .",
        "1 1 . . . . . .",
        "1 1 1 . . . . .",
        "1 . . 1 . . . .",
        "1 1 1 1 1 . . .",
        "1 . . 1 1 1 . .",
        "1 . . 1 1 1 1 .",
        "1 . . 1 1 1 1 1",
    ])
    assert torch.equal(allowed_matrix(SEQ, "bottleneck")[0], expected)


def test_standard_is_causal():
    assert torch.equal(allowed_matrix(SEQ, "standard")[0], torch.tril(torch.ones(8, 8, dtype=torch.bool)))


def test_answer_bottleneck_blocks_the_row_that_predicts_the_first_answer_token():
    allowed = allowed_matrix(SEQ, "answer_bottleneck")[0]
    assert allowed[3, 1] and allowed[4, 1]  # prompt and latent rows see the image
    assert not allowed[5, 1:3].any()  # template row before the answer predicts it: blocked
    assert not allowed[6, 1:3].any() and not allowed[7, 1:3].any()


def test_latent_right_before_answer_is_blocked():
    # a latent immediately before the answer predicts it, so it must not see the image
    seq = torch.tensor([[S.TEMPLATE, S.IMAGE, S.PROMPT, S.LATENT, S.LATENT, S.ANSWER]])
    allowed = allowed_matrix(seq, "bottleneck")[0]
    assert allowed[3, 1]  # first latent sees the image
    assert not allowed[4, 1]  # last latent predicts the answer: blocked


def test_latent_blind_blocks_prompt():
    allowed = allowed_matrix(SEQ, "bottleneck_latent_blind")[0]
    assert not allowed[4, 3] and allowed[4, 1]


def test_padding_left_and_right():
    right = torch.tensor([[S.TEMPLATE, S.IMAGE, S.ANSWER, S.PAD, S.PAD]])
    left = torch.tensor([[S.PAD, S.PAD, S.TEMPLATE, S.IMAGE, S.ANSWER]])
    for seq in (right, left):
        allowed = allowed_matrix(seq, "bottleneck")[0]
        pad = seq[0] == S.PAD
        assert not allowed[:, pad].any(dim=0).logical_and(~torch.eye(5, dtype=torch.bool)[:, pad].any(0)).any()
        assert allowed.any(dim=1).all()  # no empty row
        for i in torch.nonzero(pad).flatten():
            assert allowed[i].nonzero().flatten().tolist() == [int(i)]


def test_additive_values():
    mask = build_attention_mask(SEQ, "bottleneck", dtype=torch.float32)
    assert mask.shape == (1, 1, 8, 8)
    values = set(mask.unique().tolist())
    assert values == {0.0, torch.finfo(torch.float32).min}
    assert mask.dtype == torch.float32
    assert build_attention_mask(SEQ, "bottleneck", dtype=torch.bfloat16).min() == torch.finfo(torch.bfloat16).min


def test_new_policy_is_one_declaration():
    policy = MaskPolicy("prompt_only", frozenset({(S.PROMPT, S.IMAGE)}))
    allowed = allowed_matrix(SEQ, policy)[0]
    assert not allowed[3, 1] and allowed[6, 1]


def test_registry_and_errors():
    assert set(POLICIES) >= {"standard", "bottleneck", "answer_bottleneck", "bottleneck_latent_blind"}
    assert POLICIES["standard"].is_standard and not POLICIES["bottleneck"].is_standard
    with pytest.raises(ConfigError, match="unknown mask policy 'nope'"):
        get_policy("nope")


def test_vectorised_batch_matches_rows():
    batch = torch.stack([SEQ[0], torch.tensor([S.PAD, S.TEMPLATE, S.IMAGE, S.PROMPT, S.LATENT, S.TEMPLATE, S.ANSWER, S.ANSWER])])
    both = allowed_matrix(batch, "bottleneck")
    for i in range(2):
        assert torch.equal(both[i], allowed_matrix(batch[i : i + 1], "bottleneck")[0])
    assert additive_mask(both).shape == (2, 1, 8, 8)
