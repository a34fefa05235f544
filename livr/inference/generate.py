"""Batched greedy generation with the KV cache, latents appended exactly as in training.

Prompts are encoded once (`encode_prompts`) through the same collator as training, without the
answer and with the generation prompt, then padded on the left so every row ends at the same
position and tokens can be appended. Under the standard policy the mask is a plain 2-D padding
mask, so transformers' own `generate` (and its cache) does all the work. Any other policy (the
bottleneck at test time, Sec. 4.4.1) runs `masked_greedy`: a greedy loop over a `DynamicCache`
that prefills with the policy's 4-D mask and rope positions, then feeds one mask row per new
token. Generated tokens are ANSWER tokens, and the last prompt row predicts the first of them,
so it takes the answer role exactly as in training (see `livr.models.masks`).

    examples = encode_prompts(lm, records)                # once
    texts = generate_answers(lm, examples, max_new_tokens=8)
    texts = generate_answers(lm, examples, mask_policy="bottleneck")   # image seen only via latents
    report = evaluate(lm, records, examples)              # {"accuracy", "per_task", "predictions", ...}
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from livr.data.collator import EncodedExample
from livr.errors import ConfigError
from livr.inference.answers import answer_kind, score

# Generation budget per answer kind: a letter or a number is a couple of tokens plus the end of
# turn; a VSP plan ("Action plan: R, D, ...") is longer.
MAX_NEW_TOKENS = {"choice": 8, "count": 8, "plan": 128}


def default_max_new_tokens(records: Sequence[dict[str, Any]]) -> int:
    return max((MAX_NEW_TOKENS[answer_kind(r)] for r in records), default=8)


def prompt_collator(lm, *, image_repeats: int = 1, max_length: int = 4096):
    return lm.collator("standard", max_length=max_length, padding_side="left", with_answer=False,
                       image_repeats=image_repeats)


def encode_prompts(lm, records: Sequence[dict[str, Any]], *, image_repeats: int = 1,
                   max_length: int = 4096) -> list[EncodedExample]:
    """Encode each record's prompt (images, question, latents, generation prompt) once."""
    collator = prompt_collator(lm, image_repeats=image_repeats, max_length=max_length)
    return [collator.encode(r, i) for i, r in enumerate(records)]


def _answer_row_mask(segment_ids: torch.Tensor, policy, dtype) -> torch.Tensor:
    """Prefill mask (B, 1, L, L) for prompts whose next token is the answer's first token."""
    from livr.models.masks import build_attention_mask
    from livr.models.segments import Segment

    answer = torch.full_like(segment_ids[:, :1], int(Segment.ANSWER))
    extended = torch.cat([segment_ids, answer], dim=1)  # gives the last prompt row the answer role
    return build_attention_mask(extended, policy, dtype=dtype)[..., :-1, :-1]


