"""GRPO core on tiny models: replay equals rollout (LVR latent mode and LIVR), ratios exactly 1 at
theta = theta_old, no policy loss on latent slots, constant rewards give no update, advantages."""

import copy
import json
import sys
from pathlib import Path

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


@pytest.mark.parametrize("make", [lvr_lm, livr_lm], ids=["lvr", "livr"])
def test_init_reference_equals_a_frozen_copy(make, records):
    """The KL reference by swapped-in initial weights (what run_grpo uses) gives what a frozen
    deep copy of the model gives: the same KL and statistics and bit-identical weights, over steps
    whose updates move the weights and so make the KL non-zero."""
    from livr.training.grpo import InitReference, completion_generators

    runs = []
    for kind in ("copy", "swap"):
        lm = make()
        if kind == "copy":
            ref = copy.deepcopy(lm)
            ref.model.eval()
            ref.model.requires_grad_(False)
        else:
            ref = InitReference(lm)
        params = [p for p in lm.model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=1e-2)
        lm.model.eval()
        stats = [grpo_step(lm, ref, optimizer, records, group_size=4, max_new_tokens=3, beta=0.04,
                           generator=completion_generators(0, step, 0, 4 * len(records)),
                           reward_fn=lambda recs, texts: [float(sum(map(ord, t)) % 3) for t in texts])
                 for step in range(3)]
        runs.append((stats, [p.detach().clone() for p in params]))
    (copied, w_copy), (swapped, w_swap) = runs
    assert copied == swapped
    assert copied[0]["reward_std"] > 0 and all(s["kl"] > 0 for s in copied[1:]), copied
    assert len(w_copy) == len(w_swap) and all(torch.equal(a, b) for a, b in zip(w_copy, w_swap))


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
from tests.training.test_ddp import launch_processes  # noqa: E402


@pytest.fixture(scope="module")
def sft_run(loc_data, tmp_path_factory):
    """An LVR run trained long enough (8 epochs, final weights) that, sampled at temperature 0.3
    (RESUME_FLAGS), some completions are right: advantages are non-zero in step 1, so the later
    steps depend on the weights and the AdamW state a resume must restore."""
    out = tmp_path_factory.mktemp("runs") / "lvr"
    train(load_config(None, tiny(loc_data, out, method="lvr", num_latents=None, stage1_epochs=None,
                                 stage2_epochs=8, learning_rate=1e-2, selection="final", lvr_steps=2,
                                 max_new_tokens=3)))
    return str(out)


# steps that do move the weights on sft_run (checked by assert_moves): the resume tests compare these
RESUME_FLAGS = dict(grpo_prompts=2, grpo_num_generations=4, grpo_temperature=0.3)


def assert_moves(history):
    """Step 1 has non-zero advantages and the later steps a non-zero KL: not a run of no-ops."""
    steps = [h for h in history if "reward_mean" in h]
    assert steps[0]["reward_std"] > 0 and all(h["kl"] > 0 for h in steps[1:]), steps


@pytest.fixture(scope="module")
def livr_run(loc_data, tmp_path_factory):
    """A LIVR run trained long enough (8 epochs, final weights) that sampled answers are sometimes
    right: rewards differ within a group, so GRPO steps do move the weights."""
    out = tmp_path_factory.mktemp("runs") / "livr"
    train(load_config(None, tiny(loc_data, out, stage2_epochs=8, learning_rate=1e-2, selection="final",
                                 max_new_tokens=3)))
    return str(out)


def weights(folder) -> dict[str, torch.Tensor]:
    """The trainable tensors (LoRA and latent rows) saved in `folder`: OUT/model, or a checkpoint."""
    from safetensors.torch import load_file

    return load_file(Path(folder) / "adapter_model.safetensors")


def last_checkpoint(out) -> Path:
    return max((Path(out) / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))


def grpo_config(run, out, **kw):
    values = dict(init_from=run, output_dir=str(out), grpo_steps=4, grpo_prompts=1, grpo_num_generations=2,
                  grpo_max_new_tokens=3, learning_rate=1e-2, eval_every=2, save_every=1)
    values.update(kw)
    return GrpoConfig(**values)


