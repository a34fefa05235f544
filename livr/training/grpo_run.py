"""A GRPO run after a finished supervised run: `run_grpo(GrpoConfig(init_from=RUN, output_dir=OUT))`,
what `livr train --method grpo` (`train_grpo`: livr train's --resume / --overwrite rules) and
`livr grpo` both run.

The supervised run folder gives the model, the method family (LVR decodes in latent mode), the
LoRA / latent rows and the data; its weights are both the starting policy and the frozen KL
reference. Every `grpo_steps` step takes `grpo_prompts` training records (a seeded shuffle per
pass), samples `grpo_num_generations` completions each and makes one update
(`livr.training.grpo.grpo_step`). Per-step metrics (reward mean/std, accuracy, KL, clip
fraction, ratio mean, and validation accuracy every `eval_every` steps) go to OUT/metrics.json;
every `save_every` steps OUT/grpo_state.pt holds the trainable weights, the optimiser and the
history, written atomically, so a killed run resumes where it saved and, on CPU, ends with the
same numbers as an uninterrupted one. At the end OUT/model/ holds the final weights as a run
folder (`write_model_folder`), which `livr eval --model` reads. Sampling needs no saved state:
every completion has its own generator seeded by (seed, step, completion index)
(`livr.training.grpo.completion_generators`).

Several processes (`torchrun --nproc_per_node N -m livr.cli.main grpo ...` or `accelerate launch`;
accelerate's `PartialState` joins the process group, gloo on CPU): each takes grpo_prompts / N of
a step's prompts with their generators, gradients and metrics are summed before every update, and
process 0 validates and writes the files. The completions are those of one process; the numbers
agree up to float summation order (docs/grpo.md).

Defaults are GPU-style (G=8, temperature 1.0, beta 0.04, epsilon 0.2, lr 1e-6); tiny runs override.
"""

from __future__ import annotations

import dataclasses
import io
import os
import random
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from livr.errors import ConfigError
from livr.io import atomic_write_bytes, atomic_write_json

STATE_FILE = "grpo_state.pt"
METRICS_FILE = "metrics.json"
MODEL_DIR = "model"  # OUT/model: the final weights as a run folder (livr eval --model OUT/model)
METHOD = "grpo"  # the method's name (livr.methods.grpo): `livr train --method grpo` runs this file


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class GrpoConfig:
    init_from: str = _f("", "a finished supervised run folder: model, method, weights and data come from it")
    output_dir: str = _f("", "the GRPO run folder (metrics.json, grpo_state.pt, model/: the final weights as a run folder)")
    data: str = _f("", "a livr data folder whose training split gives the GRPO prompts (all its tasks) "
                       "and whose validation split is scored; empty: the init_from run's data")
    grpo_steps: int = _f(200, "optimisation steps, one rollout batch each")
    grpo_prompts: int = _f(2, "prompts per step (each sampled grpo_num_generations times)")
    grpo_num_generations: int = _f(8, "G: completions per prompt, the group of the advantages")
    grpo_temperature: float = _f(1.0, "sampling temperature of the rollouts (text tokens; latent steps are deterministic)")
    grpo_beta: float = _f(0.04, "weight of the k3 KL to the reference (the init_from weights)")
    grpo_epsilon: float = _f(0.2, "clip range of the importance ratio")
    grpo_max_new_tokens: int = _f(16, "longest completion, in text tokens")
    learning_rate: float = _f(1e-6, "AdamW learning rate")
    seed: int = _f(0, "seeds the prompt order and the rollout sampling (one generator per completion)")
    eval_every: int = _f(50, "validation accuracy (the method's decoding) every this many steps; 0: never")
    save_every: int = _f(50, "resumable state every this many steps")
    max_validation_examples: int | None = _f(None, "at most this many validation records")

    def __post_init__(self):
        problems = [f"{name} must be >= 1, got {getattr(self, name)}"
                    for name in ("grpo_steps", "grpo_prompts", "grpo_max_new_tokens", "save_every")
                    if int(getattr(self, name)) < 1]
        if self.grpo_num_generations < 2:
            problems.append(f"grpo_num_generations must be >= 2, got {self.grpo_num_generations}: "
                            "a group of one has no advantage")
        if self.grpo_temperature <= 0:
            problems.append(f"grpo_temperature must be > 0 (GRPO samples), got {self.grpo_temperature}")
        if self.learning_rate <= 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.grpo_beta < 0 or self.grpo_epsilon <= 0:
            problems.append(f"grpo_beta must be >= 0 and grpo_epsilon > 0, got {self.grpo_beta}, {self.grpo_epsilon}")
        if self.eval_every < 0:
            problems.append(f"eval_every must be >= 0 (0: never), got {self.eval_every}")
        if not self.init_from or not self.output_dir:
            problems.append("a GRPO run needs init_from (a finished supervised run) and output_dir (--out)")
        if problems:
            raise ConfigError("GRPO config: " + "; ".join(problems))

    @staticmethod
    def help() -> dict[str, str]:
        return {f.name: f.metadata["help"] for f in fields(GrpoConfig)}


