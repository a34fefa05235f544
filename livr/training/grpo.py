"""GRPO after supervised training: rollouts, rewards, group advantages, replay, clipped loss.

One step: G sampled completions per prompt (`rollout`: latent-mode decoding for an LVR model,
recording the hidden states fed back; ordinary sampled generation under the standard mask
otherwise, where LIVR's latent tokens are plain prompt tokens), rewards from the text (`rewards`:
accuracy through `livr.inference.answers.is_correct`; LVR adds the format reward), group-normalised
advantages, then the clipped-ratio objective with a k3 KL to a reference policy, both over
completion text tokens only. The log-probabilities of a completion are recomputed by one
teacher-forced forward (`replay_logprobs`) over prompt + completion; for LVR the recorded hidden
states are patched into the slot positions (`livr.models.lvr.patched_slots`), which is
GRPO_latent's replay: slots carry no token distribution and so no policy loss.

A step is split in two so that the optimiser step can be a `transformers.Trainer`'s
(`livr.training.grpo_trainer.GrpoTrainer`, what `livr grpo` runs): `grpo_backward` (rollout,
rewards, advantages, the backward pass of the objective) and `grpo_metrics` (the step's logged
numbers). `grpo_step` puts them together with a plain torch optimiser, for tests and benchmarks.

Not TRL's GRPOTrainer: its rollouts go through `model.generate`, which can neither feed hidden
states back (LVR) nor take livr's prompt encoding (docs/grpo.md).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from livr.inference.answers import is_correct
from livr.models.segments import Segment


@dataclass
class Rollout:
    records: list[dict[str, Any]]  # one per completion (each prompt repeated G times)
    tokens: list[torch.Tensor]  # per completion: text token ids, up to and including end of turn
    logprobs: list[torch.Tensor]  # per completion: log-prob of each text token while sampling
    latents: list[torch.Tensor] | None  # LVR: per completion (steps, H) hidden states fed back
    texts: list[str]


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4) -> torch.Tensor:
    """(N,) rewards in consecutive groups of `group_size` -> (r - group mean) / (group std + eps).
    A group whose rewards are all equal gets zero advantage."""
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    grouped = rewards.float().view(-1, group_size)
    centred = grouped - grouped.mean(1, keepdim=True)
    std = grouped.std(1, keepdim=True, unbiased=False) if group_size > 1 else torch.zeros_like(centred[:, :1])
    return (centred / (std + eps)).view(-1)


def rewards(records: Sequence[dict], texts: Sequence[str], *, lvr: bool,
            format_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(reward, accuracy) per completion. LVR's format reward (both <|lvr_start|> and <|lvr_end|>
    present) is always earned by livr's decoder, which forces the latent span; it is kept so the
    reward scale matches GRPO_latent's (accuracy + format)."""
    accuracy = torch.tensor([float(is_correct(r, t)) for r, t in zip(records, texts)])
    return accuracy + (format_weight if lvr else 0.0), accuracy


def _eos_ids(lm) -> set[int]:
    eos = lm.base_model.generation_config.eos_token_id
    if eos is None:
        eos = lm.tokenizer.eos_token_id
    return set([eos] if isinstance(eos, int) else list(eos))


def banned_ids(lm) -> torch.Tensor:
    """Added tokens other than end of turn (image placeholders, latent and LVR tokens): a sampled
    completion is text; an image placeholder in it would not even replay (no image features)."""
    eos = _eos_ids(lm)
    return torch.tensor(sorted(i for i in lm.tokenizer.added_tokens_decoder if i not in eos), dtype=torch.long)


def _trim(tokens: torch.Tensor, eos: set[int]) -> int:
    """Length of a completion: up to and including the first end-of-turn token."""
    for i, t in enumerate(tokens.tolist()):
        if t in eos:
            return i + 1
    return len(tokens)


