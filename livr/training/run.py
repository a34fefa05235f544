"""`train(config)`: one `livr train` run, from a checked config to a finished run folder.

Order of work, so that every mistake in the input shows before any training:
config check -> output folder (and, with resume, the saved run's config) -> data folder ->
leakage guard (train/validation images near-duplicating test images; livr.data.leakage) -> model ->
encoding of every split -> stage 1 (if any) -> stage 2 (if any) -> selection -> test -> artifacts.

Validation after every epoch runs under the epoch's own stage mask, under the standard mask when
that differs, and under `eval_mask` (the mask the final model is used with; by default the mask of
the run's last stage). A history entry's `val_accuracy` is the accuracy under `eval_mask`: it
chooses the best epoch; `val_accuracy_by_mask` has every mask measured. The test split is
evaluated under `eval_mask` too.

A run folder:

    RUN/config.yaml                  the resolved config (with the launch command on top)
    RUN/progress.json                per-epoch history so far (rewritten after every epoch)
    RUN/checkpoints/stage<N>/        the Trainer's last checkpoint of each stage (resume)
    RUN/best/trainable.safetensors   trainable weights of the best epoch so far (selection=best)
    RUN/logs/stage<N>/               tensorboard event files
    -- written at the end --
    RUN/adapter_model.safetensors    LoRA and latent rows (peft `save_pretrained`; a full
    RUN/adapter_config.json            fine-tune writes model.safetensors + config.json instead)
    RUN/tokenizer*, processor files  the processor with the latent tokens
    RUN/test_predictions.json        id, task, answer, prediction, correct per test record
    RUN/timing.json                  seconds in Trainer.train() (this process's stages only)
    RUN/metrics.json                 written last: its presence means the run finished

Resume: with `resume=True` the run restarts from the last complete checkpoint of the latest
stage that has one (the Trainer restores weights, optimizer, schedule, RNG and data order), so it
ends with the same metrics and weights as an uninterrupted run. Checkpoints are taken at the end
of every epoch; an interrupted epoch is redone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from livr.errors import ConfigError, DataError
from livr.io import atomic_write_bytes, atomic_write_json, atomic_write_text, discard, temp_dir
from livr.locks import output_lock
from livr.runs.config import RESUME_FREE, LivrTrainingConfig
from livr.runs.folder import (  # noqa: F401 (the folder names and loaders, importable here as before)
    BEST_FILE, CONFIG_FILE, METRICS_FILE, PREDICTIONS_FILE, PROGRESS_FILE, TIMING_FILE, load_model, load_run,
    resolve_dtype, saved_config,
)

_dtype = resolve_dtype  # the former name


# ----------------------------------------------------------------------------- folder


def _complete_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the checkpoints whose trainer_state.json (written last) is readable."""
    found = []
    if folder.is_dir():
        for path in folder.glob("checkpoint-*"):
            try:
                step = int(path.name.split("-", 1)[1])
                json.loads((path / "trainer_state.json").read_text())
            except (ValueError, OSError):
                continue
            found.append((step, path))
    return sorted(found)


def last_checkpoint(folder: Path) -> Path | None:
    found = _complete_checkpoints(folder)
    return found[-1][1] if found else None


def checkpoint_epoch(path: Path) -> int:
    return int(round(json.loads((path / "trainer_state.json").read_text()).get("epoch") or 0))


def compare_configs(saved: LivrTrainingConfig, new: LivrTrainingConfig, run: Path) -> None:
    diffs = [f"{k}: the run has {getattr(saved, k)!r}, now {getattr(new, k)!r}"
             for k in saved.to_dict() if k not in RESUME_FREE and getattr(saved, k) != getattr(new, k)]
    if diffs:
        raise ConfigError(
            f"cannot resume {run}: it was made with another config ({len(diffs)} difference"
            f"{'s' if len(diffs) > 1 else ''}):\n" + "\n".join(f"  - {d}" for d in diffs)
            + "\nresume with the run's own settings (`livr train --resume --out RUN`), or start a new "
            "run in another folder"
        )


def prepare_folder(config: LivrTrainingConfig, *, resume: bool, overwrite: bool) -> str:
    """'new', 'replace' (new, after deleting the old folder), 'resume' or 'finished'; raises
    ConfigError for a folder that cannot be used. Deletes nothing itself."""
    run = Path(config.output_dir)
    if run.exists() and not run.is_dir():
        raise ConfigError(f"output_dir {run} is a file; choose a folder")
    started = run.is_dir() and any(run.iterdir())
    if not started:
        return "new"
    if overwrite:
        return "replace"
    if not resume:
        raise ConfigError(f"output_dir {run} already exists and is not empty; pass --resume to continue "
                          "that run, --overwrite to replace it, or choose another folder")
    if not (run / CONFIG_FILE).is_file():
        raise ConfigError(f"cannot resume {run}: it has no {CONFIG_FILE}, so it is not a livr run folder")
    compare_configs(saved_config(run), config, run)
    return "finished" if (run / METRICS_FILE).is_file() else "resume"


