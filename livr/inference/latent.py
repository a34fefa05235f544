"""LVR's latent-mode decoding: batched, greedy, with the KV cache and left padding.

Prompts end with `<|lvr_start|>` (the encoder puts it there), so every row starts in latent
mode: the last hidden state is fed back as the next input embedding, step after step, until the
row's exit fires (`livr.models.lvr`: fixed budget, latent-end distance, or the mode switch;
`max_steps` always). The row then takes `<|lvr_end|>` (after `<|lvr_latent_end|>` for the
latent-end exit) and decodes text greedily until an end-of-turn token. Rows move independently:
each step feeds one embedding per row, a hidden state or a token's embedding.

Returned per row: the text tokens, the number of latent steps taken, and the hidden states fed
back (what a replay patches into the slots: `livr.models.lvr.patched_slots`).
`generate_latent_answers` is the method's decoder (`DECODERS["latent"]`): the same arguments as
`generate_answers`, plus an optional list that receives the latent steps of every prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from livr.models.lvr import END, LATENT_END, LvrSpec


@dataclass
class LatentDecode:
    tokens: torch.Tensor  # (B, T) text tokens after <|lvr_end|>, pad after the end of turn
    steps: torch.Tensor  # (B,) latent steps taken
    latents: list[torch.Tensor]  # per row (steps, H): the hidden states fed back, in order
    logprobs: list[torch.Tensor] | None = None  # per row: log-prob of each text token (GRPO's old policy)


def pick(logits: torch.Tensor, temperature: float = 0.0,
         generator: torch.Generator | Sequence[torch.Generator] | None = None,
         banned: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) next tokens: argmax at temperature 0, else a sample from softmax(logits / temperature)
    over the tokens not in `banned` (sampling only: the log-probs stay those of the model).
    `generator` may be one generator per row: then row i's sample depends only on its own
    generator, not on which other rows share the batch (GRPO across processes)."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if banned is not None and banned.numel():
        logits = logits.index_fill(-1, banned.to(logits.device), float("-inf"))
    probs = torch.softmax(logits, dim=-1).cpu()
    if isinstance(generator, (list, tuple)):
        if len(generator) != len(probs):
            raise ValueError(f"{len(generator)} generators for a batch of {len(probs)} rows")
        return torch.cat([torch.multinomial(row[None], 1, generator=g)[:, 0]
                          for row, g in zip(probs, generator)]).to(logits.device)
    return torch.multinomial(probs, 1, generator=generator)[:, 0].to(logits.device)


def _exits(spec: LvrSpec, steps: torch.Tensor, hidden: torch.Tensor, logits: torch.Tensor,
           end_embedding: torch.Tensor, end_id: int) -> torch.Tensor:
    """(B,) bool: rows whose latent mode ends before the next step."""
    capped = steps >= spec.max_steps
    if spec.exit == "fixed":
        return capped | (steps >= spec.steps)
    if spec.exit == "latent_end":
        distance = 1.0 - torch.nn.functional.cosine_similarity(hidden.float(), end_embedding.float()[None], dim=-1)
        return capped | (distance <= spec.end_threshold)
    return capped | (logits.argmax(-1) == end_id)  # mode_switch


@torch.no_grad()
def lvr_greedy(lm, batch: dict, spec: LvrSpec, *, max_new_tokens: int, eos, pad_token_id: int,
               temperature: float = 0.0, generator=None,
               banned: torch.Tensor | None = None, end_token: str = END) -> LatentDecode:
    """Latent steps, then greedy text, for a left-padded prompt batch ending in <|lvr_start|>
    (Mirage: <|latent_start|>, with `end_token` <|latent_end|>).
    `temperature` > 0 samples the text tokens instead (GRPO rollouts; `generator`, one or one per
    row, seeds them); the latent steps are deterministic either way; `banned` token ids are never
    sampled."""
    from transformers import DynamicCache

    model = lm.base_model
    device = model.device
    tokenizer = lm.tokenizer
    end_id = int(tokenizer.convert_tokens_to_ids(end_token))
    latent_end_id = tokenizer.convert_tokens_to_ids(LATENT_END)  # None without LVR's tokens (Mirage)
    latent_end_id = end_id if latent_end_id is None else int(latent_end_id)
    embed = model.get_input_embeddings()
    end_embedding = embed(torch.tensor([latent_end_id], device=device))[0]  # not .weight: peft wrappers
    eos_ids = torch.tensor([eos] if isinstance(eos, int) else list(eos or []), device=device)

    inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v
              for k, v in lm.model_inputs(batch, "standard").items()}
    positions = lm.adapter.position_ids(lm.model, batch).to(device)
    inputs["position_ids"] = positions
    attention = inputs["attention_mask"]
    cache = DynamicCache(config=model.config)
    out = model(**inputs, past_key_values=cache, use_cache=True, output_hidden_states=True)

    rows = attention.shape[0]
    latent = torch.ones(rows, dtype=torch.bool, device=device)  # still in latent mode
    pending = torch.full((rows,), -1, dtype=torch.long, device=device)  # a token owed after exit
    steps = torch.zeros(rows, dtype=torch.long, device=device)
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    fed: list[list[torch.Tensor]] = [[] for _ in range(rows)]
    texts: list[list[int]] = [[] for _ in range(rows)]
    scores: list[list[torch.Tensor]] = [[] for _ in range(rows)]
    eos_set = set(eos_ids.tolist())
    for position in range(1, spec.max_steps + 3 + max_new_tokens):
        hidden, logits = out.hidden_states[-1][:, -1], out.logits[:, -1]
        exit_now = latent & _exits(spec, steps, hidden, logits, end_embedding, end_id)
        # a row leaving latent mode takes <|lvr_end|> (latent_end: <|lvr_latent_end|> first)
        first = torch.full_like(pending, end_id)
        if spec.exit == "latent_end":
            first = torch.where(exit_now, torch.full_like(pending, latent_end_id), first)
            pending = torch.where(exit_now, torch.full_like(pending, end_id), pending)
        latent &= ~exit_now
        owed = ~latent & ~exit_now & (pending >= 0)
        token = torch.where(owed, pending, pick(logits, temperature, generator, banned))
        pending = torch.where(owed, torch.full_like(pending, -1), pending)
        token = torch.where(exit_now, first, token)
        emits = ~latent & ~exit_now & ~owed & ~done  # rows producing an answer token now
        for r in emits.nonzero(as_tuple=True)[0].tolist():
            texts[r].append(int(token[r]))
            scores[r].append(torch.log_softmax(logits[r].float(), -1)[token[r]])
            if texts[r][-1] in eos_set or len(texts[r]) >= max_new_tokens:
                done[r] = True
        if bool(done.all()):
            break
        for r in latent.nonzero(as_tuple=True)[0].tolist():
            fed[r].append(hidden[r].detach().clone())
        next_embeds = embed(torch.where(done, torch.full_like(token, pad_token_id), token))
        next_embeds = torch.where(latent[:, None], hidden.to(next_embeds.dtype), next_embeds)
        steps += latent.long()
        attention = torch.cat([attention, torch.ones_like(attention[:, :1])], dim=1)
        out = model(inputs_embeds=next_embeds[:, None], attention_mask=attention,
                    position_ids=positions[..., -1:] + position, past_key_values=cache, use_cache=True,
                    output_hidden_states=True)
    width = max((len(t) for t in texts), default=0)
    text_tokens = torch.full((rows, width), pad_token_id, dtype=torch.long)
    for r, t in enumerate(texts):
        text_tokens[r, : len(t)] = torch.tensor(t, dtype=torch.long)
    latents = [torch.stack(f) if f else torch.zeros((0, hidden.shape[-1]), device=device) for f in fed]
    logprobs = [torch.stack(x).cpu() if x else torch.zeros(0) for x in scores]
    return LatentDecode(tokens=text_tokens, steps=steps.cpu(), latents=latents, logprobs=logprobs)



def decoding_spec(lm) -> tuple[LvrSpec | None, str]:
    """(settings, end token) of a model's latent decoding: LVR's own, or Mirage's (hidden states
    fed back after <|latent_start|> for at most K steps, or until the LM head predicts
    <|latent_end|>: LVR's mode-switch exit with the cap K)."""
    if lm.lvr is not None:
        return lm.lvr, END
    if lm.mirage is not None:
        from livr.data.mirage_layout import END as MIRAGE_END

        k = lm.mirage.latents
        return LvrSpec(steps=k, exit="mode_switch", max_steps=k), MIRAGE_END
    return None, END


