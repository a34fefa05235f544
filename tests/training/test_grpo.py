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


# -- the run: init_from a supervised run, metrics, resume ------------------------------------

from livr.training import load_config, train  # noqa: E402
from livr.training.grpo_run import GrpoConfig, run_grpo  # noqa: E402
from tests.training.conftest import tiny  # noqa: E402


@pytest.fixture(scope="module")
def sft_run(loc_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "lvr"
    train(load_config(None, tiny(loc_data, out, method="lvr", num_latents=None, stage1_epochs=None,
                                 stage2_epochs=1, lvr_steps=2, max_new_tokens=3)))
    return str(out)


def grpo_config(run, out, **kw):
    values = dict(init_from=run, output_dir=str(out), grpo_steps=4, grpo_prompts=1, grpo_num_generations=2,
                  grpo_max_new_tokens=3, learning_rate=1e-2, eval_every=2, save_every=1)
    values.update(kw)
    return GrpoConfig(**values)


def test_grpo_run_logs_per_step_metrics(sft_run, tmp_path):
    metrics = run_grpo(grpo_config(sft_run, tmp_path / "g"))
    assert metrics["method"] == "grpo_latent" and metrics["base_method"] == "lvr"
    steps = [h for h in metrics["history"] if "reward_mean" in h]
    assert [h["step"] for h in steps] == [1, 2, 3, 4]
    assert all(h["reward_mean"] >= 1.0 for h in steps)  # the format reward is always earned
    assert all({"kl", "clip_fraction", "accuracy", "ratio_mean"} <= set(h) for h in steps)
    assert "val_accuracy" in metrics["history"][0] and "val_accuracy" in steps[1]
    assert (tmp_path / "g" / "metrics.json").is_file()


def test_grpo_resume_equals_an_uninterrupted_run(sft_run, tmp_path):
    whole = run_grpo(grpo_config(sft_run, tmp_path / "whole"))
    part = run_grpo(grpo_config(sft_run, tmp_path / "part"), stop_after=2)
    assert part["steps_done"] == 2 and not (tmp_path / "part" / "metrics.json").exists()
    resumed = run_grpo(grpo_config(sft_run, tmp_path / "part"))
    assert resumed["history"] == whole["history"]


def test_grpo_config_errors_name_the_option():
    from livr.errors import ConfigError

    with pytest.raises(ConfigError, match="grpo_num_generations"):
        GrpoConfig(init_from="a", output_dir="b", grpo_num_generations=1)
    with pytest.raises(ConfigError, match="grpo_temperature"):
        GrpoConfig(init_from="a", output_dir="b", grpo_temperature=0)
    assert all(GrpoConfig.help().values())


def test_grpo_resume_after_sigkill(sft_run, tmp_path):
    """`livr grpo` killed (SIGKILL) in its third step, two steps saved; run again, it ends with
    the history of an uninterrupted run."""
    import json

    from livr.cli.main import main
    from tests.faults import run_killed

    flags = ["--init-from", sft_run, "--grpo_steps", "4", "--grpo_prompts", "1", "--grpo_num_generations", "2",
             "--grpo_max_new_tokens", "3", "--learning_rate", "1e-2", "--eval_every", "2", "--save_every", "1"]
    out = tmp_path / "killed"
    run_killed(["grpo", *flags, "--out", str(out)], tmp_path / "child", stall="livr.training.grpo:grpo_step",
               call=3, preload=("torch", "transformers", "peft"))
    assert (out / "grpo_state.pt").is_file() and not (out / "metrics.json").exists()
    assert main(["grpo", *flags, "--out", str(out)]) == 0
    assert main(["grpo", *flags, "--out", str(tmp_path / "whole")]) == 0
    history = [json.loads((p / "metrics.json").read_text())["history"] for p in (out, tmp_path / "whole")]
    assert history[0] == history[1] and len(history[0]) == 5
