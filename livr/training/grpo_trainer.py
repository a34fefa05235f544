"""`GrpoTrainer`: GRPO (GRPO_latent for an LVR run) as a `transformers.Trainer` subclass.

The Trainer owns the loop: the AdamW step and the constant schedule, DDP and its gradient
averaging, checkpoints (`OUT/checkpoints/checkpoint-N`) and their resume, tensorboard and the
other `report_to` integrations, callbacks. Three hooks are overridden:

- `training_step`: the step's rollouts, rewards, advantages and the backward pass of the clipped
  objective with its KL to the reference (`livr.training.grpo.grpo_backward`), then the step's
  metrics summed over the processes; the optimiser step that follows is the Trainer's;
- `log`: adds those metrics (`livr.training.grpo.METRICS`: reward_mean, reward_std, accuracy,
  kl, clip_fraction, ratio_mean) to the Trainer's per-step log (loss, learning_rate, grad_norm);
- `evaluate`: validation accuracy with the init run's own decoding (`grpo_run._validate`),
  logged as `eval_accuracy` (process 0 decodes, every process logs the same number).

Not TRL's GRPOTrainer, which is not a dependency and whose rollouts go through `generate()`
(no latent feedback, no livr prompt encoding; docs/grpo.md).

The training data is the stream of prompt slots (`PromptSlots`): slot k is prompt k % P of step
k // P (P = grpo_prompts), read in order (`train_sampling_strategy="sequential"`). With N
processes accelerate hands process r the r-th P / N slots of every step, so `training_step`
learns from its batch which step it is in and which prompts and completion generators
(`grpo_run._order`, `grpo.completion_generators`) are its own; a resumed run skips the slots of
the steps done (the Trainer's data skip), so it samples what an uninterrupted run samples.

Loss scaling: each process divides every completion's loss by its own number of completions
(P / N x G) and DDP averages the gradients over the N processes, so the update is that of the
mean over all P x G completions of the step, as with one process.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import torch
from transformers import Trainer, TrainerCallback

from livr.training.grpo import completion_generators, grpo_backward, grpo_metrics


class PromptSlots(torch.utils.data.Dataset):
    """The run's prompt slots 0 .. steps x prompts - 1, as `{"slot": k}` (collate with `collate_slots`)."""

    def __init__(self, steps: int, prompts: int):
        self.steps, self.prompts = steps, prompts

    def __len__(self) -> int:
        return self.steps * self.prompts

    def __getitem__(self, k: int) -> dict[str, int]:
        if not 0 <= k < len(self):
            raise IndexError(k)
        return {"slot": k}


def collate_slots(items: Sequence[dict[str, int]]) -> dict[str, torch.Tensor]:
    return {"slot": torch.tensor([item["slot"] for item in items], dtype=torch.long)}


class GrpoTrainer(Trainer):
    """`Trainer` whose step is a GRPO step. `lm` is the `LivrModel` whose `model` was given to the
    Trainer; `reference` the KL reference (`InitReference` of `lm`, or a frozen copy); `base` the
    init run's config (its decoding validates); `train_records` the prompts (`grpo_run._order`
    indexes them) and `validation_records` the scored records; `config` the run's `GrpoConfig`."""

    def __init__(self, *args, lm, reference, base, train_records: Sequence[dict],
                 validation_records: Sequence[dict], config, **kwargs):
        super().__init__(*args, **kwargs)
        self.lm, self.reference, self.base, self.config = lm, reference, base, config
        self.train_records, self.validation_records = list(train_records), list(validation_records)
        self._step_metrics: dict[str, float] | None = None  # the last step's, until it is logged

    def _prompts_of(self, slots: list[int]) -> tuple[int, int]:
        """(step, position of the first prompt in the step) of a batch of slots, checked against
        the Trainer's step: a batch out of line would silently train on other prompts."""
        prompts = self.config.grpo_prompts
        step, first = divmod(slots[0], prompts)
        if slots != list(range(slots[0], slots[0] + len(slots))) or (slots[-1] // prompts) != step \
                or step != self.state.global_step:
            raise RuntimeError(f"GRPO step {self.state.global_step} got prompt slots {slots} (steps of "
                               f"{prompts} prompts): the data stream is out of line with the Trainer's steps")
        return step, first

    def training_step(self, model, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        from livr.training.grpo_run import _order

        c = self.config
        slots = [int(s) for s in inputs["slot"].tolist()]
        step, first = self._prompts_of(slots)
        group = c.grpo_num_generations
        indices = _order(len(self.train_records), c.seed, step, c.grpo_prompts)[first: first + len(slots)]
        self.lm.model.eval()  # no dropout in GRPO (grpo_backward); gradients flow all the same
        loss, sums = grpo_backward(
            self.lm, self.reference, [self.train_records[i] for i in indices], group_size=group,
            max_new_tokens=c.grpo_max_new_tokens, temperature=c.grpo_temperature, epsilon=c.grpo_epsilon,
            beta=c.grpo_beta, generator=completion_generators(c.seed, step, first * group, len(slots) * group),
            denominator=len(slots) * group,  # this process's mean; DDP averages the processes' gradients
            model=model, no_sync=functools.partial(self.accelerator.no_sync, model),
            backward=self.accelerator.backward)
        sums = self.accelerator.reduce(sums.to(self.args.device), reduction="sum")
        self._step_metrics = grpo_metrics(sums, c.grpo_prompts * group)
        return loss.to(self.args.device)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._step_metrics is not None:  # the Trainer's per-step training log
            logs = {**logs, **self._step_metrics}
            self._step_metrics = None
        super().log(logs, start_time)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        from accelerate.utils import broadcast_object_list

        from livr.training.grpo_run import _validate

        accuracy = [None]
        if self.is_world_process_zero():
            with torch.no_grad():
                accuracy = [_validate(self.lm, self.base, self.validation_records, self.config.grpo_max_new_tokens)]
        if self.args.world_size > 1:
            broadcast_object_list(accuracy)
        metrics = {f"{metric_key_prefix}_accuracy": accuracy[0]}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def history(log_history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """metrics.json's history from the Trainer's `state.log_history`: one entry per step with its
    `METRICS`, and `val_accuracy` at the steps validated (step 0: the init_from weights)."""
    from livr.training.grpo import METRICS

    by_step: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        if "reward_mean" in entry:
            by_step.setdefault(entry["step"], {"step": entry["step"]}).update({k: entry[k] for k in METRICS})
        if "eval_accuracy" in entry:
            by_step.setdefault(entry["step"], {"step": entry["step"]})["val_accuracy"] = entry["eval_accuracy"]
    return [by_step[s] for s in sorted(by_step)]


class StopAfter(TrainerCallback):
    """Ends `train()`, with a checkpoint, once `steps` more steps are done (tests of resume:
    `run_grpo(..., stop_after=N)`)."""

    def __init__(self, steps: int):
        self.steps, self.end = steps, steps

    def on_train_begin(self, args, state, control, **kwargs):
        self.end = state.global_step + self.steps  # a resumed run starts at its checkpoint's step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.end:
            control.should_training_stop = True
            control.should_save = True
