"""A few LIVR and Direct SFT training steps on the Qwen2.5-VL-3B architecture, random weights.

    .venv/bin/python benchmarks/real_size.py [--image-tokens 64] [--repeats 2] [--dtype bfloat16]

The model is the real transformers class built from the published sizes of
Qwen/Qwen2.5-VL-3B-Instruct (`QWEN2_5_VL_3B` below: text 2048 x 36 layers, 16 heads, 2 KV heads,
MLP 11008, vocabulary 151,936; vision 1280 x 32 blocks, 16 heads, MLP 3420, full attention in
blocks 7, 15, 23, 31), so nothing is downloaded; the tokenizer and processor are livr's offline
tiny ones (token ids fit in the vocabulary). LoRA r=16 on the language model, K latent rows, batch
1, as in the paper. One model is held in memory: SFT steps use prompts without latents. On a GPU
the same script runs there (sdpa with the 4-D mask for stage 1). Timings and memory as in
training_step.py; results to benchmarks/results/real_size.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import ATTENTION_PATHS, RESULTS, limit_threads, select_attention, stamp, write_result

DEFAULT_OUT = RESULTS / "real_size.json"

QWEN2_5_VL_3B = {
    "text": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                 num_key_value_heads=2, vocab_size=151936, max_position_embeddings=128000,
                 rms_norm_eps=1e-6, tie_word_embeddings=True,
                 rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                  "mrope_section": [16, 24, 24]}),
    "vision": dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                   patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                   fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2),
}


def config_3b(tokenizer):
    from transformers import Qwen2_5_VLConfig

    from livr.models.backbones import get_adapter

    text = dict(QWEN2_5_VL_3B["text"], eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return Qwen2_5_VLConfig(text_config=text, vision_config=QWEN2_5_VL_3B["vision"], tie_word_embeddings=True,
                            **get_adapter("qwen2_5_vl").token_ids(tokenizer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-tokens", type=int, default=64)
    parser.add_argument("--latents", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--attention", default="sdpa", choices=tuple(ATTENTION_PATHS))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    limit_threads(args.threads)
    select_attention(args.attention)
    import torch

    from livr.models.backbones import get_adapter
    from training_step import build, markdown, measure, records, side_for

    torch.set_num_threads(args.threads)
    max_pixels = side_for(args.image_tokens) ** 2
    tokenizer = get_adapter("qwen2_5_vl").tiny_processor(max_pixels).tokenizer
    start = time.perf_counter()
    lm = build(None, args.latents, max_pixels, config=config_3b(tokenizer), dtype=getattr(torch, args.dtype))
    build_seconds = time.perf_counter() - start
    parameters = sum(p.numel() for p in lm.model.parameters())
    trainable = sum(p.numel() for p in lm.model.parameters() if p.requires_grad)
    print(f"built in {build_seconds:.0f} s: {parameters / 1e9:.2f}B parameters, {trainable / 1e6:.1f}M trainable",
          flush=True)
    row = measure({"sft": lm, "livr": lm}, records(args.warmup + args.repeats, args.image_tokens),
                  num_latents=args.latents, batch_size=1, warmup=args.warmup, repeats=args.repeats)
    row.update(size="qwen2_5_vl_3b", image_tokens=args.image_tokens)
    print(markdown([row]))
    result = {"benchmark": "real_size", "architecture": "Qwen2.5-VL-3B (random init)", "config": QWEN2_5_VL_3B,
              "dtype": args.dtype, "threads": args.threads, "attention": args.attention, "parameters": parameters, "trainable": trainable,
              "build_seconds": round(build_seconds, 1),
              "device": "cuda" if torch.cuda.is_available() else "cpu", "rows": [row], **stamp()}
    write_result(Path(args.out), result)


if __name__ == "__main__":
    main()
