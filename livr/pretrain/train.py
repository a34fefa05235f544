"""`livr pretrain-base`: pretrain livr-tiny from random init on the synthetic instruction mix.

A plain PyTorch loop (nanoGPT-style: everything visible), because it trains every parameter of a
model without adapters and must run for tens of minutes on one CPU core with checkpoints:

- curriculum (`PretrainConfig.curriculum`): level 0 (one object, plain background) first, then
  levels 1 and 2 (`livr.pretrain.mix`), with a share of earlier levels replayed;
- AdamW, linear warm-up, constant learning rate, linear decay over the last `decay_share`;
  loss on answer tokens only (the collator's labels), gradient clipping;
- the batch of step s is drawn from a generator seeded by (seed, s), and the pools of records
  are regenerated deterministically, so a resumed run is identical to an uninterrupted one;
- every `checkpoint_every` steps: weights (safetensors), optimizer (torch.save, read back with
  weights_only=True), step, written under a temporary name and renamed; `--resume` continues
  from the newest complete checkpoint;
- every `eval_every` steps: greedy answers on a held-out set of every level (another random
  stream of the generator), exact match per family, appended to progress.jsonl (the file is
  rewritten atomically; a resumed run first drops the lines after its checkpoint, which it redoes).

The result, OUT/model, is a transformers model folder (safetensors, config, tokenizer,
processor) that `load_backbone` loads; `livr pretrain-base --install` also copies it to
`livr/assets/livr-tiny`, where `load_backbone("livr-tiny")` finds it. OUT/report.json holds the
cost (steps, seconds, parameters) and the final held-out accuracies.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livr.errors import ConfigError
from livr.io import atomic_dir, atomic_write_json, atomic_write_text, discard
from livr.pretrain.config import PretrainConfig

CHECKPOINTS = "checkpoints"
PROGRESS = "progress.jsonl"
REPORT = "report.json"
MODEL_DIR = "model"


def level_at(config: PretrainConfig, step: int) -> int:
    return max(level for start, level in config.curriculum if start <= step)


def learning_rate(config: PretrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    decay_from = int(config.steps * (1 - config.decay_share))
    if step < decay_from:
        return config.learning_rate
    left = (config.steps - step) / max(config.steps - decay_from, 1)
    return config.learning_rate * (0.1 + 0.9 * left)


class Pools:
    """Training records per level, generated on first use (deterministic from the seed)."""

    def __init__(self, config: PretrainConfig):
        self.config = config
        self.records: dict[int, list[dict]] = {}

    def level(self, level: int) -> list[dict]:
        from livr.pretrain.mix import generate_mix

        if level not in self.records:
            self.records[level] = generate_mix(self.config.pool_size, seed=self.config.seed, level=level, split="train")
        return self.records[level]

    def batch(self, step: int) -> list[dict]:
        """The records of step `step`: a function of (seed, step) only."""
        current = level_at(self.config, step)
        rng = np.random.default_rng([self.config.seed, step])
        out = []
        for _ in range(self.config.batch_size):
            level = current
            if current > 0 and rng.random() < self.config.replay:
                level = int(rng.integers(0, current))
            pool = self.level(level)
            out.append(pool[int(rng.integers(len(pool)))])
        return out


def normalise(text: str) -> str:
    return " ".join(text.lower().strip().strip(".").split())


def heldout(config: PretrainConfig) -> dict[int, list[dict]]:
    """Held-out records of every level up to the highest the curriculum reaches."""
    from livr.pretrain.mix import generate_mix

    top = max(level for _, level in config.curriculum)
    return {level: generate_mix(config.eval_examples, seed=config.seed, level=level, split="heldout")
            for level in range(top + 1)}


def evaluate(lm, sets: dict[int, list[dict]]) -> dict[str, Any]:
    """Exact-match accuracy of greedy answers, per level and per family."""
    from livr.inference.generate import encode_prompts, generate_answers

    result: dict[str, Any] = {"levels": {}, "families": {}}
    per_family: dict[str, list[int]] = {}
    for level, records in sets.items():
        answers = generate_answers(lm, encode_prompts(lm, records), batch_size=16, max_new_tokens=12)
        hits = [int(normalise(a) == normalise(r["answer"])) for a, r in zip(answers, records)]
        result["levels"][str(level)] = sum(hits) / len(hits)
        for r, h in zip(records, hits):
            per_family.setdefault(r["task"], []).append(h)
    result["families"] = {k: sum(v) / len(v) for k, v in sorted(per_family.items())}
    return result


# ----------------------------------------------------------------------------- checkpoints


def _complete(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for path in (folder / CHECKPOINTS).glob("step-*"):
        if (path / "state.json").is_file():
            found.append((int(path.name.split("-")[1]), path))
    return sorted(found)


def save_checkpoint(out: Path, step: int, model, optimizer, config: PretrainConfig, heads=None) -> None:
    from safetensors.torch import save_file

    with atomic_dir(out / CHECKPOINTS / f"step-{step:06d}") as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        if heads is not None:
            save_file({k: v.contiguous() for k, v in heads.state_dict().items()}, str(tmp / "dense.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, "config": dataclasses.asdict(config)}))
    for _, old in _complete(out)[:-2]:
        discard(old)  # renamed first: a half-deleted checkpoint never looks complete


def load_checkpoint(path: Path, model, optimizer, heads=None) -> int:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path / "model.safetensors")))
    if heads is not None:
        heads.load_state_dict(load_file(str(path / "dense.safetensors")))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    return int(json.loads((path / "state.json").read_text())["step"])


def _progress_lines(out: Path, until: int | None = None) -> str:
    """progress.jsonl so far; with `until`, only the entries of steps up to `until`."""
    path = out / PROGRESS
    lines = path.read_text().splitlines(keepends=True) if path.is_file() else []
    if until is not None:
        lines = [line for line in lines if json.loads(line)["step"] <= until]
    return "".join(lines)


def append_progress(out: Path, entry: dict) -> None:
    """Add one line to progress.jsonl, rewriting the file atomically (a kill never leaves a
    half-written line)."""
    atomic_write_text(out / PROGRESS, _progress_lines(out) + json.dumps(entry) + "\n")


# ----------------------------------------------------------------------------- the loop


def _start_from(init_from: str, rope_theta: float = 0.0):
    """(model, processor) of a finished pretraining (a model folder, or "livr-tiny": the shipped one);
    `rope_theta` > 0 replaces the text model's rope base (read from a copy of the folder whose
    config.json says so: the weights are the same, the rotary embedding is built from the config)."""
    import tempfile

    from livr.models.loading import resolve_family, shipped_model_dir
    from livr.pretrain.base import adapter_for

    folder = Path(shipped_model_dir(init_from) or init_from)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise ConfigError(f"init_from {init_from}: not a pretrained model folder (config.json and "
                          "model.safetensors); name the model/ folder of a finished pretrain-base run, or livr-tiny")
    adapter = adapter_for(resolve_family(str(folder))[0])
    with tempfile.TemporaryDirectory() as tmp:
        if rope_theta:
            shutil.copytree(folder, tmp, dirs_exist_ok=True)
            config = json.loads((folder / "config.json").read_text())
            config["text_config"]["rope_parameters"]["rope_theta"] = float(rope_theta)
            (Path(tmp) / "config.json").write_text(json.dumps(config, indent=2))
            folder = Path(tmp)
        model, processor = adapter.load_pretrained(str(folder), dtype=None, attn_implementation="sdpa",
                                                   trust_remote_code=False, processor_kwargs=None)
        return model, processor, adapter


def build(config: PretrainConfig):
    """(LivrModel wrapping the random-init base, or the `init_from` weights) -- every parameter trainable."""
    from livr.models.latents import LatentSpec
    from livr.models.loading import LivrModel
    from livr.pretrain.base import SHIPPED, adapter_for, build_base_model, train_tokenizer

    if config.init_from:
        model, processor, adapter = _start_from(config.init_from, config.rope_theta)
    else:
        adapter = adapter_for(config.family)
        model, processor = build_base_model(train_tokenizer(family=config.family), seed=config.seed,
                                            family=config.family)
    return LivrModel(model=model, processor=processor, adapter=adapter, latents=LatentSpec(0),
                     latent_ids=[], name=SHIPPED[adapter.family])


def pretrain(config: PretrainConfig, *, resume: bool = False, log=print) -> dict[str, Any]:
    config.check()
    out = Path(config.out)
    if out.exists() and not resume and any(out.iterdir()):
        raise ConfigError(f"--out {out} exists and is not empty; pass --resume to continue it, or choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    lm = build(config)
    model = lm.model
    model.train()
    heads = None
    if config.dense_weight > 0:
        from livr.pretrain.dense import DenseHeads

        heads = DenseHeads(model, model.config.text_config.hidden_size)
    params = list(model.parameters()) + (list(heads.parameters()) if heads is not None else [])
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate)
    step = 0
    checkpoints = _complete(out)
    if resume and checkpoints:
        step = load_checkpoint(checkpoints[-1][1], model, optimizer, heads)
        log(f"resumed at step {step} from {checkpoints[-1][1]}")
    if resume and (out / PROGRESS).is_file():  # entries after the checkpoint are redone: no duplicates
        atomic_write_text(out / PROGRESS, _progress_lines(out, until=step))
    collator = lm.collator("standard", max_length=1024)
    pools, sets = Pools(config), heldout(config)
    n_params = sum(p.numel() for p in model.parameters())
    start, losses = time.perf_counter(), []
    while step < config.steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        records = pools.batch(step)
        batch = collator(records)
        loss = lm(batch).loss
        if heads is not None:
            loss = loss + config.dense_weight * heads.loss(records, batch["image_grid_thw"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % config.eval_every == 0 or step == config.steps:
            model.eval()
            scores = evaluate(lm, sets)
            model.train()
            entry = {"step": step, "level": level_at(config, step - 1), "loss": float(np.mean(losses)),
                     "lr": learning_rate(config, step - 1), "seconds": round(time.perf_counter() - start, 1), **scores}
            losses = []
            append_progress(out, entry)
            log(f"step {step}: loss {entry['loss']:.3f}, held-out " +
                ", ".join(f"level {k} {v:.2f}" for k, v in scores["levels"].items()))
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint(out, step, model, optimizer, config, heads)
    if heads is not None:
        heads.remove()
    model.eval()
    final = evaluate(lm, sets)
    with atomic_dir(out / MODEL_DIR, overwrite=True) as tmp:
        model.save_pretrained(str(tmp))
        lm.processor.save_pretrained(str(tmp))
    report = {"name": lm.name, "parameters": n_params, "steps": config.steps, "batch_size": config.batch_size,
              "seconds_this_session": round(time.perf_counter() - start, 1), "final": final,
              "config": dataclasses.asdict(config), "threads": config.threads}
    atomic_write_json(out / REPORT, report)
    return report


def install(out: str | os.PathLike) -> Path:
    """Copy OUT/model into the package: livr/assets/livr-tiny for a Qwen2.5-VL base,
    livr/assets/livr-tiny-qwen3 for a Qwen3-VL one (`livr.pretrain.base.SHIPPED`)."""
    from livr.models.loading import resolve_family
    from livr.pretrain.base import SHIPPED, asset_dir

    source = Path(out) / MODEL_DIR
    if not (source / "config.json").is_file():
        raise ConfigError(f"{source} is not a finished pretraining output (no config.json)")
    family = resolve_family(str(source))[0]
    if family not in SHIPPED:
        raise ConfigError(f"{source}: a {family} model is not one of the shipped bases ({', '.join(SHIPPED)})")
    target = asset_dir(SHIPPED[family])
    with atomic_dir(target, overwrite=True) as tmp:
        for path in source.iterdir():
            shutil.copy2(path, tmp / path.name)
        report = Path(out) / REPORT
        if report.is_file():
            shutil.copy2(report, tmp / "pretrain_report.json")
    return target
