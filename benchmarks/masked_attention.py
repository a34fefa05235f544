"""Stage 1 on the two masked-attention paths against Direct SFT, side by side in one run.

    .venv/bin/python benchmarks/masked_attention.py                     # 256, 1,024 and 4,096 image tokens
    .venv/bin/python benchmarks/masked_attention.py --image-tokens 64 --size tiny --repeats 2 --out F
    python benchmarks/masked_attention.py --sft-attn flash_attention_2  # on a GPU with flash-attn

Per number of image tokens, one process builds the SFT model (LoRA, no latents) and the LIVR model
(LoRA, K latents) from one seed, encodes the same records once, and times in rotating order:

    sft        the SFT model, standard mask (the native path; `--sft-attn` picks its kernel)
    stage1     the LIVR model, bottleneck, `livr_masked` (livr.models.attention: causal kernel for
               the rows before the first blocked one, masked row blocks after; no L x L mask)
    stage1_4d  the LIVR model, bottleneck, the additive 4-D mask (the fallback path)
    stage2     the LIVR model, standard mask: what K latents cost with no mask at all, the
               reference for what any masked path can reach

Both stages compute the same logits and gradients (tests/models/test_masked_attention.py). The
goal (issue 19) is stage 1 / SFT within 5% of the floor (L + K) / L, in time and in activation
memory (bytes autograd saves for backward, parameters excluded; on a GPU, the peak allocated).
Time is wall-clock and, on a CPU, also the process's CPU time, which other jobs on a shared
machine do not stretch (they do still compete for caches and memory bandwidth).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from common import RESULTS, limit_threads, stamp, write_result

DEFAULT_OUT = RESULTS / "masked_attention.json"
VARIANTS = ("sft", "stage1", "stage1_4d", "stage2")


def plan_shape(lm, batch: dict) -> dict:
    """How livr_masked splits the stage-1 batch: causal prefix rows, masked rows, mask bytes
    (all blocks, float32) against one full (B, 1, L, L) float32 mask."""
    import torch

    from livr.models.attention import PLAN_KWARG

    plan = lm.model_inputs(batch, "bottleneck")[PLAN_KWARG]
    blocks = plan.blocks(torch.float32, torch.device("cpu"))
    batch_size, length = batch["segment_ids"].shape
    return {"prefix_rows": plan.prefix(), "masked_rows": length - plan.prefix(), "blocks": len(blocks),
            "block_mask_bytes": sum(m.numel() * 4 for _, _, m in blocks),
            "full_mask_bytes": batch_size * length * length * 4}


def run_point(args, image_tokens: int) -> dict:
    import torch

    from training_step import batches, build, records, side_for, sizes, training_step

    size = sizes()[args.size]
    max_pixels = side_for(image_tokens) ** 2
    sft = build(size, 0, max_pixels, seed=args.seed, attn_implementation=args.sft_attn)
    livr = build(size, args.latents, max_pixels, seed=args.seed, attention="livr_masked")
    assert livr.attention == "livr_masked"
    cuda = torch.cuda.is_available()
    if cuda:
        sft.to("cuda")
        livr.to("cuda")
    data = records(args.batch_size * args.batches, image_tokens)
    sft_batches = batches(sft, data, args.batch_size, "standard", latents=False)
    livr_batches = batches(livr, data, args.batch_size, "bottleneck")
    prepared = {"sft": (sft, sft_batches, False), "stage1": (livr, livr_batches, False),
                "stage1_4d": (livr, livr_batches, True),
                "stage2": (livr, [dict(b, mask_policy="standard") for b in livr_batches], False)}
    optimizers = {id(lm): torch.optim.AdamW([p for p in lm.model.parameters() if p.requires_grad], lr=1e-6)
                  for lm in (sft, livr)}
    for lm in (sft, livr):
        lm.model.train()
    samples: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for r in range(args.warmup + args.repeats):
        shift = r % len(VARIANTS)  # rotate, so drift spreads over all variants
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            lm, bs, force_4d = prepared[variant]
            policy = "bottleneck" if variant.startswith("stage1") else "standard"
            result = training_step(lm, optimizers[id(lm)], bs[r % len(bs)], policy, force_4d=force_4d)
            if r >= args.warmup:
                samples[variant].append(result)
    sft_len = statistics.mean(b["input_ids"].shape[1] for b in sft_batches)
    floor = (sft_len + args.latents) / sft_len
    memory = "peak_bytes" if cuda else "saved_bytes"
    row = {"image_tokens": image_tokens, "num_latents": args.latents, "batch_size": args.batch_size,
           "sft_length": sft_len, "livr_length": statistics.mean(b["input_ids"].shape[1] for b in livr_batches),
           "floor": round(floor, 4), "memory_measure": memory, "repeats": args.repeats, "warmup": args.warmup,
           **plan_shape(livr, livr_batches[0])}
    for variant in VARIANTS:
        row[f"{variant}_seconds"] = statistics.median(s["seconds"] for s in samples[variant])
        row[f"{variant}_seconds_all"] = [round(s["seconds"], 4) for s in samples[variant]]
        row[f"{variant}_cpu_seconds"] = statistics.median(s["cpu_seconds"] for s in samples[variant])
        row[f"{variant}_{memory}"] = statistics.median(s[memory] for s in samples[variant])
    for variant in ("stage1", "stage1_4d", "stage2"):
        row[f"{variant}_time_ratio"] = round(row[f"{variant}_seconds"] / row["sft_seconds"], 4)
        row[f"{variant}_time_over_floor"] = round(row[f"{variant}_time_ratio"] / floor, 4)
        row[f"{variant}_cpu_ratio"] = round(row[f"{variant}_cpu_seconds"] / row["sft_cpu_seconds"], 4)
        row[f"{variant}_cpu_over_floor"] = round(row[f"{variant}_cpu_ratio"] / floor, 4)
        row[f"{variant}_memory_ratio"] = round(row[f"{variant}_{memory}"] / row[f"sft_{memory}"], 4)
        row[f"{variant}_memory_over_floor"] = round(row[f"{variant}_memory_ratio"] / floor, 4)
    return row


def _cpu(row: dict, variant: str) -> str:
    if f"{variant}_cpu_ratio" not in row:
        return "-"
    return f"{row[f'{variant}_cpu_ratio']:.3f} ({100 * (row[f'{variant}_cpu_over_floor'] - 1):+.1f}%)"


def markdown(rows: list[dict]) -> str:
    lines = ["| image tokens | L (SFT) | floor | SFT step (s) | stage 1 / SFT, livr_masked | over floor "
             "| same, CPU time | stage 1 / SFT, 4-D | over floor | same, CPU time | memory / SFT, livr_masked | over floor | memory / SFT, 4-D "
             "| over floor | stage 2 / SFT: time, memory | causal rows / masked rows | block masks / one L x L mask |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['image_tokens']} | {r['sft_length']:.0f} | {r['floor']:.3f} | {r['sft_seconds']:.3f} "
            f"| {r['stage1_time_ratio']:.3f} | {100 * (r['stage1_time_over_floor'] - 1):+.1f}% "
            f"| {_cpu(r, 'stage1')} "
            f"| {r['stage1_4d_time_ratio']:.3f} | {100 * (r['stage1_4d_time_over_floor'] - 1):+.1f}% "
            f"| {_cpu(r, 'stage1_4d')} "
            f"| {r['stage1_memory_ratio']:.3f} | {100 * (r['stage1_memory_over_floor'] - 1):+.1f}% "
            f"| {r['stage1_4d_memory_ratio']:.3f} | {100 * (r['stage1_4d_memory_over_floor'] - 1):+.1f}% "
            f"| {r['stage2_time_ratio']:.3f}, {r['stage2_memory_ratio']:.3f} "
            f"| {r['prefix_rows']} / {r['masked_rows']} | {r['block_mask_bytes'] / r['full_mask_bytes']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="small", choices=("tiny", "small"))
    parser.add_argument("--image-tokens", default="256,1024,4096", help="comma-separated square numbers")
    parser.add_argument("--latents", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--batches", type=int, default=2, help="distinct batches, used in turn")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sft-attn", default="sdpa",
                        help="attn_implementation of the SFT model (flash_attention_2 on a GPU with flash-attn)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    limit_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    print("\n".join(markdown([]).splitlines()[:2]), flush=True)
    for tokens in (int(t) for t in args.image_tokens.split(",") if t):
        rows.append(run_point(args, tokens))
        print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    from training_step import sizes

    result = {"benchmark": "masked_attention", "size": args.size, "size_fields": vars(sizes()[args.size]),
              "threads": args.threads, "sft_attn": args.sft_attn,
              "device": "cuda" if torch.cuda.is_available() else "cpu", "rows": rows, **stamp()}
    write_result(Path(args.out or DEFAULT_OUT), result)


if __name__ == "__main__":
    main()
