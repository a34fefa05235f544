"""The method registry (`livr.methods`): every method's declaration matches what the paper's
Direct SFT, LIVR and Table 3 ablations train, and the config and trainer read it from there."""

from __future__ import annotations

import pytest

from livr.errors import ConfigError
from livr.methods import ANSWER_NLL, METHODS, LossTerm, Method, Stage, get_method
from livr.models.masks import POLICIES

# name: (K, [(stage, mask, epochs)], trainable parts, image repeats)
EXPECTED = {
    "sft": (0, [(2, "standard", 10)], ("lora",), 1),
    "livr": (16, [(1, "bottleneck", 4), (2, "standard", 6)], ("lora", "latents"), 1),
    "latents_only": (16, [(2, "standard", 10)], ("lora", "latents"), 1),
    "mask_only": (0, [(1, "answer_bottleneck", 4), (2, "standard", 6)], ("lora",), 1),
    "image_twice": (0, [(2, "standard", 10)], ("lora",), 2),
    "prompt_tuning": (16, [(2, "standard", 10)], ("latents",), 1),
}


def test_the_registry_holds_the_methods_in_order():
    assert list(METHODS) == list(EXPECTED) + ["lvr", "mirage", "grpo"]
    assert all(get_method(name) is METHODS[name] for name in EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_method_declares_todays_stages(name):
    k, stages, trainable, repeats = EXPECTED[name]
    m = get_method(name)
    assert m.num_latents == k and m.latents == (k > 0)
    assert [(s.number, s.mask, s.epochs) for s in m.stages] == stages
    assert all(s.trainable == trainable for s in m.stages) and m.lora == ("lora" in trainable)
    assert m.image_repeats == repeats and m.decoding == "greedy"
    assert all(s.losses == (ANSWER_NLL,) and s.extra_losses == () for s in m.stages)
    assert all(s.mask in POLICIES for s in m.stages)
    # the views the config reads: (stage1_epochs, stage2_epochs) defaults and the stage-1 mask
    by_number = {s: (mask, e) for s, mask, e in stages}
    assert m.epochs == (by_number.get(1, (None, 0))[1], by_number[2][1])
    assert m.stage1_mask == by_number.get(1, (None, 0))[0]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_config_resolves_to_the_methods_stages(name):
    from livr.runs.config import LivrTrainingConfig

    c = LivrTrainingConfig(model="tiny:qwen2_5_vl", data="d", output_dir="o", method=name).resolved()
    assert c.stages() == EXPECTED[name][1] and c.num_latents == EXPECTED[name][0]
    assert c.method_spec is METHODS[name]


def test_an_unknown_method_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"method 'lrv' is unknown; choose one of sft, livr, latents_only"):
        get_method("lrv")


def test_lvr_is_one_stage_with_its_own_forward_and_latent_decoding():
    from livr.runs.config import LivrTrainingConfig

    m = get_method("lvr")
    assert m.num_latents == 0 and m.decoding == "latent" and m.forward is not None
    assert [(s.number, s.mask) for s in m.stages] == [(2, "standard")]
    c = LivrTrainingConfig(model="tiny:qwen2_5_vl", data="d", output_dir="o", method="lvr").resolved()
    assert c.lvr_spec().steps == 8 and c.lvr_spec().lam == 0.1
    with pytest.raises(ConfigError, match="lvr_steps is set but method sft is not lvr"):
        LivrTrainingConfig(model="m", data="d", output_dir="o", method="sft", lvr_steps=4).resolved()
    with pytest.raises(ConfigError, match="lvr_exit must be one of"):
        LivrTrainingConfig(model="m", data="d", output_dir="o", method="lvr", lvr_exit="never").resolved()


def test_grpo_continues_a_finished_run_and_has_a_runner():
    """GRPO is declared like any method, with no stage of its own; `livr train` runs every
    declared kind of training (livr.cli.train.RUNNERS) and the supervised config refuses it."""
    from livr.cli.train import RUNNERS
    from livr.methods.base import TRAININGS
    from livr.runs.config import LivrTrainingConfig

    m = get_method("grpo")
    assert m.training == "grpo" and not m.supervised and m.stages == () and not m.lora and not m.latents
    assert all(x.supervised for x in METHODS.values() if x is not m)
    assert tuple(RUNNERS) == TRAININGS and all(x.training in RUNNERS for x in METHODS.values())
    with pytest.raises(ConfigError, match="method grpo continues a finished run"):
        LivrTrainingConfig(model="m", data="d", output_dir="o", method="grpo").resolved()


