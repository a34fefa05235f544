"""A GRPO run after a finished supervised run: `run_grpo(GrpoConfig(init_from=RUN, output_dir=OUT))`,
what `livr train --method grpo` (`train_grpo`: livr train's --resume / --overwrite rules) and
`livr grpo` both run.

The supervised run folder gives the model, the method family (LVR decodes in latent mode), the
LoRA / latent rows and the data; its weights are both the starting policy and the frozen KL
reference. The run is a `transformers.Trainer`: `GrpoTrainer` (livr.training.grpo_trainer), whose
`training_step` makes the GRPO step, with TrainingArguments mapped from `GrpoConfig`
(`grpo_arguments`: max_steps = grpo_steps, constant learning rate, AdamW without weight decay or
gradient clipping, a checkpoint every `save_every` steps, validation every `eval_every` steps and
at the start, a log line every step). Every step takes `grpo_prompts` training records (`_order`:
a seeded shuffle per pass), samples `grpo_num_generations` completions each and makes one update.

Files: OUT/grpo_config.yaml (written first: marks a GRPO run folder; a rerun with another config
is refused), OUT/checkpoints/checkpoint-N (the Trainer's: weights, AdamW state, RNG and its
trainer_state.json, whose log history holds the per-step metrics; only the latest is kept), OUT/logs
(tensorboard, when report_to has it), and, when the run ends, OUT/model/ (the final weights as a
run folder, `write_model_folder`, which `livr eval --model` reads) and OUT/metrics.json (written
last: the history of per-step metrics and validation accuracies). A killed run resumes from its
latest checkpoint (the Trainer's resume) and, on CPU, ends with the same numbers and weights as an
uninterrupted one: sampling needs no saved state, as every completion has its own generator seeded
by (seed, step, completion index) (`livr.training.grpo.completion_generators`).

Several processes (`torchrun --nproc_per_node N -m livr.cli.main grpo ...` or `accelerate launch`;
the Trainer's DDP, gloo on CPU): each takes grpo_prompts / N of a step's prompts with their
generators; DDP averages the gradients and the metrics are summed before every update, and process
0 validates and writes the files. The completions are those of one process; the numbers agree up
to float summation order (docs/grpo.md).

Defaults are GPU-style (G=8, temperature 1.0, beta 0.04, epsilon 0.2, lr 1e-6); tiny runs override.
"""

from __future__ import annotations

import dataclasses
import os
import random
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from livr.errors import ConfigError
from livr.io import atomic_write_json, atomic_write_text

CONFIG_MARKER = "grpo_config.yaml"  # OUT/grpo_config.yaml: written first, it marks a GRPO run folder
CHECKPOINTS_DIR = "checkpoints"  # OUT/checkpoints/checkpoint-N: the Trainer's, what a rerun resumes from
LOGS_DIR = "logs"  # OUT/logs: tensorboard
METRICS_FILE = "metrics.json"
MODEL_DIR = "model"  # OUT/model: the final weights as a run folder (livr eval --model OUT/model)
METHOD = "grpo"  # the method's name (livr.methods.grpo): `livr train --method grpo` runs this file


def _f(default, help: str):
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class GrpoConfig:
    init_from: str = _f("", "a finished supervised run folder: model, method, weights and data come from it")
    output_dir: str = _f("", "the GRPO run folder (grpo_config.yaml, checkpoints/, logs/, metrics.json, model/: "
                             "the final weights as a run folder)")
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
    save_every: int = _f(50, "a Trainer checkpoint (OUT/checkpoints, the latest kept) every this many steps")
    max_validation_examples: int | None = _f(None, "at most this many validation records")
    report_to: list[str] = _f(["tensorboard"], "Trainer integrations to log to (tensorboard writes under "
                                               "OUT/logs; none: no logger)")

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
    if (run / CONFIG_MARKER).is_file() and not (run / CONFIG_FILE).is_file():
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
        elif not (out / CONFIG_MARKER).is_file():
            raise ConfigError(f"cannot resume {out}: it has no {CONFIG_MARKER}, so it is not a GRPO run folder")
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


# fields that do not change what a run computes: a rerun may change them
RESUME_FREE = frozenset({"report_to"})


def check_resume_config(config: GrpoConfig, out: Path) -> None:
    """ConfigError when OUT/grpo_config.yaml holds another config (other than RESUME_FREE fields)."""
    saved = load_grpo_config(str(out / CONFIG_MARKER))
    diffs = [f"{k}: the run has {v!r}, now {getattr(config, k)!r}" for k, v in asdict(saved).items()
             if k not in RESUME_FREE and getattr(config, k) != v]
    if diffs:
        raise ConfigError(f"{out} holds a GRPO run with another config ({'; '.join(diffs)}); resume it with "
                          "its own settings or use another output_dir")


