"""Qwen3.5 (hybrid linear attention) next to Qwen3-VL: what a LIVR training step costs over Direct SFT.

    .venv/bin/python benchmarks/hybrid_step.py                                 # tiny and small, both families
    .venv/bin/python benchmarks/hybrid_step.py --sizes tiny --repeats 2 --out F

For each size and family, `training_step.measure` in one process: Direct SFT (no latents, standard
mask), stage 1 (K latents, bottleneck) and stage 2 (K latents, standard), timed in rotating order
after warm-up; both models of a pair built from one seed, stage 1 on the default masked path
(`livr_masked`). On Qwen3.5 stage 1 also runs each linear-attention layer a second time, over the
sequence without the image tokens, for the rows that are blind to the image
(livr.models.linear_attention): that extra pass is the cost this table shows beyond the floor
(L + K) / L. Qwen3-VL has no such pass, so its row is the reference for the rest of the step.
Subnormal floats are flushed to zero (see main) and every distinct batch is warmed up once.
Sizes are `training_step.sizes()`; on Qwen3.5 the tiny model has 3 layers (linear, full, linear)
and `small` 8 (a full-attention layer every 4th, as released). CPU runs use transformers'
reference PyTorch kernels for the linear layers (no flash-linear-attention, no causal-conv1d).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import RESULTS, limit_threads, stamp, write_result

DEFAULT_OUT = RESULTS / "hybrid_step.json"
FAMILIES = ("qwen3_vl", "qwen3_5")
UNIT = 32  # pixels per merged LM token side on both families (patch 16, merge 2)


def layer_kinds(lm) -> str:
    """'2 linear + 1 full' for a hybrid model, 'N full' otherwise."""
    config = lm.base_model.config.get_text_config()
    kinds = getattr(config, "layer_types", None) or ["full_attention"] * config.num_hidden_layers
    linear = sum(k == "linear_attention" for k in kinds)
    return f"{linear} linear + {len(kinds) - linear} full" if linear else f"{len(kinds)} full"


def run_point(size_name: str, family: str, args) -> dict:
    import training_step

    size = training_step.sizes()[size_name]
    max_pixels = training_step.side_for(args.image_tokens, UNIT) ** 2
    models = {name: training_step.build(size, k, max_pixels, seed=args.seed, family=family, attention="livr_masked")
              for name, k in (("sft", 0), ("livr", args.latents))}
    assert models["livr"].attention == "livr_masked"
    data = training_step.records(args.batch_size * args.batches, args.image_tokens, UNIT)
    row = training_step.measure(models, data, num_latents=args.latents, batch_size=args.batch_size,
                                warmup=args.warmup, repeats=args.repeats)
    row.update(size=size_name, family=family, image_tokens=args.image_tokens, layers=layer_kinds(models["livr"]),
               parameters=sum(p.numel() for p in models["livr"].model.parameters()))
    print(markdown([row]).splitlines()[-1], flush=True)
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["| size | family | layers | image tokens | K | L (SFT) | floor (L+K)/L | SFT step (s) | stage 1 / SFT "
             "| over floor | same, CPU time | stage 2 / SFT | same, CPU time | memory stage 1 / SFT "
             "| memory stage 2 / SFT |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['family']} | {r['layers']} | {r['image_tokens']} | {r['num_latents']} "
            f"| {r['sft_length']:.0f} | {r['floor']:.3f} | {r['sft_seconds']:.3f} | {r['stage1_time_ratio']:.3f} "
            f"| {100 * (r['stage1_over_floor'] - 1):+.0f}% | {r['stage1_cpu_ratio']:.3f} "
            f"| {r['stage2_time_ratio']:.3f} | {r['stage2_cpu_ratio']:.3f} "
            f"| {r['stage1_memory_ratio']:.3f} | {r['stage2_memory_ratio']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="tiny,small")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--image-tokens", type=int, default=256)
    parser.add_argument("--latents", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--batches", type=int, default=4, help="distinct batches, used in turn")
    parser.add_argument("--warmup", type=int, default=4, help="rounds before timing; one per distinct batch, "
                        "since a CPU step on a sequence length seen for the first time is slower")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    limit_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    # The linear layers' recurrent state decays by up to ~1e-9 a token at random init: on a CPU it
    # reaches subnormal floats, whose arithmetic is many times slower (measured: a tiny Qwen3.5
    # step 1.6x slower on one batch than on another). Flushing them to zero keeps the timings about
    # the work, as on a GPU.
    torch.set_flush_denormal(True)
    print("\n".join(markdown([]).splitlines()[:2]), flush=True)
    rows = [run_point(size, family, args) for size in args.sizes.split(",") if size
            for family in args.families.split(",") if family]
    result = {"benchmark": "hybrid_step", "threads": args.threads, "attention": "livr_masked", "flush_denormal": True,
              "warmup": args.warmup, "repeats": args.repeats,
              "device": "cuda" if torch.cuda.is_available() else "cpu", "rows": rows, **stamp()}
    write_result(Path(args.out or DEFAULT_OUT), result)


if __name__ == "__main__":
    main()