def test_a_bad_declaration_fails_when_declared():
    stage = Stage(2, mask="standard", epochs=1, epochs_field="stage2_epochs")
    with pytest.raises(ValueError, match="num_latents=0"):
        Method("x", "trains latent rows without latents", stages=(stage,))
    with pytest.raises(ValueError, match="unknown training"):
        Method("x", "", stages=(stage,), training="ppo")
    with pytest.raises(ValueError, match="declares no stage"):
        Method("x", "", stages=(stage,), training="grpo")
    with pytest.raises(ValueError, match="declares no stage"):
        Method("x", "", stages=())
    with pytest.raises(ValueError, match="unknown decoding"):
        Method("x", "", stages=(stage,), num_latents=4, decoding="beam")
    with pytest.raises(ValueError, match="unknown trainable"):
        Stage(2, mask="standard", epochs=1, epochs_field="stage2_epochs", trainable=("vision",))
    with pytest.raises(ValueError, match="ANSWER_NLL"):
        Stage(2, mask="standard", epochs=1, epochs_field="stage2_epochs", losses=(LossTerm("mse"),))


def test_the_old_names_are_the_new_objects():
    import livr.evaluation.answers
    import livr.evaluation.generate
    import livr.inference.answers
    import livr.inference.generate
    import livr.runs.config
    import livr.training.config
    from livr.inference.chat_template import latent_chat_template
    from livr.runs.folder import resolve_dtype
    from livr.training import METHODS as training_methods
    from livr.training.export import latent_chat_template as old_template
    from livr.training.run import _dtype

    assert livr.training.config is livr.runs.config and livr.training.config.METHODS is METHODS
    assert livr.evaluation.generate is livr.inference.generate
    assert livr.evaluation.answers is livr.inference.answers
    assert training_methods is METHODS and old_template is latent_chat_template and _dtype is resolve_dtype


def test_an_extra_loss_term_is_added_to_the_answer_nll():
    """The hook a method's stage uses for more loss terms: LivrTrainer adds weight * term."""
    import torch

    from livr.training.trainer import LivrTrainer

    class Out(dict):
        pass

    seen = []

    def term(lm, inputs, outputs):
        seen.append((lm, inputs["x"]))
        return torch.tensor(3.0)

    from transformers import Trainer

    base = torch.tensor(2.0)

    class ModelLoss(Trainer):  # stands for the model's own loss (LivrTrainer's super().compute_loss)
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            assert inputs == {"m": 7}
            return (base, Out(loss=base)) if return_outputs else base

    class Probe(LivrTrainer, ModelLoss):
        pass

    trainer = Probe.__new__(Probe)  # only compute_loss is exercised
    trainer.extra_losses = (LossTerm("three", term, weight=0.5),)
    trainer.method_forward = None
    trainer.mask_policy = "standard"
    trainer.lm = type("LM", (), {"model_inputs": staticmethod(lambda inputs, policy: {"m": inputs["x"]})})()
    model = torch.nn.Module()
    model.eval()
    loss, outputs = trainer.compute_loss(model, {"x": 7}, return_outputs=True)
    assert float(loss) == 2.0 + 0.5 * 3.0 and seen == [(trainer.lm, 7)] and float(outputs["loss"]) == 2.0
    trainer.extra_losses = ()
    assert float(trainer.compute_loss(model, {"x": 7})) == 2.0 and len(seen) == 1


def test_every_declared_decoding_has_a_decoder():
    from livr.inference.generate import DECODERS, decoder, generate_answers
    from livr.methods.base import DECODINGS

    assert tuple(DECODERS) == DECODINGS and decoder("greedy") is generate_answers
    assert all(m.decoding in DECODERS for m in METHODS.values())
    with pytest.raises(ConfigError, match="decoding 'beam' is unknown; choose one of greedy"):
        decoder("beam")