def grpo_arguments(config: GrpoConfig, *, processes: int, evaluate: bool, resume: bool):
    """The TrainingArguments of a GRPO run: one optimisation step per GRPO step, each process's
    batch its grpo_prompts / processes prompt slots (read in order), AdamW without weight decay
    at a constant learning rate, no warm-up and no gradient clipping (the update of
    `livr.training.grpo.grpo_step`), a log entry every step, a checkpoint every save_every steps,
    validation every eval_every steps and, unless resuming, at step 0."""
    from transformers import TrainingArguments

    from livr.training.trainer import cpu_processes

    report_to = [r for r in config.report_to if r not in ("tensorboard", "none")] or "none"
    return TrainingArguments(
        output_dir=str(Path(config.output_dir) / CHECKPOINTS_DIR),
        max_steps=config.grpo_steps,
        per_device_train_batch_size=config.grpo_prompts // processes,
        gradient_accumulation_steps=1,
        learning_rate=config.learning_rate,
        weight_decay=0.0,
        optim="adamw_torch",  # torch.optim.AdamW as grpo_step uses it (the fused default rounds otherwise)
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_grad_norm=0.0,
        seed=config.seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_every,
        save_total_limit=1,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=config.eval_every if evaluate else None,
        eval_on_start=evaluate and not resume,
        report_to=report_to,
        remove_unused_columns=False,  # the batches are prompt slots, not model inputs
        train_sampling_strategy="sequential",  # slot k is prompt k % grpo_prompts of step k // grpo_prompts
        dataloader_num_workers=0,
        dataloader_drop_last=False,
        dataloader_pin_memory=False,
        use_cpu=cpu_processes(),
    )


def run_grpo(config: GrpoConfig, *, stop_after: int | None = None, callbacks=()) -> dict[str, Any]:
    """Run (or resume, from the latest OUT/checkpoints/checkpoint-N) the GRPO steps with
    `GrpoTrainer`; returns the metrics. `stop_after` ends the process's work after that many steps
    (tests of resume); `callbacks` are more `transformers.TrainerCallback`s for the Trainer."""
    import torch  # here, not at the top: `livr data ...` builds the train parser from GrpoConfig
    from accelerate import PartialState

    from livr.runs.folder import load_run
    from livr.training.data import load_run_data
    from livr.training.grpo import InitReference
    from livr.training.grpo_trainer import GrpoTrainer, PromptSlots, StopAfter, collate_slots, history
    from livr.training.run import last_checkpoint

    # cpu=True without CUDA: accelerate then joins torchrun's processes with gloo (MULTI_CPU), as
    # the TrainingArguments (use_cpu) do
    state = PartialState(cpu=not torch.cuda.is_available())
    world, main_process = state.num_processes, state.is_main_process
    if config.grpo_prompts % world:
        raise ConfigError(f"grpo_prompts ({config.grpo_prompts}) must be a multiple of the number of "
                          f"processes ({world}): each process takes whole groups, the same number of them")
    check_init_from(config.init_from)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / CONFIG_MARKER).is_file():
        check_resume_config(config, out)
    elif main_process:
        import yaml

        atomic_write_text(out / CONFIG_MARKER, "# The config of this GRPO run (livr grpo / livr train --method grpo); "
                          "a rerun with other values is refused\n"
                          + yaml.safe_dump({"method": METHOD, **asdict(config)}, sort_keys=False))
    lm, base = load_run(config.init_from)
    data = load_run_data(dataclasses.replace(base, data=config.data, tasks=None) if config.data else base)
    train = data.train.records
    validation = (data.validation.records if data.validation else [])[: config.max_validation_examples]
    evaluate = bool(config.eval_every and validation)
    checkpoint = last_checkpoint(out / CHECKPOINTS_DIR)
    args = grpo_arguments(config, processes=world, evaluate=evaluate, resume=checkpoint is not None)
    lm.to(args.device)  # this process's device (cuda:LOCAL_RANK under torchrun on GPUs)
    lm.model.eval()  # no dropout in GRPO (grpo_backward); gradients flow all the same
    ref = InitReference(lm)  # the KL reference: these weights, swapped in (not a copy of the model)
    extra = list(callbacks) + ([StopAfter(stop_after)] if stop_after is not None else [])
    if "tensorboard" in config.report_to:
        from transformers.integrations import TensorBoardCallback

        board = TensorBoardCallback()
        board.logging_dir = str(out / LOGS_DIR)
        extra.append(board)
    trainer = GrpoTrainer(
        model=lm.model, args=args, train_dataset=PromptSlots(config.grpo_steps, config.grpo_prompts),
        eval_dataset=validation or None, data_collator=collate_slots, callbacks=extra,
        lm=lm, reference=ref, base=base, train_records=train, validation_records=validation, config=config)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    end = trainer.state.global_step
    method = "grpo_latent" if lm.lvr is not None else "grpo"
    metrics = {"method": method, "base_method": base.method, "init_from": str(config.init_from),
               "data": config.data or base.data, "tasks": sorted({r["task"] for r in train}),
               "num_processes": world, "config": asdict(config), "steps_done": end,
               "history": history(trainer.state.log_history)}
    if end == config.grpo_steps and main_process:
        write_model_folder(lm, Path(config.init_from), out / MODEL_DIR,
                           {"method": base.method, "stage": method, "grpo_run": str(out), "grpo_steps": end})
        atomic_write_json(out / METRICS_FILE, metrics)  # last: its presence means the run finished
    return metrics
