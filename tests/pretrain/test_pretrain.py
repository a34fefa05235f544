"""The pretraining loop: schedule, deterministic batches, checkpoints and exact resume."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from livr.errors import ConfigError
from livr.pretrain import train as pt


def _config(out, **kw):
    values = dict(out=str(out), steps=4, batch_size=2, eval_every=2, checkpoint_every=2, pool_size=12,
                  eval_examples=4, warmup_steps=1, curriculum=[[0, 0], [2, 1]])
    values.update(kw)
    return pt.PretrainConfig(**values)


def test_schedule_and_curriculum():
    c = pt.PretrainConfig(out="x", steps=100, warmup_steps=10, decay_share=0.2, learning_rate=1e-3)
    assert pt.learning_rate(c, 0) == pytest.approx(1e-4)
    assert pt.learning_rate(c, 50) == pytest.approx(1e-3)
    assert pt.learning_rate(c, 99) < pt.learning_rate(c, 81) < 1e-3
    assert [pt.level_at(c, s) for s in (0, 2499, 2500, 5999, 6000)] == [0, 0, 1, 1, 2]


def test_batches_depend_only_on_seed_and_step():
    c = _config("x", replay=0.5)
    a, b = pt.Pools(c), pt.Pools(c)
    assert [r["id"] for r in a.batch(3)] == [r["id"] for r in b.batch(3)]
    assert [r["id"] for r in a.batch(3)] != [r["id"] for r in a.batch(2)]


def test_resume_after_a_crash_gives_the_same_model(tmp_path, monkeypatch):
    straight = pt.pretrain(_config(tmp_path / "straight"), log=lambda _: None)

    real_save = pt.save_checkpoint

    def crash_after_first(out, step, *args, **kwargs):
        real_save(out, step, *args, **kwargs)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(pt, "save_checkpoint", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        pt.pretrain(_config(tmp_path / "resumed"), log=lambda _: None)
    monkeypatch.setattr(pt, "save_checkpoint", real_save)
    with pytest.raises(ConfigError, match="--resume"):
        pt.pretrain(_config(tmp_path / "resumed"), log=lambda _: None)
    resumed = pt.pretrain(_config(tmp_path / "resumed"), resume=True, log=lambda _: None)

    a = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert straight["final"] == resumed["final"]
    lines = [json.loads(x) for x in (tmp_path / "resumed" / "progress.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [2, 4]


def test_resume_drops_progress_lines_after_the_checkpoint(tmp_path, monkeypatch):
    """Killed after logging step 3 but before its checkpoint: the resumed run redoes step 3 and
    logs it once; progress.jsonl is never a half-written line."""
    config = _config(tmp_path / "run", steps=3, eval_every=1, checkpoint_every=2, eval_examples=1)
    real_save = pt.save_checkpoint

    def crash_at_step_3(out, step, *args, **kwargs):
        if step == 3:
            raise KeyboardInterrupt("killed")
        real_save(out, step, *args, **kwargs)

    monkeypatch.setattr(pt, "save_checkpoint", crash_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        pt.pretrain(config, log=lambda _: None)
    progress = tmp_path / "run" / "progress.jsonl"
    assert [json.loads(x)["step"] for x in progress.read_text().splitlines()] == [1, 2, 3]
    monkeypatch.setattr(pt, "save_checkpoint", real_save)
    pt.pretrain(config, resume=True, log=lambda _: None)
    assert [json.loads(x)["step"] for x in progress.read_text().splitlines()] == [1, 2, 3]
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]


def test_finished_output_installs_and_loads(tmp_path, monkeypatch):
    from livr import load_backbone
    from livr.pretrain import base

    pt.pretrain(_config(tmp_path / "run", steps=1, eval_every=1, checkpoint_every=1), log=lambda _: None)
    monkeypatch.setattr(base, "ASSET_DIR", tmp_path / "assets" / "livr-tiny")
    assert pt.install(tmp_path / "run") == tmp_path / "assets" / "livr-tiny"
    lm = load_backbone("livr-tiny", num_latents=4)
    assert lm.adapter.family == "qwen2_5_vl" and len(lm.latent_ids) == 4
    assert lm.processor.image_processor.size.longest_edge == base.MAX_PIXELS  # (max pixels)
    monkeypatch.setattr(base, "ASSET_DIR", tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="pretrain-base"):
        load_backbone("livr-tiny")


def test_a_continuation_starts_from_the_given_weights_on_the_skill_level(tmp_path):
    first = pt.pretrain(_config(tmp_path / "first", steps=1, eval_every=1, checkpoint_every=1), log=lambda _: None)
    source = load_file(str(tmp_path / "first" / "model" / "model.safetensors"))
    # learning rate 0: the continuation's model must be exactly the weights it started from
    still = _config(tmp_path / "still", steps=1, eval_every=1, checkpoint_every=1, learning_rate=0.0,
                    weight_decay=0.0, curriculum=[[0, 3]], replay=0.5, init_from=str(tmp_path / "first" / "model"))
    report = pt.pretrain(still, log=lambda _: None)
    kept = load_file(str(tmp_path / "still" / "model" / "model.safetensors"))
    assert kept.keys() == source.keys() and all((kept[k] == source[k]).all() for k in source)
    assert set(report["final"]["levels"]) == {"0", "1", "2", "3"} and set(first["final"]["levels"]) == {"0", "1"}
    assert "pretrain/grid_step" in report["final"]["families"]
    moved = pt.pretrain(_config(tmp_path / "moved", steps=1, eval_every=1, checkpoint_every=1, curriculum=[[0, 3]],
                                init_from=str(tmp_path / "first" / "model")), log=lambda _: None)
    changed = load_file(str(tmp_path / "moved" / "model" / "model.safetensors"))
    assert moved["steps"] == 1 and any(not (changed[k] == source[k]).all() for k in source)
    with pytest.raises(ConfigError, match="init_from .*nowhere"):
        pt.pretrain(_config(tmp_path / "bad", init_from=str(tmp_path / "nowhere")), log=lambda _: None)
    with pytest.raises(ConfigError, match="not levels of the mix"):
        _config(tmp_path / "bad2", curriculum=[[0, 4]]).check()


def test_a_continuation_can_change_the_rope_base(tmp_path):
    pt.pretrain(_config(tmp_path / "first", steps=1, eval_every=1, checkpoint_every=1), log=lambda _: None)
    model, _, _ = pt._start_from(str(tmp_path / "first" / "model"), rope_theta=4.0)
    assert model.config.text_config.rope_parameters["rope_theta"] == 4.0
    plain, _, _ = pt._start_from(str(tmp_path / "first" / "model"))
    assert plain.config.text_config.rope_parameters["rope_theta"] == 16.0
    a, b = model.state_dict(), plain.state_dict()
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # same weights, another rope base
    with pytest.raises(ConfigError, match="rope_theta"):
        _config(tmp_path / "x", rope_theta=4.0).check()  # only for a continuation


def test_a_qwen3_vl_base_pretrains_loads_and_continues_in_its_family(tmp_path, monkeypatch):
    from livr import load_backbone
    from livr.pretrain import base
    from livr.pretrain.mix import generate_mix

    pt.pretrain(_config(tmp_path / "q3", steps=1, eval_every=1, checkpoint_every=1, family="qwen3_vl"),
                log=lambda _: None)  # the dense heads check one label per image token of the tower
    lm = load_backbone(str(tmp_path / "q3" / "model"), num_latents=2)
    assert lm.adapter.family == "qwen3_vl" and lm.model.config.vision_config.num_position_embeddings > 0
    assert lm.model.config.text_config.rope_parameters["mrope_interleaved"] is True
    record = generate_mix(1, seed=0, level=3, split="heldout")[0]
    assert record["images"][0].size == (112, 112)
    grid = lm.processor.image_processor(images=record["images"], return_tensors="pt")["image_grid_thw"]
    assert grid.tolist() == [[1, 8, 8]]  # resized to 128 px: 4 x 4 merged tokens, as livr-tiny's 16
    model, _, adapter = pt._start_from(str(tmp_path / "q3" / "model"))
    assert adapter.family == "qwen3_vl" and type(model).__name__ == "Qwen3VLForConditionalGeneration"
    monkeypatch.setattr(base, "ASSET_DIR", tmp_path / "assets" / "livr-tiny")
    assert pt.install(tmp_path / "q3") == tmp_path / "assets" / "livr-tiny-qwen3"  # beside, not over, livr-tiny
    assert load_backbone("livr-tiny-qwen3").adapter.family == "qwen3_vl"
    assert not (tmp_path / "assets" / "livr-tiny").exists()
    with pytest.raises(ConfigError, match="family 'llava'"):
        _config(tmp_path / "x", family="llava").check()


@pytest.mark.parametrize("name", ["livr-tiny", "livr-tiny-qwen3"])
def test_each_shipped_base_answers_held_out_questions_of_the_first_level(name):
    """The shipped weights are a pretrained model, not a random one: level 0 of the mix (colour,
    shape, position, letter choice of one big object; chance about 0.3) answered well above chance."""
    import torch

    from livr.pretrain.mix import generate_mix
    from livr.pretrain.train import evaluate

    torch.manual_seed(0)
    lm = pt.build(pt.PretrainConfig(out="unused", init_from=name))
    lm.model.eval()
    scores = evaluate(lm, {0: generate_mix(60, seed=0, level=0, split="heldout")})
    assert scores["levels"]["0"] >= 0.55, scores
