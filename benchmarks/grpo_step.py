"""What a GRPO step costs next to a supervised step, on the same model and records.

    .venv/bin/python benchmarks/grpo_step.py                     # livr-tiny, LVR and LIVR, 5 repeats
    .venv/bin/python benchmarks/grpo_step.py --model tiny:qwen2_5_vl --repeats 2 --out /tmp/g.json

For each family (LVR with `--lvr-steps` latent steps, fixed exit; LIVR with `--latents` latent
tokens) one model is built from one seed, and three things are timed in turn, in a rotating
order, after one warm-up each:

    supervised  one training step (forward, backward, AdamW) on a batch of P x G records with
                their answers, standard mask (the cross-entropy step; LVR's MSE term, a few
                elementwise operations, is not part of it)
    rollout     the sampled generation alone of `livr.training.grpo.rollout`: P prompts x G
                completions (LVR: latent mode, recording the hidden states fed back)
    grpo        one whole `livr.training.grpo.grpo_step`: rollout, rewards, the reference model's
                teacher-forced replay (no grad), the policy's replay with backward, AdamW

The same P x G sequences go through each, so "grpo / supervised" is the price of a GRPO step
per sequence relative to supervised training. Medians of `--repeats`; one torch thread.
The records are counting records from the synthetic generator at 112x112 (16 image tokens);
the answer reward is whatever the model samples, so the update itself is real.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

from common import RESULTS, limit_threads, stamp, write_result

DEFAULT_OUT = RESULTS / "grpo_step.json"


def records(n: int, side: int) -> list[dict]:
    from livr.data.synth import generate_split

    out = generate_split("counting", "test", n, 0)
    for r in out:
        r["images"] = [im.convert("RGB").resize((side, side)) for im in r["images"]]
    return out


def build(model: str, family: str, args):
    from livr import load_backbone
    from livr.models.lvr import LvrSpec

    if family == "lvr":
        lm = load_backbone(model, num_latents=0, lvr=LvrSpec(steps=args.lvr_steps), seed=0, lora_dropout=0.0)
        lm.roi_tokens = lambda record, vision, rid: list(range(args.lvr_steps))  # any patches: timing only
    else:
        lm = load_backbone(model, num_latents=args.latents, seed=0, lora_dropout=0.0)
    return lm


def measure(model: str, family: str, args) -> dict:
    import torch

    from livr.training.grpo import grpo_step, rollout

    lm = build(model, family, args)
    ref = copy.deepcopy(lm)
    for p in ref.model.parameters():
        p.requires_grad_(False)
    params = [p for p in lm.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-6, weight_decay=0.0)
    prompts = records(args.prompts, args.image_size)
    batch = lm.collator("standard")([r for r in prompts for _ in range(args.group)])
    generator = torch.Generator().manual_seed(0)

    def supervised():
        lm.model.train()
        optimizer.zero_grad(set_to_none=True)
        lm(batch, mask_policy="standard").loss.backward()
        optimizer.step()

    def roll():
        rollout(lm, prompts, group_size=args.group, max_new_tokens=args.max_new_tokens, generator=generator)

    def grpo():
        grpo_step(lm, ref, optimizer, prompts, group_size=args.group, max_new_tokens=args.max_new_tokens,
                  generator=generator)

    kinds = {"supervised": supervised, "rollout": roll, "grpo": grpo}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for fn in kinds.values():  # warm-up
        fn()
    names = list(kinds)
    for i in range(args.repeats):
        for name in names[i % 3:] + names[: i % 3]:  # rotate the order: drift on a shared machine spreads out
            start = time.perf_counter()
            kinds[name]()
            times[name].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    return {
        "family": family, "model": model, "trainable_parameters": sum(p.numel() for p in params),
        "lvr_steps": args.lvr_steps if family == "lvr" else None,
        "num_latents": args.latents if family == "livr" else None,
        "sequences_per_step": args.prompts * args.group, "supervised_batch_tokens": int(batch["input_ids"].numel()),
        "median_s": {k: round(v, 4) for k, v in median.items()},
        "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "grpo_over_supervised": round(median["grpo"] / median["supervised"], 2),
        "rollout_share_of_grpo": round(median["rollout"] / median["grpo"], 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="livr-tiny")
    p.add_argument("--families", default="lvr,livr")
    p.add_argument("--prompts", type=int, default=2, help="P: prompts per step")
    p.add_argument("--group", type=int, default=8, help="G: completions per prompt")
    p.add_argument("--max-new-tokens", type=int, default=4)
    p.add_argument("--lvr-steps", type=int, default=8)
    p.add_argument("--latents", type=int, default=4)
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--note", default="", help="recorded with the result (e.g. how busy the machine was)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args()
    limit_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    result = {"benchmark": "grpo_step", **stamp(), "threads": args.threads, "note": args.note,
              "command": "benchmarks/grpo_step.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                                                               if k not in ("out", "note")),
              "prompts": args.prompts, "group": args.group, "max_new_tokens": args.max_new_tokens,
              "results": [measure(args.model, f, args) for f in args.families.split(",")]}
    for r in result["results"]:
        print(f"{r['family']}: supervised {r['median_s']['supervised']:.3f} s, rollout {r['median_s']['rollout']:.3f} s, "
              f"grpo {r['median_s']['grpo']:.3f} s ({r['grpo_over_supervised']}x)")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
