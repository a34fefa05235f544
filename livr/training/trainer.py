"""`LivrTrainer`: the Hugging Face Trainer with one overridden hook, `compute_loss`, which applies
the stage's attention-mask policy; plus the per-stage TrainingArguments and an epoch-end callback.

Each stage of a run is one `LivrTrainer.train()` over the same model: its own AdamW state and its
own warm-up + cosine schedule (the paper restarts the schedule at every stage), its own
checkpoints (`RUN/checkpoints/stage<N>`), tensorboard logs (`RUN/logs/stage<N>`) and progress bar.
Everything distributed (DDP, FSDP, DeepSpeed through `accelerate launch` / `torchrun`) is the
Trainer's; batches keep livr's bookkeeping keys (`segment_ids`, `mask_policy`) because
`remove_unused_columns=False`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from livr.models.masks import get_policy


class LivrTrainer(Trainer):
    """`Trainer` whose loss is the answer-token NLL under `mask_policy`, plus the stage's
    `extra_losses` (`livr.methods.LossTerm`: `weight * compute(lm, inputs, outputs)` each).

    `lm` is the `LivrModel` whose `model` was given to the Trainer; its `model_inputs` turns a
    collated batch into the model's keyword arguments (the additive 4-D mask and rope positions
    for a non-standard policy, the native 2-D path for `standard`).
    """

    def __init__(self, *args, lm, mask_policy: str, extra_losses=(), method_forward=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.method_forward = method_forward  # livr.methods.Method.forward, or None
        self._term_sums: dict[str, float] = {}  # a method's extra loss terms summed over the epoch
        self._term_count = 0
        self.lm = lm
        self.mask_policy = get_policy(mask_policy).name
        self.extra_losses = tuple(extra_losses)  # livr.methods.LossTerm: added to the answer NLL
        self._epoch_loss = None  # sum of the per-optimizer-step losses of the current epoch
        self._epoch_steps = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # `model` may be wrapped (DDP ...); rope positions are computed on `self.lm.model`, the
        # unwrapped module (`livr.models.backbones.base.inner_model`), the call goes through `model`.
        if self.method_forward is not None:  # a method with its own forward (LVR)
            def trainer_forward(m, model_inputs):
                return super(LivrTrainer, self).compute_loss(m, model_inputs, True, num_items_in_batch)

            loss, outputs, terms = self.method_forward(trainer_forward, self.lm, model, inputs)
            extra = sum(terms.values())
            if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
                # the Trainer does not divide this loss by the accumulation steps (its NLL is
                # already over the whole accumulated batch): the per-micro-batch terms must be
                extra = extra / self.current_gradient_accumulation_steps
            loss = loss + extra
            if model.training:
                self._term_count += 1
                for name, value in terms.items():
                    self._term_sums[name] = self._term_sums.get(name, 0.0) + float(value.detach())
            result = (loss, outputs) if return_outputs else loss
        elif self.extra_losses:  # a method's stage with more terms than the answer NLL
            model_inputs = self.lm.model_inputs(inputs, self.mask_policy)
            loss, outputs = super().compute_loss(model, model_inputs, True, num_items_in_batch)
            for term in self.extra_losses:
                loss = loss + term.weight * term.compute(self.lm, inputs, outputs)
            result = (loss, outputs) if return_outputs else loss
        else:
            model_inputs = self.lm.model_inputs(inputs, self.mask_policy)
            result = super().compute_loss(model, model_inputs, return_outputs, num_items_in_batch)
        if model.training:
            loss = (result[0] if return_outputs else result).detach()
            if not (self.model_accepts_loss_kwargs and num_items_in_batch is not None):
                loss = loss / self.current_gradient_accumulation_steps  # as training_step scales it
            self._epoch_loss = loss if self._epoch_loss is None else self._epoch_loss + loss
        return result

    def pop_epoch_terms(self) -> dict[str, float]:
        """Mean of each extra loss term (weighted) over the micro-batches of the epoch (this process)."""
        out = {k: v / self._term_count for k, v in self._term_sums.items()} if self._term_count else {}
        self._term_sums, self._term_count = {}, 0
        return out

    def pop_epoch_loss(self, steps: int) -> float | None:
        """Mean training loss per optimizer step over the epoch that just ended (all processes)."""
        if self._epoch_loss is None or steps <= 0:
            return None
        total = self.accelerator.reduce(self._epoch_loss.reshape(1), reduction="mean")
        self._epoch_loss = None
        return float(total.item()) / steps


class EpochEndCallback(TrainerCallback):
    """Calls `handler(trainer, stage_epoch, optimizer_steps_in_epoch)` at the end of every epoch,
    before the Trainer saves the epoch's checkpoint (so what the handler records is covered by it)."""

    def __init__(self, handler: Callable[[LivrTrainer, int, int], None]):
        self.handler = handler
        self.trainer: LivrTrainer | None = None
        self._last_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._last_step = state.global_step  # > 0 when resuming (always at an epoch boundary)

    def on_epoch_end(self, args, state, control, **kwargs):
        steps, self._last_step = state.global_step - self._last_step, state.global_step
        self.handler(self.trainer, int(round(state.epoch)), steps)