@torch.no_grad()
def generate_latent_answers(lm, examples: Sequence, *, batch_size: int = 8, max_new_tokens: int = 8,
                            mask_policy: str = "standard", progress: bool = False, desc: str = "generating",
                            latent_steps: list | None = None, spec: LvrSpec | None = None) -> list[str]:
    """Answers of an LVR model in latent mode (text only, special tokens removed), in the order of
    `examples`; `latent_steps`, if given, is filled with the steps each prediction took. `spec`
    overrides the model's LVR settings (a probe's step budget)."""
    from tqdm.auto import tqdm

    from livr.errors import ConfigError
    from livr.inference.generate import prompt_collator

    own, end_token = decoding_spec(lm)
    spec = spec or own
    if spec is None:
        raise ConfigError("latent decoding needs an LVR or Mirage model (a run of --method lvr or mirage)")
    if mask_policy != "standard":
        raise ConfigError(f"LVR decodes under the standard mask only; mask policy {mask_policy!r} "
                          "is a LIVR probe")
    collator = prompt_collator(lm)
    model = lm.base_model
    tokenizer = lm.tokenizer
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].input_ids), i))
    texts: list[str] = [""] * len(examples)
    steps: list[int] = [0] * len(examples)
    was_training = model.training
    model.eval()
    try:
        for start in tqdm(range(0, len(order), batch_size), desc=desc, disable=not progress, leave=False):
            index = order[start : start + batch_size]
            batch = collator.pad([examples[i] for i in index])
            out = lvr_greedy(lm, batch, spec, max_new_tokens=max_new_tokens, eos=eos,
                             pad_token_id=tokenizer.pad_token_id, end_token=end_token)
            for j, (i, row) in enumerate(zip(index, tokenizer.batch_decode(out.tokens, skip_special_tokens=True))):
                texts[i] = row.strip()
                steps[i] = int(out.steps[j])
    finally:
        model.train(was_training)
    if latent_steps is not None:
        latent_steps[:] = steps
    return texts
