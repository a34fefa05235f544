"""Evaluation throughput (examples per second) with and without latents, on a tiny model.

    .venv/bin/python benchmarks/evaluation.py [--model tiny:qwen2_5_vl] [--n 32] [--latents 16] \
        [--batch-sizes 1,8] [--repeats 3] [--threads 1] [--out benchmarks/results/evaluation.json]

Records are localization and counting examples from the offline generators (images 112x112).
Prompts are encoded once (the processor is timed separately, as `encode`), then every setting
is generated `--repeats` times, the settings interleaved so that machine noise spreads over all
of them; the median is reported. Settings: latents in the prompt (`none`), latents removed
(`remove_latents`, the same weights), and the bottleneck mask at test time (`bottleneck`, the
manual greedy loop with a 4-D mask), each at every batch size. Every setting generates exactly
`--max-new-tokens` tokens (the random-init model never stops early), so the work is comparable.
Writes JSON and prints a markdown table with machine, versions and date.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "evaluation.json"


def records(n: int) -> list[dict]:
    from livr.data.synth import generate_split

    half = n // 2
    out = generate_split("localization", "test", half, 0) + generate_split("counting", "test", n - half, 0)
    for r in out:
        r["images"] = [im.resize((112, 112)) for im in r["images"]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny:qwen2_5_vl")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--latents", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()

    import torch
    import transformers

    from livr import load_backbone
    from livr.evaluation.generate import encode_prompts, generate_answers
    from livr.evaluation.probes import PROBES, probe_model
    from livr.io import atomic_write_json

    torch.set_num_threads(args.threads)
    lm = load_backbone(args.model, num_latents=args.latents, trainable=False)
    data = records(args.n)
    timings: dict[str, list[float]] = {}
    encoded = {}
    for keep in (True, False):
        view = probe_model(lm, PROBES["none" if keep else "remove_latents"])
        start = time.perf_counter()
        encoded[keep] = encode_prompts(view, data)
        timings[f"encode ({'with' if keep else 'without'} latents)"] = [time.perf_counter() - start]
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    settings = [(p, b) for b in sizes for p in ("none", "remove_latents", "bottleneck")]
    for name, batch in settings[:2]:  # warm-up
        generate_answers(probe_model(lm, PROBES[name]), encoded[PROBES[name].keep_latents][:batch],
                         batch_size=batch, max_new_tokens=2, mask_policy=PROBES[name].mask_policy)
    for _ in range(args.repeats):
        for name, batch in settings:
            probe = PROBES[name]
            start = time.perf_counter()
            generate_answers(probe_model(lm, probe), encoded[probe.keep_latents], batch_size=batch,
                             max_new_tokens=args.max_new_tokens, mask_policy=probe.mask_policy)
            timings.setdefault(f"{name} (batch {batch})", []).append(time.perf_counter() - start)
    rows = []
    for key, values in timings.items():
        seconds = statistics.median(values)
        rows.append({"setting": key, "seconds": round(seconds, 4),
                     "examples_per_second": round(args.n / seconds, 2), "repeats": len(values)})
    lengths = {keep: statistics.mean(len(e.input_ids) for e in ex) for keep, ex in encoded.items()}
    result = {
        "benchmark": "evaluation", "model": args.model, "num_latents": args.latents, "n": args.n,
        "max_new_tokens": args.max_new_tokens, "threads": args.threads,
        "mean_prompt_tokens": {"with_latents": lengths[True], "without_latents": lengths[False]},
        "rows": rows, "machine": machine(),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_json(args.out, result)
    print(f"Evaluation throughput, {args.model}, K={args.latents}, {args.n} records, "
          f"{args.max_new_tokens} new tokens, {args.threads} thread(s); mean prompt "
          f"{lengths[True]:.0f} tokens with latents, {lengths[False]:.0f} without")
    print(f"{result['machine']['cpu_model']}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}, {result['date']}\n")
    print("| setting | seconds | examples/s |\n|---|---:|---:|")
    for row in rows:
        print(f"| {row['setting']} | {row['seconds']:.3f} | {row['examples_per_second']:.1f} |")
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