def cpu_processes() -> bool:
    """True for a multi-process run without CUDA: transformers sets up DDP (gloo) on CPUs only
    with `use_cpu=True`; otherwise every process would train alone."""
    return not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1


def fsdp_on_cpu_note(trainer_args: dict[str, Any]) -> str | None:
    """A note for a multi-process CPU run that asks for FSDP (accelerate's FSDP config, or
    `fsdp` in trainer_args), which accelerate runs as DDP instead: its AcceleratorState switches
    to FSDP only on accelerator devices, and without CUDA it keeps MULTI_CPU (gloo), with no
    error (tests/training/test_fsdp.py records it). None otherwise."""
    asked = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" or bool(
        trainer_args.get("fsdp"))
    if not (asked and cpu_processes()):
        return None
    return ("note: FSDP was asked for, but accelerate runs processes without CUDA as DDP over gloo "
            "(every process holds the whole model; docs/training.md, 'Several processes and GPUs')")


def stage_arguments(config, stage: int, epochs: int, run_dir: Path) -> TrainingArguments:
    """TrainingArguments of one stage (a fresh optimizer and warm-up + decay schedule)."""
    report_to = [r for r in config.report_to if r not in ("tensorboard", "none")] or "none"
    kwargs: dict[str, Any] = dict(
        output_dir=str(run_dir / "checkpoints" / f"stage{stage}"),
        num_train_epochs=epochs,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        adam_beta1=config.adam_beta1,
        adam_beta2=config.adam_beta2,
        adam_epsilon=config.adam_epsilon,
        max_grad_norm=config.max_grad_norm,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the stage's steps
        seed=config.seed,
        logging_steps=config.logging_steps,
        save_strategy="epoch",
        save_total_limit=1,
        eval_strategy="no",
        report_to=report_to,
        remove_unused_columns=False,  # keep segment_ids / mask_policy in the batches
        label_names=["labels"],
        dataloader_num_workers=config.dataloader_num_workers,
        disable_tqdm=config.disable_tqdm,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=cpu_processes(),
        bf16=config.bf16,
    )
    if config.gradient_checkpointing:
        kwargs.update(activation_checkpointing=True,
                      activation_checkpointing_kwargs={"use_reentrant": False})
    kwargs.update(config.trainer_args)
    return TrainingArguments(**kwargs)


def tensorboard_callback(config, run_dir: Path, stage: int) -> TrainerCallback | None:
    if "tensorboard" not in config.report_to:
        return None
    from transformers.integrations import TensorBoardCallback

    callback = TensorBoardCallback()
    callback.logging_dir = str(run_dir / "logs" / f"stage{stage}")
    return callback


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the trainable parameters (LoRA, latent rows, or the full language model)."""
    return {n: p.detach().to("cpu", copy=True).contiguous() for n, p in model.named_parameters()
            if p.requires_grad}


@torch.no_grad()
def load_trainable_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in state]
    if missing:
        raise RuntimeError(f"saved weights lack {len(missing)} trainable parameters, e.g. {missing[:3]}")
    for name, value in state.items():
        params[name].copy_(value.to(params[name].device, params[name].dtype))
