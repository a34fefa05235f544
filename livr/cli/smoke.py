"""`livr smoke`: a short, real smoke run of the method on a tiny model (no GPU, no network).

It generates a small synthetic task, trains a tiny Qwen2.5-VL with K latents for a few steps of
stage 1 (bottleneck) and stage 2 (standard), and checks the bottleneck's isolation by gradient.
The full miniature reproduction (zero-shot / Direct SFT / LIVR and probes) is `livr demo`.
"""

from __future__ import annotations

import argparse
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("smoke", help="a short smoke run of LIVR on a tiny model (CPU, offline)")
    p.add_argument("--task", default="localization", help="synthetic task to train on")
    p.add_argument("--steps", type=int, default=12, help="optimizer steps per stage")
    p.add_argument("--num-latents", type=int, default=16)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=run)


def pixel_gradient_norm(lm, batch, policy: str) -> float:
    import torch

    pixels = batch["pixel_values"].clone().requires_grad_(True)
    loss = lm({**batch, "pixel_values": pixels}, mask_policy=policy).loss
    (grad,) = torch.autograd.grad(loss, pixels)
    return float(grad.abs().sum())


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from livr import load_backbone
    from livr.data.synth import generate_split
    from livr.data.tasks import get_task
    from livr.errors import ConfigError

    get_task(args.task)
    if args.steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {args.steps}")
    torch.manual_seed(args.seed)
    start = time.time()
    records = generate_split(args.task, "train", 4 * args.steps, args.seed)
    print(f"generated {len(records)} {args.task} records")

    lm = load_backbone("tiny:qwen2_5_vl", num_latents=args.num_latents, seed=args.seed)
    collator = lm.collator()
    examples = [collator.encode(r, i) for i, r in enumerate(records)]  # preprocess once
    params = [p for p in lm.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    lm.model.train()
    for stage, policy in ((1, "bottleneck"), (2, "standard")):
        bar = tqdm(range(args.steps), desc=f"stage {stage} ({policy})")
        for step in bar:
            batch = collator.pad(examples[4 * step : 4 * step + 4])
            loss = lm(batch, mask_policy=policy).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")

    probe = collator.pad(examples[:4])
    with_latents = pixel_gradient_norm(lm, probe, "bottleneck")
    no_latents = load_backbone("tiny:qwen2_5_vl", num_latents=0, seed=args.seed)
    without = pixel_gradient_norm(no_latents, no_latents.collator()(records[:4]), "bottleneck")
    print(f"|d loss / d pixels| under the bottleneck: with {args.num_latents} latents {with_latents:.3e}, "
          f"without latents {without:.1e} (must be exactly 0)")
    print(f"smoke run finished in {time.time() - start:.1f}s")
    return 0 if without == 0.0 and with_latents > 0 else 1