@torch.no_grad()
def rollout(lm, records: Sequence[dict], *, group_size: int, max_new_tokens: int, temperature: float = 1.0,
            generator=None) -> Rollout:
    """`group_size` sampled completions of every record, prompts repeated consecutively.
    `generator`: one torch.Generator, or one per completion (`completion_generators`)."""
    from livr.inference.generate import masked_greedy
    from livr.inference.latent import lvr_greedy

    repeated = [r for r in records for _ in range(group_size)]
    batch = lm.collator("standard", padding_side="left", with_answer=False)(repeated)
    tok = lm.tokenizer
    eos = _eos_ids(lm)
    model = lm.base_model
    was_training = model.training
    model.eval()
    try:
        if lm.lvr is not None:
            out = lvr_greedy(lm, batch, lm.lvr, max_new_tokens=max_new_tokens, eos=sorted(eos),
                             pad_token_id=tok.pad_token_id, temperature=temperature, generator=generator,
                             banned=banned_ids(lm))
            tokens, scores, latents = out.tokens, out.logprobs, [x.detach() for x in out.latents]
        else:
            box: list = []
            tokens = masked_greedy(lm, batch, "standard", max_new_tokens=max_new_tokens, eos=sorted(eos),
                                   pad_token_id=tok.pad_token_id, temperature=temperature,
                                   generator=generator, logprobs=box, banned=banned_ids(lm)).cpu()
            scores, latents = list(box[0]), None
    finally:
        model.train(was_training)
    kept, kept_scores = [], []
    for row in range(len(repeated)):
        n = _trim(tokens[row], eos)
        kept.append(tokens[row][:n])
        kept_scores.append(scores[row][:n])
    texts = [t.strip() for t in tok.batch_decode([k.tolist() for k in kept], skip_special_tokens=True)]
    return Rollout(records=repeated, tokens=kept, logprobs=kept_scores, latents=latents, texts=texts)


def replay_logprobs(lm, roll: Rollout, index: int, model=None) -> torch.Tensor:
    """Log-probs (T,) of completion `index`'s text tokens under the current weights: one
    teacher-forced forward over prompt (+ latent slots patched with the recorded states + <|lvr_end|>)
    + completion. Gradients flow; the slots themselves get no log-prob. `model`: the module to
    call, `lm.model` or a wrapper of it (the Trainer's DistributedDataParallel, so that the
    forward takes part in its gradient reduction); the inputs are always built on `lm.model`."""
    from livr.models.lvr import END, SLOT, patched_slots

    record, text = roll.records[index], roll.tokens[index]
    one = lm.collator("standard", padding_side="left", with_answer=False)([record])
    prompt = one["input_ids"][0]
    tail = text
    slots = 0
    if roll.latents is not None:
        slots = len(roll.latents[index])
        ids = lm.tokenizer.convert_tokens_to_ids
        tail = torch.cat([torch.tensor([ids(SLOT)] * slots + [ids(END)], dtype=torch.long), text])
    full_ids = torch.cat([prompt, tail])[None]
    extra = full_ids.shape[1] - len(prompt)
    full = dict(one, input_ids=full_ids, attention_mask=torch.ones_like(full_ids),
                segment_ids=torch.cat([one["segment_ids"], torch.full((1, extra), int(Segment.ANSWER))], 1))
    if "mm_token_type_ids" in one:
        full["mm_token_type_ids"] = (full["segment_ids"] == Segment.IMAGE).long()
    device = lm.base_model.device
    full = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in full.items()}
    forward = lm.model if model is None else model
    mask = torch.zeros_like(full_ids, dtype=torch.bool)
    if slots:
        mask[0, len(prompt): len(prompt) + slots] = True
        with patched_slots(lm.model, slot_mask=mask, values=roll.latents[index]):
            logits = forward(**lm.model_inputs(full, "standard")).logits
    else:
        logits = forward(**lm.model_inputs(full, "standard")).logits
    start = full_ids.shape[1] - len(text)  # first text token; its logits sit one row earlier
    rows = logits[0, start - 1: full_ids.shape[1] - 1].float()
    return torch.log_softmax(rows, -1).gather(1, text.to(device)[:, None])[:, 0]


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, advantage: torch.Tensor,
              *, epsilon: float = 0.2, beta: float = 0.04) -> tuple[torch.Tensor, dict[str, float]]:
    """One completion's token-mean GRPO loss: -min(r A, clip(r, 1-eps, 1+eps) A) + beta k3-KL."""
    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    policy = -torch.minimum(ratio * advantage, clipped * advantage)
    delta = ref_logp - logp
    kl = torch.exp(delta) - delta - 1  # k3: unbiased, non-negative
    loss = (policy + beta * kl).mean() if len(logp) else logp.sum() * 0.0
    ratio, kl = ratio.detach(), kl.detach()
    clip = ((ratio - clipped.detach()).abs() > 0).float()
    return loss, {"kl": float(kl.mean()) if len(kl) else 0.0,
                  "clip_fraction": float(clip.mean()) if len(clip) else 0.0,
                  "ratio_mean": float(ratio.mean()) if len(ratio) else 1.0}


