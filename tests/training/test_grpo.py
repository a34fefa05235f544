"""GRPO core on tiny models: replay equals rollout (LVR latent mode and LIVR), ratios exactly 1 at
theta = theta_old, no policy loss on latent slots, constant rewards give no update, advantages."""

import copy

import pytest
import torch

from livr import load_backbone
from livr.models.lvr import LvrSpec
from livr.training.grpo import group_advantages, grpo_loss, grpo_step, replay_logprobs, rewards, rollout


def lvr_lm(seed=3):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=0, lvr=LvrSpec(steps=3), seed=seed)
    lm.roi_tokens = lambda record, vision, rid: [0, 1, 3]  # prompts only: the ROI is never read
    return lm


def livr_lm(seed=3):
    return load_backbone("tiny:qwen2_5_vl", num_latents=2, seed=seed)


@pytest.mark.parametrize("make", [lvr_lm, livr_lm], ids=["lvr", "livr"])
def test_replay_equals_rollout_and_ratios_are_one(make, records):
    lm = make()
    roll = rollout(lm, records, group_size=2, max_new_tokens=4, temperature=1.0,
                   generator=torch.Generator().manual_seed(0))
    assert len(roll.tokens) == 4 and all(len(t) for t in roll.tokens)
    if lm.lvr is not None:
        assert [len(x) for x in roll.latents] == [3] * 4
    else:
        assert roll.latents is None
    lm.model.eval()
    for i in range(4):
        with torch.no_grad():
            replayed = replay_logprobs(lm, roll, i)
        torch.testing.assert_close(replayed.cpu(), roll.logprobs[i], rtol=1e-4, atol=1e-4)
        loss, stats = grpo_loss(replayed, replayed.detach(), replayed.detach(), torch.tensor(1.0))
        assert stats["ratio_mean"] == 1.0 and stats["clip_fraction"] == 0.0 and stats["kl"] == 0.0


def test_latent_replay_depends_on_the_recorded_states(records):
    """The slots take the recorded hidden states (not the slot token's embedding): other states
    give other log-probs. And the slots themselves are not scored: one log-prob per text token."""
    lm = lvr_lm()
    roll = rollout(lm, records[:1], group_size=1, max_new_tokens=4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        base = replay_logprobs(lm, roll, 0)
        assert base.shape == roll.tokens[0].shape  # text tokens only: no slot, no <|lvr_end|>
        roll.latents[0] = roll.latents[0] + 5.0
        moved = replay_logprobs(lm, roll, 0)
    assert not torch.allclose(base, moved)


def test_group_advantages():
    adv = group_advantages(torch.tensor([1.0, 0.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]), 4)
    assert adv[4:].abs().max() == 0
    assert adv[:4].sum().abs() < 1e-5 and adv[1] < 0 < adv[0]
    with pytest.raises(ValueError, match="groups of 3"):
        group_advantages(torch.ones(4), 3)


def test_rewards_accuracy_and_lvr_format():
    records = [{"task": "counting", "answer": "3", "prompt": "how many?"}] * 2
    reward, accuracy = rewards(records, ["3", "four"], lvr=True)
    assert accuracy.tolist() == [1.0, 0.0] and reward.tolist() == [2.0, 1.0]
    reward, _ = rewards(records, ["3", "four"], lvr=False)
    assert reward.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("make", [lvr_lm, livr_lm], ids=["lvr", "livr"])
def test_constant_reward_gives_no_update(make, records):
    lm = make()
    ref = copy.deepcopy(lm)
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD([p for p in lm.model.parameters() if p.requires_grad], lr=1.0)
    stats = grpo_step(lm, ref, optimizer, records, group_size=2, max_new_tokens=3,
                      generator=torch.Generator().manual_seed(0), reward_fn=lambda r, t: [0.5] * len(t))
    assert stats["ratio_mean"] == pytest.approx(1.0) and stats["kl"] == 0.0
    for n, p in lm.model.named_parameters():
        if n in before:
            assert torch.equal(p, before[n]), n


def test_a_reward_moves_the_policy_towards_rewarded_tokens(records):
    """A reward for the completions starting with one token raises that token's probability."""
    lm = lvr_lm()
    ref = copy.deepcopy(lm)
    gen = torch.Generator().manual_seed(0)
    roll = rollout(lm, records[:1], group_size=8, max_new_tokens=2, generator=torch.Generator().manual_seed(0))
    firsts = [int(t[0]) for t in roll.tokens]
    target = max(set(firsts), key=firsts.count)
    if firsts.count(target) == len(firsts):
        pytest.skip("every sample starts alike")
    optimizer = torch.optim.Adam([p for p in lm.model.parameters() if p.requires_grad], lr=1e-2)
    roll0 = roll
    with torch.no_grad():
        before = replay_logprobs(lm, roll0, firsts.index(target))[0]
    for _ in range(3):
        grpo_step(lm, ref, optimizer, records[:1], group_size=8, max_new_tokens=2, generator=gen, beta=0.0,
                  reward_fn=lambda recs, texts: [float(lm.tokenizer.encode(t)[:1] == [target]) if t else 0.0
                                                 for t in texts])
    with torch.no_grad():
        after = replay_logprobs(lm, roll0, firsts.index(target))[0]
    assert after > before
