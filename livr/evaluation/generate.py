"""Batched greedy generation with the KV cache, latents appended exactly as in training.

Prompts are encoded once (`encode_prompts`) through the same collator as training, without the
answer and with the generation prompt, then padded on the left so every row ends at the same
position and `generate()` can append tokens. The standard policy is a plain 2-D padding mask, so
transformers' own `generate` (and its cache) does all the work.

    examples = encode_prompts(lm, records)                # once
    texts = generate_answers(lm, examples, max_new_tokens=8)
    report = evaluate(lm, records, examples)              # {"accuracy", "per_task", "predictions", ...}
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from livr.data.collator import EncodedExample
from livr.evaluation.answers import answer_kind, score

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


@torch.no_grad()
def generate_answers(lm, examples: Sequence[EncodedExample], *, batch_size: int = 8,
                     max_new_tokens: int = 8, progress: bool = False,
                     desc: str = "generating") -> list[str]:
    """Greedy answers (decoded text, special tokens removed), in the order of `examples`.

    Examples are batched by length (less padding) and the results put back in order.
    """
    from tqdm.auto import tqdm

    collator = prompt_collator(lm)  # only pads: the examples are already encoded
    model = lm.base_model
    device = model.get_input_embeddings().weight.device
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
            inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v
                      for k, v in lm.model_inputs(batch, "standard").items()}
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                 num_beams=1, pad_token_id=tokenizer.pad_token_id, eos_token_id=eos)
            new = out[:, batch["input_ids"].shape[1]:]
            for i, row in zip(index, tokenizer.batch_decode(new, skip_special_tokens=True)):
                texts[i] = row.strip()
    finally:
        model.train(was_training)
    return texts


def evaluate(lm, records: Sequence[dict[str, Any]], examples: Sequence[EncodedExample] | None = None,
             *, batch_size: int = 8, max_new_tokens: int | None = None, image_repeats: int = 1,
             max_length: int = 4096, progress: bool = False, desc: str = "evaluating") -> dict[str, Any]:
    """Accuracy of greedy answers on `records` (see `livr.evaluation.answers.score`), plus the
    predictions themselves."""
    if examples is None:
        examples = encode_prompts(lm, records, image_repeats=image_repeats, max_length=max_length)
    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens(records)
    predictions = generate_answers(lm, examples, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                   progress=progress, desc=desc)
    report = score(records, predictions)
    report["predictions"] = predictions
    return report