def completion_generators(seed: int, step: int, first: int, count: int) -> list[torch.Generator]:
    """One sampling generator per completion, seeded by (seed, step, global completion index):
    a completion is sampled alike whichever process draws it and whatever else is in its batch."""
    return [torch.Generator().manual_seed((seed * 1_000_003 + step) * 1_048_583 + first + k) for k in range(count)]


class InitReference:
    """The KL reference without a second model: the policy's own model, its trainable tensors
    (LoRA and latent rows, or the language model under full fine-tuning) pointed at their initial
    values for the reference forward and back at the current ones after (`weights()`). Only the
    trainable tensors are held twice, where a frozen `copy.deepcopy` of the model holds everything
    (the base weights and the vision tower too); the reference log-probs are the copy's, bit for
    bit (test_init_reference_equals_a_frozen_copy).

    Not peft's `disable_adapter()`: that is the base model without the supervised run's LoRA (and
    latent rows), not the init_from checkpoint GRPO's KL is measured against. Make it before any
    update (and before a resume loads its saved weights)."""

    def __init__(self, lm):
        self.lm = lm
        self.params = [p for p in lm.model.parameters() if p.requires_grad]
        self.initial = [p.detach().clone() for p in self.params]

    @contextlib.contextmanager
    def weights(self):
        """The model with the initial weights, in eval mode, for forwards without gradient. The
        tensors are swapped (`Parameter.data`), not copied: nothing extra is allocated, the
        parameters and the optimiser's state stay the same objects."""
        model = self.lm.model
        current = [p.data for p in self.params]
        was_training = model.training
        try:
            for p, w in zip(self.params, self.initial):
                p.data = w
            model.eval()
            yield self.lm
        finally:
            for p, w in zip(self.params, current):
                p.data = w
            model.train(was_training)