def test_grpo_run_logs_per_step_metrics(sft_run, tmp_path):
    metrics = run_grpo(grpo_config(sft_run, tmp_path / "g", **RESUME_FLAGS))
    assert metrics["method"] == "grpo_latent" and metrics["base_method"] == "lvr"
    steps = [h for h in metrics["history"] if "reward_mean" in h]
    assert [h["step"] for h in steps] == [1, 2, 3, 4]
    assert all(h["reward_mean"] >= 1.0 for h in steps)  # the format reward is always earned
    assert all({"kl", "clip_fraction", "accuracy", "ratio_mean"} <= set(h) for h in steps)
    assert "val_accuracy" in metrics["history"][0] and "val_accuracy" in steps[1]
    assert (tmp_path / "g" / "metrics.json").is_file()
    # OUT/model is a run folder holding the final weights (what livr eval --model reads)
    from livr.runs.folder import load_run

    lm, config = load_run(tmp_path / "g" / "model")
    assert config.method == "lvr" and lm.lvr is not None
    final = weights(last_checkpoint(tmp_path / "g"))  # the Trainer's last checkpoint, step 4
    assert last_checkpoint(tmp_path / "g").name == "checkpoint-4"
    saved = weights(tmp_path / "g" / "model")
    assert final.keys() == saved.keys() and all(torch.equal(final[k], saved[k]) for k in final)
    start = weights(sft_run)
    assert any(not torch.equal(start[k], v) for k, v in final.items())  # GRPO's, not SFT's


def test_grpo_run_is_a_trainer(sft_run, tmp_path):
    """The run is GrpoTrainer's: a TrainerCallback gets every step's log with the GRPO metrics
    (beside the Trainer's loss and its constant learning rate) and the validation at steps 0, 1, 2;
    the Trainer's checkpoints (the latest kept) and tensorboard logs are in OUT; OUT/grpo_config.yaml
    marks the folder, and a rerun with another config is refused before any step."""
    from transformers import TrainerCallback

    from livr.errors import ConfigError
    from livr.training.grpo import METRICS
    from livr.training.grpo_run import load_grpo_config

    class Record(TrainerCallback):
        def __init__(self):
            self.logs, self.saves = [], []

        def on_log(self, args, state, control, logs=None, **kwargs):
            self.logs.append((state.global_step, dict(logs)))

        def on_save(self, args, state, control, **kwargs):
            self.saves.append(state.global_step)

    seen = Record()
    config = grpo_config(sft_run, tmp_path / "g", grpo_steps=2, eval_every=1, **RESUME_FLAGS)
    metrics = run_grpo(config, callbacks=[seen])
    steps = [(step, logs) for step, logs in seen.logs if "loss" in logs]
    assert [step for step, _ in steps] == [1, 2]
    for _, logs in steps:
        assert set(METRICS) <= set(logs) and logs["learning_rate"] == config.learning_rate
    assert [step for step, logs in seen.logs if "eval_accuracy" in logs] == [0, 1, 2]
    assert seen.saves == [1, 2]
    assert [h["step"] for h in metrics["history"]] == [0, 1, 2]
    assert metrics["history"][1] == {"step": 1, **{k: steps[0][1][k] for k in METRICS},
                                     "val_accuracy": metrics["history"][1]["val_accuracy"]}
    out = tmp_path / "g"
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["checkpoint-2"]  # save_total_limit 1
    assert {"trainer_state.json", "optimizer.pt", "adapter_model.safetensors"} <= {
        p.name for p in (out / "checkpoints" / "checkpoint-2").iterdir()}
    assert list((out / "logs").rglob("events.out.tfevents.*"))  # report_to: tensorboard (the default)
    assert load_grpo_config(str(out / "grpo_config.yaml")) == config
    with pytest.raises(ConfigError, match="another config.*grpo_beta: the run has 0.04, now 0.1"):
        run_grpo(grpo_config(sft_run, out, grpo_steps=2, eval_every=1, grpo_beta=0.1, **RESUME_FLAGS))
    # a logging option is not part of what the run computes: a rerun may change it
    again = run_grpo(grpo_config(sft_run, out, grpo_steps=2, eval_every=1, report_to=["none"], **RESUME_FLAGS))
    assert again["history"] == metrics["history"]


def test_grpo_resume_equals_an_uninterrupted_run(sft_run, tmp_path):
    whole = run_grpo(grpo_config(sft_run, tmp_path / "whole", **RESUME_FLAGS))
    assert_moves(whole["history"])
    part = run_grpo(grpo_config(sft_run, tmp_path / "part", **RESUME_FLAGS), stop_after=2)
    assert part["steps_done"] == 2 and not (tmp_path / "part" / "metrics.json").exists()
    resumed = run_grpo(grpo_config(sft_run, tmp_path / "part", **RESUME_FLAGS))
    assert resumed["history"] == whole["history"]


