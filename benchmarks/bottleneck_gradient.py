"""How strongly each image is trained through the latents: per-image gradient of the training loss
w.r.t. the pixels under the bottleneck (K latents) against the standard mask, at initialisation.

Stage 1 learns single-image tasks on livr-tiny but not the multi-image ones (docs/results.md);
this measures the signal that reaches each image of a multi-image record along the only route
the bottleneck leaves (image -> latents -> answer), next to the direct route of Direct SFT.

    python benchmarks/bottleneck_gradient.py --task art_style --level easy
    python benchmarks/bottleneck_gradient.py --task visual_correspondence --records 4
"""

from __future__ import annotations

import argparse

from common import RESULTS, stamp, write_result


def per_image_grad(lm, records, policy: str) -> list[float]:
    """Sum of |d loss / d pixels| per image of the batch, in order."""
    import torch

    batch = lm.collator(policy)(records)
    pixels = batch["pixel_values"].clone().float().requires_grad_(True)
    out = lm({**batch, "pixel_values": pixels}, mask_policy=policy)
    (grad,) = torch.autograd.grad(out.loss, pixels)
    if "image_grid_thw" in batch:  # Qwen: the images' patches, flattened one after another
        parts = torch.split(grad, batch["image_grid_thw"].prod(-1).tolist())
    else:  # LLaVA-OneVision: one entry per image
        parts = list(grad)
    return [float(p.abs().sum()) for p in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="art_style")
    parser.add_argument("--level", default="easy")
    parser.add_argument("--records", type=int, default=2)
    parser.add_argument("--models", default="livr-tiny,tiny:qwen2_5_vl")
    parser.add_argument("--num-latents", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--out", default=str(RESULTS / "bottleneck_gradient.json"))
    args = parser.parse_args()

    from livr import load_backbone
    from livr.data.synth import generate_split, shrink_images

    records = shrink_images(generate_split(args.task, "train", args.records, seed=0, level=args.level),
                            args.image_size)
    rows = []
    for name in args.models.split(","):
        lm = load_backbone(name, num_latents=args.num_latents, seed=3)
        bottleneck = per_image_grad(lm, records, "bottleneck")
        standard = per_image_grad(lm, records, "standard")
        ratios = [s / b if b else float("inf") for s, b in zip(standard, bottleneck)]
        rows.append({"model": name, "attention": lm.attention, "bottleneck": bottleneck,
                     "standard": standard, "standard_over_bottleneck": ratios})
        print(f"{name} ({lm.attention}): standard / bottleneck per image "
              + ", ".join(f"{r:.0f}" for r in ratios))
    write_result(args.out, {**stamp(), "command": "python benchmarks/bottleneck_gradient.py", "task": args.task,
                            "level": args.level, "records": args.records, "num_latents": args.num_latents,
                            "rows": rows})


if __name__ == "__main__":
    main()