# ----------------------------------------------------------------------------- progress


def validation_masks(stage_mask: str, eval_mask: str) -> list[str]:
    """The masks one epoch is validated under: its stage's, the standard one, and the eval mask
    (each once, in that order)."""
    return list(dict.fromkeys([stage_mask, "standard", eval_mask]))


def _best(history: list[dict]) -> dict | None:
    """The epoch with the highest validation accuracy under the eval mask (the earliest on ties)."""
    scored = [h for h in history if h.get("val_accuracy") is not None]
    return max(scored, key=lambda h: (h["val_accuracy"], -h["epoch"])) if scored else None


class Progress:
    """History of finished epochs (and which epoch `best/` holds), kept in RUN/progress.json."""

    def __init__(self, run: Path, is_main: bool):
        self.path = run / PROGRESS_FILE
        self.is_main = is_main
        data = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.history: list[dict] = data.get("history", [])
        self.best_saved_epoch: int | None = data.get("best_saved_epoch")

    def keep_until(self, epoch: int) -> None:
        """Forget epochs after `epoch` (recorded, then lost with an unsaved checkpoint: redone)."""
        self.history = [h for h in self.history if h["epoch"] <= epoch]

    def save(self) -> None:
        if self.is_main:
            atomic_write_json(self.path, {"history": self.history, "best_saved_epoch": self.best_saved_epoch})


# ----------------------------------------------------------------------------- training


def train(config: LivrTrainingConfig, *, resume: bool = False, overwrite: bool = False,
          command: str | None = None) -> dict[str, Any]:
    """Run (or resume) the training described by `config`; returns the metrics written."""
    from accelerate import PartialState

    from livr.training.trainer import cpu_processes, fsdp_on_cpu_note

    config = config.resolved()
    is_main = PartialState(cpu=cpu_processes()).is_main_process  # initialises torch.distributed
    note = fsdp_on_cpu_note(config.trainer_args)
    if note:
        _say(is_main, note)
    with contextlib.ExitStack() as locks:
        if is_main:  # one writer of the run folder, and no writer of the data while it is read
            locks.enter_context(output_lock(config.output_dir, what="output_dir"))
            if Path(str(config.data)).is_dir():
                locks.enter_context(output_lock(config.data, read=True, what="data"))
        return _train(config, is_main, resume=resume, overwrite=overwrite, command=command)


def _train(config: LivrTrainingConfig, is_main: bool, *, resume: bool, overwrite: bool,
           command: str | None) -> dict[str, Any]:
    from transformers import set_seed

    from livr.data.leakage import check_leakage
    from livr.training.data import encode_run_data, load_run_data

    run = Path(config.output_dir)
    status = prepare_folder(config, resume=resume, overwrite=overwrite)
    if status == "finished":
        _say(is_main, f"{run} is already finished; nothing to do")
        return json.loads((run / METRICS_FILE).read_text())

    data = load_run_data(config)
    if config.method_spec.name == "lvr":
        from livr.data.roi import roi_problems

        problems = roi_problems(data.tasks)
        if problems:
            raise ConfigError("method lvr: " + "; ".join(problems))
    selection = config.selection
    if selection == "auto":
        selection = "final" if data.multi_task or not config.eval_every_epoch else "best"
    if selection == "best" and data.validation is None:
        raise DataError(f"selection=best needs validation records, but {config.data} has none for "
                        f"{', '.join(data.tasks)}; add a validation split or set selection: final")
    leaks = check_leakage(data, policy=config.leakage, data_path=config.data,
                          say=lambda text: _say(is_main, text))  # DataError under `refuse`

    set_seed(config.seed)
    lm = load_model(config)
    image_repeats = config.method_spec.image_repeats
    encode_run_data(lm, data, image_repeats=image_repeats, max_length=config.max_length,
                    progress=is_main and not config.disable_tqdm)
    if is_main and status in ("new", "replace"):
        if status == "replace":  # only now: every check above has passed
            discard(run)
        header = "# Resolved config of this run" + (f"; launched with:\n#   {command}\n" if command else "\n")
        atomic_write_text(run / CONFIG_FILE, config.to_yaml(header))
    _barrier()

    session = _Session(config, lm, data, selection, run, is_main, image_repeats, leaks)
    session.run_stages()
    metrics = session.finish()
    _barrier()
    return metrics