def test_grpo_prompts_from_another_data_folder(sft_run, mixed_data, tmp_path):
    """`data` replaces the supervised run's data (LVR's RL used other data than its SFT)."""
    metrics = run_grpo(grpo_config(sft_run, tmp_path / "g", data=mixed_data, grpo_steps=1, grpo_prompts=4,
                                   eval_every=0))
    assert metrics["data"] == mixed_data and metrics["tasks"] == ["counting", "localization"]
    assert metrics["history"][0]["step"] == 1 and len(metrics["history"]) == 1


def test_grpo_config_errors_name_the_option():
    from livr.errors import ConfigError

    with pytest.raises(ConfigError, match="grpo_num_generations"):
        GrpoConfig(init_from="a", output_dir="b", grpo_num_generations=1)
    with pytest.raises(ConfigError, match="grpo_temperature"):
        GrpoConfig(init_from="a", output_dir="b", grpo_temperature=0)
    assert all(GrpoConfig.help().values())


def test_grpo_resume_after_sigkill(sft_run, tmp_path):
    """`livr grpo` killed (SIGKILL) in its third step, two steps saved; run again, it ends with
    the history and the weights of an uninterrupted run, on steps that do move the weights."""
    from livr.cli.main import main
    from tests.faults import run_killed

    flags = ["--init-from", sft_run, "--grpo_steps", "4", "--grpo_max_new_tokens", "3", "--learning_rate", "1e-2",
             "--eval_every", "2", "--save_every", "1"]
    flags += [x for k, v in RESUME_FLAGS.items() for x in (f"--{k}", str(v))]
    out = tmp_path / "killed"
    run_killed(["grpo", *flags, "--out", str(out)], tmp_path / "child", stall="livr.training.grpo:grpo_backward",
               call=3, preload=("torch", "transformers", "peft"))
    assert last_checkpoint(out).name == "checkpoint-2" and not (out / "metrics.json").exists()
    assert main(["grpo", *flags, "--out", str(out)]) == 0
    assert main(["grpo", *flags, "--out", str(tmp_path / "whole")]) == 0
    history = [json.loads((p / "metrics.json").read_text())["history"] for p in (out, tmp_path / "whole")]
    assert history[0] == history[1] and len(history[0]) == 5
    assert_moves(history[1])
    final = [weights(p / "model") for p in (out, tmp_path / "whole")]
    assert final[0].keys() == final[1].keys()
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])