@torch.no_grad()
def masked_greedy(lm, batch: dict, mask_policy: str, *, max_new_tokens: int, eos,
                  pad_token_id: int, temperature: float = 0.0, generator=None,
                  logprobs: list | None = None, banned: torch.Tensor | None = None) -> torch.Tensor:
    """Greedy continuation (B, <= max_new_tokens) of a left-padded prompt batch under
    `mask_policy`; finished rows continue with `pad_token_id`, as `generate()` does.
    `temperature` > 0 samples instead (GRPO rollouts, seeded by `generator`: one, or one per row as
    in `livr.inference.latent.pick`; never a `banned` token id); `logprobs`, if given, ends up
    holding one (B, T) tensor: the log-probability of each chosen token."""
    from transformers import DynamicCache

    from livr.inference.latent import pick
    from livr.models.attention import NAME, PLAN_KWARG, MaskPlan
    from livr.models.linear_attention import PLAN_KWARG as LINEAR_PLAN
    from livr.models.masks import get_policy
    from livr.models.segments import Segment

    policy = get_policy(mask_policy)
    model = lm.base_model
    device = model.device
    dtype = model.dtype
    blockwise = lm.attention == NAME and not policy.is_standard
    inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v
              for k, v in lm.model_inputs(batch, policy, force_4d=not blockwise).items()}
    segment_ids = batch["segment_ids"].to(device)
    linear = LINEAR_PLAN in inputs  # hybrid models: the linear layers take the plan as well
    if linear:
        inputs[LINEAR_PLAN] = MaskPlan.for_prompts(segment_ids, policy)
    if blockwise:
        inputs[PLAN_KWARG] = MaskPlan.for_prompts(segment_ids, policy)
    else:
        inputs["attention_mask"] = _answer_row_mask(segment_ids, policy, dtype)
    positions = inputs["position_ids"]
    # one row per new token: an ANSWER row sees every earlier key its policy allows
    blocked = policy.blocked_table(device)[int(Segment.ANSWER)]
    prompt_row = torch.zeros(segment_ids.shape, dtype=dtype, device=device)
    prompt_row.masked_fill_(blocked[segment_ids] | (segment_ids == Segment.PAD), torch.finfo(dtype).min)
    eos_ids = torch.tensor([eos] if isinstance(eos, int) else list(eos or []), device=device)

    cache = DynamicCache(config=model.config)
    out = model(**inputs, past_key_values=cache, use_cache=True)
    tokens, done = [], torch.zeros(len(segment_ids), dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        token = pick(out.logits[:, -1], temperature, generator, banned)
        token = torch.where(done, torch.full_like(token, pad_token_id), token)
        tokens.append(token)
        if logprobs is not None:
            logprobs.append(torch.log_softmax(out.logits[:, -1].float(), -1).gather(1, token[:, None])[:, 0].cpu())
        done |= torch.isin(token, eos_ids)
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        if blockwise:
            step_mask = {PLAN_KWARG: MaskPlan.for_new_tokens(segment_ids, step, policy)}
        else:
            generated = torch.zeros((len(token), step + 1), dtype=dtype, device=device)  # answer keys
            step_mask = {"attention_mask": torch.cat([prompt_row, generated], dim=1)[:, None, None, :]}
        if linear:
            step_mask[LINEAR_PLAN] = MaskPlan.for_new_tokens(segment_ids, step, policy)
        out = model(input_ids=token[:, None], position_ids=positions[..., -1:] + step + 1,
                    past_key_values=cache, use_cache=True, **step_mask)
    if logprobs is not None:
        logprobs[:] = [torch.stack(logprobs, dim=1)]
    return torch.stack(tokens, dim=1)


@torch.no_grad()
def generate_answers(lm, examples: Sequence[EncodedExample], *, batch_size: int = 8,
                     max_new_tokens: int = 8, mask_policy: str = "standard", progress: bool = False,
                     desc: str = "generating") -> list[str]:
    """Greedy answers (decoded text, special tokens removed), in the order of `examples`.

    Examples are batched by length (less padding) and the results put back in order.
    `mask_policy` other than standard applies that policy while generating (`masked_greedy`).
    """
    from tqdm.auto import tqdm

    from livr.models.masks import get_policy

    policy = get_policy(mask_policy)
    collator = prompt_collator(lm)  # only pads: the examples are already encoded
    model = lm.base_model
    device = model.device
    tokenizer = lm.tokenizer
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].input_ids), i))
    texts: list[str] = [""] * len(examples)
    was_training = model.training
    model.eval()
    try:
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
            index = order[start : start + batch_size]
            batch = collator.pad([examples[i] for i in index])
            if policy.is_standard:
                inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v
                          for k, v in lm.model_inputs(batch, "standard").items()}
                out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                     pad_token_id=tokenizer.pad_token_id, eos_token_id=eos)
                new = out[:, batch["input_ids"].shape[1]:]
            else:
                new = masked_greedy(lm, batch, policy.name, max_new_tokens=max_new_tokens, eos=eos,
                                    pad_token_id=tokenizer.pad_token_id)
            for i, row in zip(index, tokenizer.batch_decode(new, skip_special_tokens=True)):
                texts[i] = row.strip()
    finally:
        model.train(was_training)
    return texts


# Decoding modes by name (`livr.methods.Method.decoding`); each takes generate_answers' arguments.
def _latent(*args, **kwargs) -> list[str]:
    from livr.inference.latent import generate_latent_answers

    return generate_latent_answers(*args, **kwargs)


DECODERS: dict[str, Callable[..., list[str]]] = {"greedy": generate_answers, "latent": _latent}


def decoder(name: str) -> Callable[..., list[str]]:
    """The decoding function of a method's `decoding` mode."""
    try:
        return DECODERS[name]
    except KeyError:
        raise ConfigError(f"decoding {name!r} is unknown; choose one of {', '.join(DECODERS)}") from None


def evaluate(lm, records: Sequence[dict[str, Any]], examples: Sequence[EncodedExample] | None = None,
             *, batch_size: int = 8, max_new_tokens: int | None = None, image_repeats: int = 1,
             max_length: int = 4096, mask_policy: str = "standard", progress: bool = False,
             desc: str = "evaluating", decoding: str = "greedy") -> dict[str, Any]:
    """Accuracy of the answers decoded with `decoding` (DECODERS) on `records` (see
    `livr.inference.answers.score`), plus the predictions themselves."""
    if examples is None:
        examples = encode_prompts(lm, records, image_repeats=image_repeats, max_length=max_length)
    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens(records)
    extra = {"latent_steps": []} if decoding == "latent" else {}
    predictions = decoder(decoding)(lm, examples, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                    mask_policy=mask_policy, progress=progress, desc=desc, **extra)
    report = score(records, predictions)
    report["predictions"] = predictions
    report.update(extra)
    return report