def _all_reduce_sum(tensors: Sequence[torch.Tensor]) -> None:
    """Sum `tensors` in place over the processes of the default group (a no-op in one process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)


METRICS = ("reward_mean", "reward_std", "accuracy", "kl", "clip_fraction", "ratio_mean")  # grpo_metrics' keys


def grpo_backward(lm, ref_lm, records: Sequence[dict], *, group_size: int, max_new_tokens: int,
                  temperature: float = 1.0, epsilon: float = 0.2, beta: float = 0.04, generator=None,
                  reward_fn=None, denominator: int | None = None, model=None, no_sync=None,
                  backward=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rollout, rewards, advantages and the backward pass of the clipped objective (theta_old =
    theta at rollout time, so ratios start at 1, as in GRPO with one update per rollout batch):
    the gradient of sum_i loss_i / `denominator` over this call's completions is added to the
    parameters' `.grad`; no optimiser step. `ref_lm` gives the KL reference: an `InitReference`
    of `lm` (the supervised checkpoint's weights swapped in) or a frozen copy of the model;
    `reward_fn(records, texts)` overrides the rewards.

    `denominator` (default: this call's number of completions) is what every completion's loss
    is divided by: the number of completions the update averages over. `model` is the module the
    policy forwards go through (default `lm.model`; the Trainer passes its DDP wrapper), `backward`
    does `loss.backward()` (the Trainer passes `accelerator.backward`), and `no_sync`, when given,
    is a context-manager factory entered around every completion's forward and backward but the
    last (DDP's `no_sync`: gradients accumulate locally and are all-reduced once, with the last).

    Returns (loss, sums): the detached sum of the divided losses, and float64 (6,) sums over this
    call's completions of kl, clip_fraction, ratio_mean, reward, reward^2 and accuracy
    (`grpo_metrics` turns sums over all the step's completions into the logged means)."""
    roll = rollout(lm, records, group_size=group_size, max_new_tokens=max_new_tokens,
                   temperature=temperature, generator=generator)
    if reward_fn is None:
        reward, accuracy = rewards(roll.records, roll.texts, lvr=lm.lvr is not None)
    else:
        reward = torch.as_tensor(reward_fn(roll.records, roll.texts), dtype=torch.float)
        accuracy = torch.tensor([float(is_correct(r, t)) for r, t in zip(roll.records, roll.texts)])
    advantage = group_advantages(reward, group_size)
    reference = ref_lm.weights() if isinstance(ref_lm, InitReference) else contextlib.nullcontext(ref_lm)
    with torch.no_grad(), reference as ref:
        refs = [replay_logprobs(ref, roll, i) for i in range(len(roll.tokens))]
    # dropout off (TRL's disable_dropout): the ratio and the KL compare one function, and a run
    # does not depend on the global RNG, so a resumed run repeats an uninterrupted one
    lm.model.eval()
    n = len(roll.tokens)
    denominator = n if denominator is None else denominator
    total_loss = torch.zeros((), dtype=torch.float32)
    sums = torch.zeros(6, dtype=torch.float64)  # kl, clip_fraction, ratio_mean, reward, reward^2, accuracy
    for i in range(n):
        sync = no_sync() if no_sync is not None and i < n - 1 else contextlib.nullcontext()
        with sync:
            logp = replay_logprobs(lm, roll, i, model=model)
            old = logp.detach()  # theta_old = theta: one update per rollout batch, ratios exactly 1
            loss, stats = grpo_loss(logp, old, refs[i], advantage[i].to(logp.device), epsilon=epsilon, beta=beta)
            scaled = loss / denominator
            if backward is None:
                scaled.backward()
            else:
                backward(scaled)
        total_loss += scaled.detach().float().cpu()
        sums[:3] += torch.tensor([stats["kl"], stats["clip_fraction"], stats["ratio_mean"]], dtype=torch.float64)
    sums[3:] += torch.stack([reward.sum(), (reward ** 2).sum(), accuracy.sum()]).double()
    return total_loss, sums


def grpo_metrics(sums: torch.Tensor, count: int) -> dict[str, float]:
    """The logged numbers of a step (`METRICS`) from `grpo_backward`'s sums over all the step's
    `count` completions (in every process): means, and the standard deviation of the rewards."""
    kl, clip, ratio, r1, r2, acc = (float(x) / count for x in sums.cpu())
    return {"reward_mean": r1, "reward_std": max(r2 - r1 * r1, 0.0) ** 0.5, "accuracy": acc,
            "kl": kl, "clip_fraction": clip, "ratio_mean": ratio}


def grpo_step(lm, ref_lm, optimizer, records: Sequence[dict], *, group_size: int, max_new_tokens: int,
              temperature: float = 1.0, epsilon: float = 0.2, beta: float = 0.04,
              generator=None, reward_fn=None, world_size: int = 1) -> dict[str, float]:
    """One whole step with a plain torch optimiser: `grpo_backward`, then `optimizer.step()`;
    returns `grpo_metrics`. A batch whose advantages are all zero and whose KL is zero leaves the
    weights as they are. (`livr grpo` runs `GrpoTrainer`, whose optimiser step is the Trainer's.)

    With `world_size` > 1 (torch.distributed initialised), each process passes its share of the
    step's prompts (whole groups, so advantages need no communication, and the same number of
    prompts in every process); gradients and metrics are summed over the processes before the
    optimiser step, so every process makes the update of the whole batch."""
    optimizer.zero_grad(set_to_none=True)
    total = len(records) * group_size * world_size  # the loss is a mean over every completion of the step
    _, sums = grpo_backward(lm, ref_lm, records, group_size=group_size, max_new_tokens=max_new_tokens,
                            temperature=temperature, epsilon=epsilon, beta=beta, generator=generator,
                            reward_fn=reward_fn, denominator=total)
    if world_size > 1:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for p in params:
            if p.grad is None:  # every process must send the same tensors
                p.grad = torch.zeros_like(p)
        sums = sums.to(params[0].grad.device)  # nccl reduces only GPU tensors
        _all_reduce_sum([p.grad for p in params] + [sums])
    optimizer.step()
    return grpo_metrics(sums, total)
