"""What a LIVR training step costs over a Direct SFT step, on the same backbone and images.

    .venv/bin/python benchmarks/training_step.py                       # the main table
    .venv/bin/python benchmarks/training_step.py --growth              # image tokens and K sweeps
    .venv/bin/python benchmarks/training_step.py --size tiny --image-tokens 64 --repeats 2 --out F

One process builds two Qwen2.5-VL models of the real transformers class from one seed (so their
base weights are identical): Direct SFT (LoRA, no latents) and LIVR (LoRA plus K latent rows).
Both get batches of the same records, encoded once beforehand. Three kinds of training step
(forward, backward, AdamW) are timed in turn, in a rotating order, after warm-up:

    sft      the SFT model, prompts without latents, standard mask (2-D, the native path)
    stage1   the LIVR model, prompts with K latents, bottleneck mask (additive 4-D)
    stage2   the LIVR model, prompts with K latents, standard mask (2-D, the native path)

and the medians are compared with the floor (L + K) / L, L being the SFT batch's length. Also
measured: the time to build the bottleneck mask and the rope positions for a batch
(`LivrModel.model_inputs`), as a share of a stage-1 step; and memory. On a GPU memory is the peak
allocated during the step; on a CPU it is the activation memory, the bytes autograd saves for
the backward pass (parameters excluded, so the frozen weights do not hide the difference),
which is what grows with the sequence.

Images are square, sized to give exactly `--image-tokens` language-model tokens per image
(side = 28 * sqrt(tokens)). Sizes: `tiny` is the test suites' model, `small` a wider one whose
step cost is dominated by its matmuls (see SIZES).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

from common import ATTENTION_PATHS, RESULTS, limit_threads, select_attention, stamp, write_result

DEFAULT_OUT = RESULTS / "training_step.json"
GROWTH_OUT = RESULTS / "growth.json"
VARIANTS = ("sft", "stage1", "stage2")
MAX_LENGTH = 16384  # 4,096 image tokens and the text


def sizes():
    from livr.models.backbones.base import TinySize

    return {
        "tiny": TinySize(),
        "small": TinySize(hidden=512, layers=8, heads=8, kv_heads=4, intermediate=1536,
                          vision_hidden=256, vision_layers=4, vision_heads=4),
    }


def build(size, num_latents: int, max_pixels: int, *, seed: int = 0, config=None, dtype=None,
          attention: str = "4d", attn_implementation: str = "sdpa", family: str = "qwen2_5_vl"):
    """A LivrModel of the Qwen2.5-VL class (or another Qwen `family`), random init from `seed`: the
    tiny offline processor, the architecture of `size` (a TinySize) or of a full `config`.
    `attention` is the masked path of stage 1: "4d" (the additive 4-D mask, which this script's
    tables measure) or "livr_masked" (benchmarks/masked_attention.py compares the two)."""
    import torch

    from livr.models.backbones import get_adapter
    from livr.models.latents import LatentSpec
    from livr.models.loading import prepare_backbone

    adapter = get_adapter(family)
    processor = adapter.tiny_processor(max_pixels)
    if config is None:
        config = adapter.tiny_config(processor.tokenizer, size, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = adapter.model_class._from_config(config, attn_implementation=attn_implementation, dtype=dtype)
    return prepare_backbone(model, processor, family, name="benchmark", seed=seed,
                            spec=LatentSpec(num_latents=num_latents), attention=attention)


def side_for(image_tokens: int, unit: int = 28) -> int:
    """Image side for `image_tokens` LM tokens, `unit` pixels per merged token (28 on Qwen2.5-VL,
    32 on Qwen3-VL and Qwen3.5)."""
    root = math.isqrt(image_tokens)
    if root * root != image_tokens:
        raise SystemExit(f"--image-tokens must be a square number (64, 256, 1024 ...), got {image_tokens}")
    return unit * root


def records(n: int, image_tokens: int, unit: int = 28) -> list[dict]:
    from livr.data.synth import generate_split

    side = side_for(image_tokens, unit)
    out = generate_split("counting", "test", n, 0)
    for r in out:
        r["images"] = [im.convert("RGB").resize((side, side)) for im in r["images"]]
    return out


def batches(lm, data: list[dict], batch_size: int, policy: str, *, latents: bool = True) -> list[dict]:
    """Padded batches, encoded once; `latents=False` leaves the model's latents out of the prompts
    (Direct SFT's prompts through a model that has latent rows)."""
    from livr.data.collator import Collator, Encoder
    from livr.models.latents import LatentSpec

    collator = lm.collator(policy, max_length=MAX_LENGTH)
    if not latents:
        collator = Collator(Encoder(lm.adapter, lm.processor, LatentSpec(num_latents=0)), mask_policy=policy,
                            max_length=MAX_LENGTH)
    encoded = [collator.encode(r, i) for i, r in enumerate(data)]
    return [collator.pad(encoded[i:i + batch_size]) for i in range(0, len(encoded), batch_size)]


class SavedBytes:
    """Bytes of the tensors autograd saves for backward (each storage once, parameters excluded)."""

    def __init__(self, model):
        self.skip = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.storages: dict[int, int] = {}

    def pack(self, tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self.skip:
            self.storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    def __enter__(self):
        import torch

        self.storages.clear()
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self.hooks.__exit__(*exc)

    @property
    def total(self) -> int:
        return sum(self.storages.values())


def training_step(lm, optimizer, batch: dict, policy: str, force_4d: bool = False) -> dict:
    """One optimizer step; seconds and memory."""
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        batch = {k: v.cuda() if torch.is_tensor(v) else v for k, v in batch.items()}
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    start, cpu_start = time.perf_counter(), time.process_time()
    with SavedBytes(lm.model) as saved:
        loss = lm(batch, mask_policy=policy, force_4d=force_4d).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    # CPU time of the process (all its threads): unlike wall time, not stretched by other jobs
    out = {"seconds": seconds, "cpu_seconds": time.process_time() - cpu_start, "saved_bytes": saved.total}
    if cuda:
        out["peak_bytes"] = torch.cuda.max_memory_allocated() - before
    return out


def mask_seconds(lm, batch: dict, policy: str, repeats: int = 5) -> float:
    """Median time of `model_inputs` (the 4-D mask and the rope positions for `policy`)."""
    import torch

    if torch.cuda.is_available():
        batch = {k: v.cuda() if torch.is_tensor(v) else v for k, v in batch.items()}
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        lm.model_inputs(batch, policy)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(models: dict, data: list[dict], *, num_latents: int, batch_size: int, warmup: int,
            repeats: int) -> dict:
    """models: {"sft": LivrModel without latents, "livr": LivrModel with K latents}; they may be
    the same object (one model in memory: SFT steps then use prompts without latents)."""
    import torch

    if torch.cuda.is_available():
        for lm in models.values():
            lm.to("cuda")
    livr_batches = batches(models["livr"], data, batch_size, "bottleneck")
    prepared = {
        "sft": (models["sft"], batches(models["sft"], data, batch_size, "standard", latents=False), "standard"),
        "stage1": (models["livr"], livr_batches, "bottleneck"),
        # the same encoded tensors: the stages differ only in the mask policy
        "stage2": (models["livr"], [dict(b, mask_policy="standard") for b in livr_batches], "standard"),
    }
    optimizers = {name: torch.optim.AdamW([p for p in lm.model.parameters() if p.requires_grad], lr=1e-6)
                  for name, lm in models.items()}
    if models["sft"] is models["livr"]:
        optimizers["sft"] = optimizers["livr"]
    for lm in models.values():
        lm.model.train()
    samples: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for r in range(warmup + repeats):
        order = VARIANTS[r % 3:] + VARIANTS[:r % 3]  # rotate, so drift spreads over all three
        for variant in order:
            lm, bs, policy = prepared[variant]
            optimizer = optimizers["sft" if variant == "sft" else "livr"]
            result = training_step(lm, optimizer, bs[r % len(bs)], policy)
            if r >= warmup:
                samples[variant].append(result)

    sft_len = statistics.mean(b["input_ids"].shape[1] for b in prepared["sft"][1])
    livr_len = statistics.mean(b["input_ids"].shape[1] for b in prepared["stage1"][1])
    floor = (sft_len + num_latents) / sft_len
    row: dict = {"batch_size": batch_size, "num_latents": num_latents, "sft_length": sft_len,
                 "livr_length": livr_len, "floor": round(floor, 4), "repeats": repeats, "warmup": warmup}
    for variant in VARIANTS:
        row[f"{variant}_seconds"] = statistics.median(s["seconds"] for s in samples[variant])
        row[f"{variant}_cpu_seconds"] = statistics.median(s["cpu_seconds"] for s in samples[variant])
        row[f"{variant}_saved_bytes"] = statistics.median(s["saved_bytes"] for s in samples[variant])
        if "peak_bytes" in samples[variant][0]:
            row[f"{variant}_peak_bytes"] = statistics.median(s["peak_bytes"] for s in samples[variant])
    memory = "peak_bytes" if "sft_peak_bytes" in row else "saved_bytes"
    row["memory_measure"] = memory
    for stage in ("stage1", "stage2"):
        row[f"{stage}_time_ratio"] = round(row[f"{stage}_seconds"] / row["sft_seconds"], 4)
        row[f"{stage}_over_floor"] = round(row[f"{stage}_time_ratio"] / floor, 4)
        row[f"{stage}_cpu_ratio"] = round(row[f"{stage}_cpu_seconds"] / row["sft_cpu_seconds"], 4)
        row[f"{stage}_memory_ratio"] = round(row[f"{stage}_{memory}"] / row[f"sft_{memory}"], 4)
    batch = prepared["stage1"][1][0]
    row["mask_seconds"] = mask_seconds(models["livr"], batch, "bottleneck")
    row["standard_inputs_seconds"] = mask_seconds(models["livr"], batch, "standard")
    row["mask_share_of_stage1"] = round(row["mask_seconds"] / row["stage1_seconds"], 4)
    return row


def pair(size, num_latents: int, image_tokens: int, **kw) -> dict:
    max_pixels = side_for(image_tokens) ** 2
    return {"sft": build(size, 0, max_pixels, **kw), "livr": build(size, num_latents, max_pixels, **kw)}


def mib(n: float) -> str:
    return f"{n / 2**20:.1f}"


def markdown(rows: list[dict]) -> str:
    head = ("| image tokens | K | L (SFT) | floor (L+K)/L | SFT step (s) | stage 1 / SFT | stage 2 / SFT "
            "| memory stage 1 / SFT | memory stage 2 / SFT | mask + positions (ms) | share of stage-1 step |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['image_tokens']} | {r['num_latents']} | {r['sft_length']:.0f} | {r['floor']:.3f} "
            f"| {r['sft_seconds']:.3f} | {r['stage1_time_ratio']:.3f} | {r['stage2_time_ratio']:.3f} "
            f"| {r['stage1_memory_ratio']:.3f} | {r['stage2_memory_ratio']:.3f} "
            f"| {1000 * r['mask_seconds']:.2f} | {100 * r['mask_share_of_stage1']:.2f}% |")
    return "\n".join(lines)


def run_point(size_name: str, image_tokens: int, num_latents: int, args) -> dict:
    models = pair(sizes()[size_name], num_latents, image_tokens, seed=args.seed)
    data = records(args.batch_size * args.batches, image_tokens)
    row = measure(models, data, num_latents=num_latents, batch_size=args.batch_size,
                  warmup=args.warmup, repeats=args.repeats)
    row.update(size=size_name, image_tokens=image_tokens)
    print(markdown([row]).splitlines()[-1], flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="small", choices=("tiny", "small"))
    parser.add_argument("--image-tokens", type=int, default=256)
    parser.add_argument("--latents", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1, help="1, as in the paper (with 8 accumulation steps)")
    parser.add_argument("--batches", type=int, default=4, help="distinct batches, used in turn")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--growth", action="store_true",
                        help="sweep image tokens (64 to 4,096, K fixed) and K (4 to 32, 256 image tokens)")
    parser.add_argument("--growth-tokens", default="64,256,1024,4096")
    parser.add_argument("--growth-latents", default="4,8,16,32")
    parser.add_argument("--attention", default="sdpa", choices=tuple(ATTENTION_PATHS),
                        help="masked-attention path: " + "; ".join(f"{k}: {v}" for k, v in ATTENTION_PATHS.items()))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    limit_threads(args.threads)
    select_attention(args.attention)
    import torch

    torch.set_num_threads(args.threads)
    print(markdown([]).splitlines()[0] + "\n" + markdown([]).splitlines()[1], flush=True)
    if args.growth:
        tokens = [int(t) for t in args.growth_tokens.split(",") if t]
        latents = [int(k) for k in args.growth_latents.split(",") if k]
        rows = [dict(run_point(args.size, n, args.latents, args), sweep="image_tokens") for n in tokens]
        rows += [dict(run_point(args.size, args.image_tokens, k, args), sweep="num_latents") for k in latents]
        out = args.out or GROWTH_OUT
    else:
        rows = [run_point(args.size, args.image_tokens, args.latents, args)]
        out = args.out or DEFAULT_OUT
    result = {"benchmark": "growth" if args.growth else "training_step", "size": args.size,
              "size_fields": vars(sizes()[args.size]), "threads": args.threads,
              "attention": args.attention,
              "device": "cuda" if torch.cuda.is_available() else "cpu", "rows": rows, **stamp()}
    write_result(Path(out), result)


if __name__ == "__main__":
    main()