def load_grpo_config(path: str | None = None, overrides: dict[str, Any] | None = None) -> GrpoConfig:
    """GrpoConfig from a YAML file of its fields (optional) with `overrides` on top (the command
    line wins). Values are converted to the fields' types (command-line strings too); `method:
    grpo` may be given (what `livr train` reads) and is dropped. Unknown fields and values that do
    not convert are one ConfigError naming them all."""
    import yaml

    from livr.runs.config import coerce

    values: dict[str, Any] = {}
    if path:
        with open(path) as handle:
            values = yaml.safe_load(handle) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of GRPO fields, got {type(values).__name__}")
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    values.update({str(k).replace("-", "_"): v for k, v in (overrides or {}).items()})
    where = path or "overrides"
    problems = []
    if values.pop("method", METHOD) != METHOD:
        problems.append(f"method must be {METHOD} in a GRPO config (the supervised method is the init_from run's)")
    hints = typing.get_type_hints(GrpoConfig)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        problems.append(f"unknown GRPO field(s) {', '.join(unknown)}; known: {', '.join(sorted(hints))}")
    converted = {}
    for name in set(values) & set(hints):
        try:
            converted[name] = coerce(name, values[name], hints[name])
        except ValueError as err:
            problems.append(f"{name} {err}")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return GrpoConfig(**converted)


def check_init_from(init_from: str) -> None:
    """ConfigError naming `init_from` unless it is a finished supervised run folder (what
    `load_run` reads: config.yaml and, written last, metrics.json)."""
    from livr.runs.folder import CONFIG_FILE
    from livr.runs.folder import METRICS_FILE as RUN_METRICS

    run = Path(init_from)
    fix = "name the --out folder of a finished `livr train` run"
    if not run.exists():
        raise ConfigError(f"init_from {run} does not exist; {fix}")
    if not run.is_dir():
        raise ConfigError(f"init_from {run} is a file, not a run folder; {fix}")
    if (run / STATE_FILE).is_file() and not (run / CONFIG_FILE).is_file():
        raise ConfigError(f"init_from {run} is a GRPO run folder; its final weights are the run folder "
                          f"{run / MODEL_DIR} (there once the GRPO run has finished)")
    if not (run / CONFIG_FILE).is_file():
        raise ConfigError(f"init_from {run} is not a livr run folder (no {CONFIG_FILE}); {fix}")
    if not (run / RUN_METRICS).is_file():
        raise ConfigError(f"init_from {run} is not a finished run (no {RUN_METRICS}): finish it first with "
                          f"`livr train --resume --out {run}`")