def test_train_method_grpo_equals_livr_grpo(sft_run, tmp_path):
    """`livr train --method grpo` runs what `livr grpo` runs: on steps that move the weights, the
    same history, bit-identical trainable weights and a byte-identical OUT/model adapter."""
    from livr.cli.main import main

    fields = dict(grpo_steps=3, grpo_max_new_tokens=3, learning_rate=1e-2, eval_every=2, save_every=1,
                  **RESUME_FLAGS)
    flags = [x for k, v in fields.items() for x in (f"--{k}", str(v))]
    a, b = tmp_path / "train", tmp_path / "grpo"
    assert main(["train", "--method", "grpo", "--init_from", sft_run, *flags, "--out", str(a)]) == 0
    assert main(["grpo", "--init-from", sft_run, *flags, "--out", str(b)]) == 0
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert ma["config"] == {**mb["config"], "output_dir": str(a)} and ma["history"] == mb["history"]
    assert_moves(ma["history"])
    wa, wb = (weights(last_checkpoint(d)) for d in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    adapter = "model/adapter_model.safetensors"
    assert (a / adapter).read_bytes() == (b / adapter).read_bytes()
    # livr train's folder rules: a finished GRPO folder needs --resume (nothing left to do) or --overwrite
    assert main(["train", "--method", "grpo", "--init_from", sft_run, *flags, "--out", str(a)]) == 2
    assert main(["train", "--method", "grpo", "--init_from", sft_run, *flags, "--out", str(a), "--resume"]) == 0
    assert json.loads((a / "metrics.json").read_text())["history"] == ma["history"]


def test_train_method_grpo_errors_name_the_option(sft_run, tmp_path, capsys):
    from livr.cli.main import main
    from livr.errors import ConfigError
    from livr.runs.config import LivrTrainingConfig

    def error(*argv):
        assert main(["train", *argv]) == 2
        return capsys.readouterr().err

    out = str(tmp_path / "out")
    assert "init_from" in error("--method", "grpo", "--out", out)  # not given
    missing = error("--method", "grpo", "--init_from", str(tmp_path / "nope"), "--out", out)
    assert f"init_from {tmp_path / 'nope'} does not exist" in missing
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text((Path(sft_run) / "config.yaml").read_text())
    text = error("--method", "grpo", "--init_from", str(unfinished), "--out", out)
    assert f"init_from {unfinished} is not a finished run (no metrics.json)" in text
    assert not Path(out).exists()  # checked before anything is written
    assert "is not a livr run folder" in error("--method", "grpo", "--init_from", str(tmp_path), "--out", out)
    text = error("--method", "grpo", "--init_from", sft_run, "--out", out, "--num_latents", "4", "--grpo_steps", "x")
    assert "--num_latents" in text and "GrpoConfig" in text
    assert "grpo_steps expects an integer" in error("--method", "grpo", "--init_from", sft_run, "--out", out,
                                                    "--grpo_steps", "x")
    assert "--grpo_steps: field(s) of method grpo only" in error("--model", "tiny:qwen2_5_vl", "--out", out,
                                                                 "--grpo_steps", "3")
    with pytest.raises(ConfigError, match="method grpo continues a finished run"):
        LivrTrainingConfig(model="m", data="d", output_dir="o", method="grpo").resolved()
    with pytest.raises(ConfigError, match="init_from .* does not exist"):  # livr grpo checks it too
        run_grpo(grpo_config(str(tmp_path / "nope"), tmp_path / "g"))


def test_per_completion_generators_make_a_sample_independent_of_its_batch(records):
    """A completion drawn with its own generator is the same alone or next to other prompts: what
    lets two processes sample what one process samples."""
    from livr.training.grpo import completion_generators

    lm = livr_lm()
    both = rollout(lm, records[:2], group_size=2, max_new_tokens=4, generator=completion_generators(0, 5, 0, 4))
    second = rollout(lm, records[1:2], group_size=2, max_new_tokens=4, generator=completion_generators(0, 5, 2, 2))
    for a, b in zip(both.tokens[2:], second.tokens, strict=True):
        assert torch.equal(a, b)
    other = rollout(lm, records[1:2], group_size=2, max_new_tokens=4, generator=completion_generators(0, 6, 2, 2))
    assert any(not torch.equal(a, b) for a, b in zip(other.tokens, second.tokens))  # the step re-seeds


def test_grpo_two_processes_match_one(livr_run, tmp_path):
    """torchrun, 2 CPU processes (gloo), one prompt each, against one process with both prompts:
    the same completions (per-completion generators), so the same rewards and validation
    accuracy; KL, ratios and weights equal up to float summation order."""
    sft_run = livr_run
    flags = dict(grpo_steps=3, grpo_prompts=2, grpo_num_generations=4, eval_every=3, save_every=3)
    one = run_grpo(grpo_config(sft_run, tmp_path / "one", **flags))
    assert one["method"] == "grpo" and any(h.get("reward_std", 0) > 0 for h in one["history"])  # an update
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    argv = ["grpo", "--init-from", sft_run, "--out", str(tmp_path / "two")]
    for k, v in vars(grpo_config(sft_run, tmp_path / "two", **flags)).items():
        if k not in ("init_from", "output_dir") and v is not None:
            argv += [f"--{k}", ",".join(v) if isinstance(v, list) else str(v)]
    launch_processes(torchrun, argv)
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["num_processes"] == 2 and one["num_processes"] == 1
    assert len(two["history"]) == len(one["history"]) == 4
    for a, b in zip(one["history"], two["history"], strict=True):
        assert a.keys() == b.keys() and a["step"] == b["step"]
        for key in ("reward_mean", "reward_std", "accuracy", "val_accuracy"):
            assert a.get(key) == pytest.approx(b.get(key), abs=1e-9), (a["step"], key)
        for key in ("kl", "ratio_mean", "clip_fraction"):
            assert a.get(key) == pytest.approx(b.get(key), abs=1e-5), (a["step"], key)
    wa, wb = (weights(d / "model") for d in (tmp_path / "one", tmp_path / "two"))
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=1e-5, rtol=1e-4)
    start = weights(sft_run)
    assert any(not torch.allclose(wa[k], start[k]) for k in wa)  # the weights did move