def _barrier() -> None:
    """Wait for every process (a no-op in a single process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _say(is_main: bool, text: str) -> None:
    if is_main:
        print(text, file=sys.stderr, flush=True)


class _Session:
    """The stages of one run over one model, and the per-epoch bookkeeping."""

    def __init__(self, config, lm, data, selection, run, is_main, image_repeats, leaks=()):
        from livr.inference.generate import default_max_new_tokens

        self.config, self.lm, self.data, self.selection = config, lm, data, selection
        self.run, self.is_main, self.image_repeats = run, is_main, image_repeats
        self.progress = Progress(run, is_main)
        self.leaks = list(leaks)  # near-duplicate (train/validation, test) pairs trained with (leakage=warn)
        records = (data.validation.records if data.validation else []) + (data.test.records if data.test else [])
        self.max_new_tokens = config.max_new_tokens or default_max_new_tokens(records)
        self.train_seconds = 0.0  # Trainer.train() time of the stages run in this process

    # -- stages ------------------------------------------------------------------------------
    def run_stages(self) -> None:
        stages = self.config.stages()
        offsets, total = [], 0
        for _, _, epochs in stages:
            offsets.append(total)
            total += epochs
        checkpoints = [last_checkpoint(self.run / "checkpoints" / f"stage{s}") for s, _, _ in stages]
        start = max((i for i, c in enumerate(checkpoints) if c is not None), default=0)
        if checkpoints[start] is not None:
            done = offsets[start] + checkpoint_epoch(checkpoints[start])
            self.progress.keep_until(done)
            _say(self.is_main, f"resuming stage {stages[start][0]} from {checkpoints[start]} "
                               f"({done} epoch(s) done)")
        else:
            self.progress.keep_until(0)
        for i in range(start, len(stages)):
            stage, policy, epochs = stages[i]
            self._run_stage(stage, policy, epochs, offsets[i], checkpoints[i] if i == start else None)

    def _run_stage(self, stage: int, policy: str, epochs: int, offset: int, checkpoint: Path | None):
        from livr.training.data import ExampleDataset
        from livr.training.trainer import EpochEndCallback, LivrTrainer, stage_arguments, tensorboard_callback

        collator = self.lm.collator(policy, max_length=self.config.max_length, image_repeats=self.image_repeats)
        epoch_callback = EpochEndCallback(lambda trainer, stage_epoch, steps: self._on_epoch(
            trainer, stage, policy, offset, stage_epoch, steps))
        callbacks = [epoch_callback] + [cb for cb in [tensorboard_callback(self.config, self.run, stage)] if cb]
        _say(self.is_main, f"stage {stage}: {epochs} epoch(s) under the {policy} mask")
        trainer = LivrTrainer(
            model=self.lm.model,
            args=stage_arguments(self.config, stage, epochs, self.run),
            train_dataset=ExampleDataset(self.data.train.examples),
            data_collator=collator.pad,
            callbacks=callbacks,
            lm=self.lm,
            mask_policy=policy,
            extra_losses=self.config.method_spec.stage(stage).extra_losses,
            method_forward=self.config.method_spec.stage(stage).forward or self.config.method_spec.forward,
        )
        epoch_callback.trainer = trainer
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        # the Trainer's own clock: optimisation and the per-epoch validation, not loading or encoding
        self.train_seconds += float(result.metrics.get("train_runtime", 0.0))

    def _on_epoch(self, trainer, stage: int, policy: str, offset: int, stage_epoch: int, steps: int):
        epoch = offset + stage_epoch
        entry: dict[str, Any] = {
            "epoch": epoch, "stage": stage, "stage_epoch": stage_epoch, "mask": policy,
            "train_loss": trainer.pop_epoch_loss(steps),
            "learning_rate": float(trainer.lr_scheduler.get_last_lr()[0]),
            "global_step": trainer.state.global_step,
        }
        entry.update({f"train_{name}": value for name, value in trainer.pop_epoch_terms().items()})
        by_mask: dict[str, float] = {}
        if self.config.eval_every_epoch and self.data.validation is not None:
            eval_mask = self.config.eval_mask
            for mask in validation_masks(policy, eval_mask):
                report = self._evaluate(self.data.validation, f"validation (epoch {epoch}, {mask} mask)",
                                        mask)
                by_mask[mask] = report["accuracy"]
                if mask == eval_mask:
                    entry["val_accuracy"] = report["accuracy"]
                    entry["val_accuracy_per_task"] = report["per_task"]
            entry["val_accuracy_by_mask"] = by_mask
        history = [h for h in self.progress.history if h["epoch"] < epoch]
        prior = _best(history)
        history.append(entry)
        if self.selection == "best" and "val_accuracy" in entry and (
                prior is None or entry["val_accuracy"] > prior["val_accuracy"]):
            if self.is_main:
                from safetensors.torch import save

                from livr.training.trainer import trainable_state

                atomic_write_bytes(self.run / BEST_FILE, save(trainable_state(self.lm.model)))
            self.progress.best_saved_epoch = epoch
        self.progress.history = history
        self.progress.save()
        logs = {f"livr/{k}": entry[k] for k in ("train_loss", "val_accuracy") if entry.get(k) is not None}
        logs.update({f"livr/val_accuracy/{mask}": value for mask, value in by_mask.items()})
        if logs:
            trainer.log(logs)

    def _evaluate(self, split, desc: str, mask_policy: str) -> dict[str, Any]:
        from livr.inference.generate import evaluate

        return evaluate(self.lm, split.records, split.examples, batch_size=self.config.eval_batch_size,
                        max_new_tokens=self.max_new_tokens, image_repeats=self.image_repeats,
                        mask_policy=mask_policy, progress=self.is_main and not self.config.disable_tqdm,
                        desc=desc, decoding=self.config.method_spec.decoding)

    # -- the end -----------------------------------------------------------------------------
    def finish(self) -> dict[str, Any]:
        history = self.progress.history
        best = _best(history)
        selected = history[-1]["epoch"] if history else None
        if self.selection == "best" and best is not None:
            if self.progress.best_saved_epoch != best["epoch"]:
                raise RuntimeError(f"{self.run / BEST_FILE} holds epoch {self.progress.best_saved_epoch}, "
                                   f"not the best epoch {best['epoch']}")
            from safetensors.torch import load_file

            from livr.training.trainer import load_trainable_state

            load_trainable_state(self.lm.model, load_file(str(self.run / BEST_FILE)))
            selected = best["epoch"]
        c = self.config
        metrics: dict[str, Any] = {
            "method": c.method,
            "model": c.model,
            "tasks": self.data.tasks,
            "num_latents": c.num_latents,
            "stages": [{"stage": s, "mask": p, "epochs": e} for s, p, e in c.stages()],
            "selection": self.selection,
            "eval_mask": c.eval_mask,
            "selected_epoch": selected,
            "best_val_accuracy": best["val_accuracy"] if best else None,
            "best_epoch": best["epoch"] if best else None,
            "final_val_accuracy": history[-1].get("val_accuracy") if history else None,
            "num_examples": self.data.sizes(),
            "history": history,
        }
        if self.leaks:
            from livr.data.leakage import summary

            metrics["leakage"] = summary(self.leaks)
        predictions = None
        if self.data.test is not None:
            report = self._evaluate(self.data.test, f"test ({c.eval_mask} mask)", c.eval_mask)
            metrics["test_accuracy"] = report["accuracy"]
            metrics["test_accuracy_per_task"] = report["per_task"]
            predictions = _prediction_rows(self.data.test.records, report["predictions"])
        if self.is_main:
            self._write_artifacts()
            if predictions is not None:
                atomic_write_json(self.run / PREDICTIONS_FILE, predictions)
            # timing apart from metrics.json, which must be byte-identical after a resume
            atomic_write_json(self.run / TIMING_FILE, {"train_seconds": round(self.train_seconds, 1)})
            atomic_write_json(self.run / METRICS_FILE, metrics)
            if not c.keep_checkpoints:
                shutil.rmtree(self.run / "checkpoints", ignore_errors=True)
                shutil.rmtree(self.run / BEST_FILE.parent, ignore_errors=True)
            _say(True, _summary(metrics, self.run))
        return metrics

    def _write_artifacts(self) -> None:
        """Weights and processor, saved beside each other under a temporary name, then moved in."""
        tmp = temp_dir(self.run, "artifacts")
        try:
            self.lm.model.save_pretrained(str(tmp))
            self.lm.processor.save_pretrained(str(tmp))
            for path in sorted(tmp.iterdir()):
                target = self.run / path.name
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(path, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _prediction_rows(records, predictions) -> list[dict[str, Any]]:
    from livr.inference.answers import is_correct

    return [{"id": r["id"], "task": r["task"], "answer": r["answer"], "prediction": p,
             "correct": is_correct(r, p)} for r, p in zip(records, predictions)]


def _summary(metrics: dict, run: Path) -> str:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}"

    text = (f"finished {metrics['method']} on {', '.join(metrics['tasks'])}: best validation accuracy "
            f"{pct(metrics['best_val_accuracy'])} (epoch {metrics['best_epoch']}), kept epoch "
            f"{metrics['selected_epoch']} ({metrics['selection']})")
    if "test_accuracy" in metrics:
        text += f", test accuracy {pct(metrics['test_accuracy'])}"
    text += f" (under the {metrics['eval_mask']} mask)"
    return text + f"; run folder {run}"