def train_grpo(config: GrpoConfig, *, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """`livr train --method grpo`: `run_grpo(config)` under livr train's rules for the output
    folder: a non-empty one needs `resume` (continue the GRPO run saved there, as `livr grpo` always
    does) or `overwrite` (delete it first; process 0 only). The result is run_grpo's, the same as
    `livr grpo` with the same fields."""
    from livr.io import discard

    check_init_from(config.init_from)
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output_dir {out} is a file; choose a folder")
    if out.is_dir() and any(out.iterdir()):
        if overwrite:
            if os.environ.get("RANK", "0") == "0":
                discard(out)
        elif not resume:
            raise ConfigError(f"output_dir {out} already exists and is not empty; pass --resume to continue "
                              "that GRPO run, --overwrite to replace it, or choose another folder")
        elif not (out / STATE_FILE).is_file():
            raise ConfigError(f"cannot resume {out}: it has no {STATE_FILE}, so it is not a GRPO run folder")
    return run_grpo(config)


def _order(n: int, seed: int, step: int, prompts: int) -> list[int]:
    """The record indices of `step`: passes over a seeded shuffle, a fresh shuffle per pass."""
    out, perms = [], {}
    for k in range(step * prompts, (step + 1) * prompts):
        epoch, pos = divmod(k, n)
        if epoch not in perms:  # one shuffle per pass, not one per prompt
            perms[epoch] = list(range(n))
            random.Random(seed * 100003 + epoch).shuffle(perms[epoch])
        out.append(perms[epoch][pos])
    return out


def _validate(lm, base, records, max_new_tokens) -> float:
    from livr.inference.generate import decoder, encode_prompts
    from livr.inference.answers import score

    examples = encode_prompts(lm, records, image_repeats=base.method_spec.image_repeats)
    texts = decoder(base.method_spec.decoding)(lm, examples, max_new_tokens=max_new_tokens)
    return float(score(records, texts)["accuracy"])


def write_model_folder(lm, init_from: Path, folder: Path, info: dict[str, Any]) -> None:
    """The current weights as a finished livr run folder that `load_run` (and so `livr eval`,
    `livr probe`) reads: the supervised run's config.yaml, the weights and processor saved as
    `livr train` saves them, and a metrics.json naming the trained tasks and the GRPO run.
    Published whole (`livr.io.atomic_dir`): the previous folder stays until the new one is complete."""
    import json
    import shutil

    from livr.io import atomic_dir
    from livr.runs.folder import CONFIG_FILE
    from livr.runs.folder import METRICS_FILE as RUN_METRICS

    with atomic_dir(folder, overwrite=True) as tmp:
        lm.model.save_pretrained(str(tmp))
        lm.processor.save_pretrained(str(tmp))
        shutil.copy2(init_from / CONFIG_FILE, tmp / CONFIG_FILE)
        tasks = json.loads((init_from / RUN_METRICS).read_text()).get("tasks")
        atomic_write_json(tmp / RUN_METRICS, {"tasks": tasks, **info})


def run_grpo(config: GrpoConfig, *, stop_after: int | None = None) -> dict[str, Any]:
    """Run (or resume, when OUT/grpo_state.pt exists) the GRPO steps; returns the metrics.
    `stop_after` ends the process's work after that many steps (tests of resume)."""
    import torch  # here, not at the top: `livr data ...` builds the train parser from GrpoConfig

    from livr.runs.folder import load_run
    from livr.training.data import load_run_data
    from accelerate import PartialState

    from livr.training.grpo import InitReference, completion_generators, grpo_step
    from livr.training.trainer import load_trainable_state, trainable_state

    # cpu=True without CUDA: accelerate then joins torchrun's processes with gloo (MULTI_CPU)
    state = PartialState(cpu=not torch.cuda.is_available())
    world, rank, main_process = state.num_processes, state.process_index, state.is_main_process
    if config.grpo_prompts % world:
        raise ConfigError(f"grpo_prompts ({config.grpo_prompts}) must be a multiple of the number of "
                          f"processes ({world}): each process takes whole groups, the same number of them")
    share = config.grpo_prompts // world
    check_init_from(config.init_from)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    lm, base = load_run(config.init_from)
    lm.to(state.device)  # this process's device (cuda:LOCAL_RANK under torchrun on GPUs)
    data = load_run_data(dataclasses.replace(base, data=config.data, tasks=None) if config.data else base)
    train = data.train.records
    validation = (data.validation.records if data.validation else [])[: config.max_validation_examples]
    ref = InitReference(lm)  # the KL reference: these weights, swapped in (not a copy of the model)
    params = [p for p in lm.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    history: list[dict] = []
    start = 0
    state_path = out / STATE_FILE
    if state_path.is_file():
        saved = torch.load(state_path, weights_only=True)
        if saved["config"] != asdict(config):
            raise ConfigError(f"{out} holds a GRPO run with another config; use another output_dir")
        load_trainable_state(lm.model, saved["weights"])
        optimizer.load_state_dict(saved["optimizer"])
        history, start = saved["history"], saved["step"]
    lm.model.eval()  # no dropout in GRPO (grpo_step); gradients flow all the same
    method = "grpo_latent" if lm.lvr is not None else "grpo"

    def save(step):
        if not main_process:
            return
        buffer = io.BytesIO()
        torch.save({"config": asdict(config), "weights": trainable_state(lm.model), "step": step,
                    "optimizer": optimizer.state_dict(), "history": history}, buffer)
        atomic_write_bytes(state_path, buffer.getvalue())

    end = config.grpo_steps if stop_after is None else min(config.grpo_steps, start + stop_after)
    validate = bool(config.eval_every and validation and main_process)
    if start == 0 and validate:
        history.append({"step": 0, "val_accuracy": _validate(lm, base, validation, config.grpo_max_new_tokens)})
    group = config.grpo_num_generations
    for step in range(start, end):
        indices = _order(len(train), config.seed, step, config.grpo_prompts)[rank * share: (rank + 1) * share]
        generators = completion_generators(config.seed, step, rank * share * group, share * group)
        entry = {"step": step + 1, **grpo_step(
            lm, ref, optimizer, [train[i] for i in indices], group_size=group,
            max_new_tokens=config.grpo_max_new_tokens, temperature=config.grpo_temperature,
            epsilon=config.grpo_epsilon, beta=config.grpo_beta, generator=generators, world_size=world)}
        if validate and (step + 1) % config.eval_every == 0:
            entry["val_accuracy"] = _validate(lm, base, validation, config.grpo_max_new_tokens)
        history.append(entry)
        if (step + 1) % config.save_every == 0 or step + 1 == end:
            save(step + 1)
    metrics = {"method": method, "base_method": base.method, "init_from": str(config.init_from),
               "data": config.data or base.data, "tasks": sorted({r["task"] for r in train}),
               "num_processes": world, "config": asdict(config), "steps_done": end, "history": history}
    if end == config.grpo_steps and main_process:
        write_model_folder(lm, Path(config.init_from), out / MODEL_DIR,
                           {"method": base.method, "stage": method, "grpo_run": str(out), "grpo_steps": end})
        atomic_write_json(out / METRICS_FILE, metrics)  # last: its presence means the run finished
    return metrics
