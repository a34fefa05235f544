"""Collect benchmarks/results/*.json into docs/performance.md and the growth plot.

    .venv/bin/python benchmarks/report.py [--results benchmarks/results] [--out docs/performance.md]

Every table says where and when its numbers were measured (machine, versions, date, from the
JSON file). Missing result files are listed with the command that makes them.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from common import RESULTS, ROOT
from hybrid_step import markdown as hybrid_markdown
from masked_attention import markdown as masked_markdown
from training_step import markdown

COMMANDS = {
    "training_step": ".venv/bin/python benchmarks/training_step.py",
    "growth": ".venv/bin/python benchmarks/training_step.py --growth --warmup 1 --repeats 2",
    "real_size": ".venv/bin/python benchmarks/real_size.py",
    "growth_grouped": ".venv/bin/python benchmarks/training_step.py --attention sdpa-grouped --growth "
                      "--growth-latents '' --warmup 1 --repeats 2 --out benchmarks/results/growth_grouped.json",
    "real_size_grouped": ".venv/bin/python benchmarks/real_size.py --attention sdpa-grouped "
                         "--out benchmarks/results/real_size_grouped.json",
    "masked_attention": ".venv/bin/python benchmarks/masked_attention.py",
    "hybrid_step": ".venv/bin/python benchmarks/hybrid_step.py",
    "evaluation": ".venv/bin/python benchmarks/evaluation.py",
    "data_generation": ".venv/bin/python benchmarks/data_generation.py",
    "data_synth": ".venv/bin/python benchmarks/data_generation.py --synth",
}


def where(result: dict) -> str:
    m, v = result.get("machine", {}), result.get("versions", {})
    device = m.get("gpu") or f"{m.get('cpu_model', '?')}, {m.get('nproc', '?')} cores"
    threads = f", {result['threads']} thread(s)" if "threads" in result else ""
    return (f"*{device}{threads}; torch {v.get('torch', '?')}, transformers {v.get('transformers', '?')}; "
            f"{result.get('date', '?')}*")


def load(results: Path) -> dict[str, dict]:
    out = {}
    for name in COMMANDS:
        path = results / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text())
    return out


def growth_plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for sweep, ax, key in (("image_tokens", axes[0], "image_tokens"), ("num_latents", axes[1], "num_latents")):
        rows = [r for r in result["rows"] if r.get("sweep") == sweep]
        x = [r[key] for r in rows]
        ax.plot(x, [r["stage1_time_ratio"] for r in rows], "o-", label="stage 1 (bottleneck, 4-D mask) / SFT")
        ax.plot(x, [r["stage2_time_ratio"] for r in rows], "s-", label="stage 2 (standard) / SFT")
        ax.plot(x, [r["floor"] for r in rows], "k--", label="floor (L + K) / L")
        ax.plot(x, [r["stage1_memory_ratio"] for r in rows], "o:", label="memory, stage 1 / SFT")
        ax.set_xlabel("image tokens per sample" if sweep == "image_tokens" else "K (latents)")
        ax.set_ylabel("LIVR / Direct SFT")
        if sweep == "image_tokens":
            ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    rows = [r for r in result["rows"] if r.get("sweep") == "image_tokens"]
    x = [r["image_tokens"] for r in rows]
    axes[2].plot(x, [r["sft_seconds"] for r in rows], "o-", label="SFT step (s)")
    axes[2].plot(x, [r["stage1_seconds"] for r in rows], "s-", label="stage 1 step (s)")
    axes[2].plot(x, [r["mask_seconds"] for r in rows], "^-", label="mask + positions (s)")
    axes[2].set_xscale("log", base=2)
    axes[2].set_yscale("log")
    axes[2].set_xlabel("image tokens per sample")
    axes[2].legend(fontsize=7)
    axes[2].grid(alpha=0.3)
    fig.suptitle(f"LIVR vs Direct SFT, Qwen2.5-VL class ({result['size']}), batch 1, {result['device']}")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def section_training(name: str, title: str, result: dict | None, intro: str) -> list[str]:
    lines = [f"## {title}", ""]
    if result is None:
        return lines + [f"Not measured yet: `{COMMANDS[name]}`.", ""]
    lines += [intro, "", f"`{COMMANDS[name]}`; {where(result)}", ""]
    lines += [markdown(result["rows"]), ""]
    return lines


def section_attention(data: dict) -> list[str]:
    """Stage 1 under the two sdpa paths of benchmarks/common.py ATTENTION_PATHS, side by side."""
    lines = ["## The 4-D-mask path: K/V heads repeated or kept grouped", "",
             "On the 4-D path (`attention=4d`, the fallback), stage 1 is the only step with an explicit "
             "mask. Under a mask, transformers' sdpa "
             "repeats the grouped K/V heads to the query heads before the kernel (`sdpa`); "
             "`sdpa-grouped` passes `enable_gqa=True` to the same kernel instead "
             "(transformers' switch `TRANSFORMERS_SDPA_FORCE_GQA=1`). Both are public paths; "
             "`sdpa` is the default.", ""]
    pairs = [("growth", "growth_grouped", "small, growth sweep"), ("real_size", "real_size_grouped", "3B")]
    rows = []
    for plain, grouped, label in pairs:
        if plain not in data or grouped not in data:
            missing = [n for n in (plain, grouped) if n not in data]
            lines.append(f"Not measured yet ({label}): " + "; ".join(f"`{COMMANDS[n]}`" for n in missing) + ".")
            continue
        by_tokens = {r["image_tokens"]: r for r in data[plain]["rows"] if r.get("sweep", "image_tokens") ==
                     "image_tokens" and r["num_latents"] == data[grouped]["rows"][0]["num_latents"]}
        for g in data[grouped]["rows"]:
            p = by_tokens.get(g["image_tokens"])
            if p is not None:
                rows.append((label, p, g))
        lines.append(f"- {label}: `{COMMANDS[plain]}` and `{COMMANDS[grouped]}`; {where(data[grouped])}")
    if rows:
        lines += ["", "| model | image tokens | floor | stage 1 / SFT, sdpa | stage 1 / SFT, sdpa-grouped "
                  "| memory stage 1 / SFT, sdpa | memory stage 1 / SFT, sdpa-grouped |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {label} | {p['image_tokens']} | {p['floor']:.3f} | {p['stage1_time_ratio']:.3f} "
                  f"| {g['stage1_time_ratio']:.3f} | {p['stage1_memory_ratio']:.3f} | {g['stage1_memory_ratio']:.3f} |"
                  for label, p, g in rows]
    return lines + [""]


def section_masked(result: dict | None) -> list[str]:
    """Stage 1 on livr_masked and on the 4-D mask against Direct SFT (benchmarks/masked_attention.py)."""
    lines = ["## Stage 1 on the blockwise path (`livr_masked`) and on the 4-D mask", ""]
    if result is None:
        return lines + [f"Not measured yet: `{COMMANDS['masked_attention']}`.", ""]
    lines += [f"Model `{result['size']}` (Qwen2.5-VL class), K = {result['rows'][0]['num_latents']}, batch "
              f"{result['rows'][0]['batch_size']}; the SFT, stage-1 (both paths) and stage-2 steps in rotating "
              f"order in one process, medians of {result['rows'][0]['repeats']} after "
              f"{result['rows'][0]['warmup']} warm-up; SFT kernel `{result['sft_attn']}`. \"over floor\" is the "
              "ratio divided by the floor (L + K) / L, minus 1: the goal is at most +5%. Both stage-1 paths "
              "compute the same logits and gradients. Single time ratios move by a few percent between "
              "runs (more when other jobs share the cores); memory repeats to the byte.", "",
              f"`{COMMANDS['masked_attention']}`; {where(result)}", "", masked_markdown(result["rows"]), ""]
    return lines


def section_hybrid(result: dict | None) -> list[str]:
    """Qwen3.5 next to Qwen3-VL, stage 1 and 2 against Direct SFT (benchmarks/hybrid_step.py)."""
    lines = ["## Qwen3.5 (hybrid linear attention) next to Qwen3-VL", ""]
    if result is None:
        return lines + [f"Not measured yet: `{COMMANDS['hybrid_step']}`.", ""]
    lines += ["Sizes of `benchmarks/training_step.py` (tiny: text 128, 2 layers on Qwen3-VL, 3 on Qwen3.5; "
              "small: text 512 x 8 layers, vision 256 x 4); each pair (Direct SFT, LIVR) built from one seed, "
              "batch 1, stage 1 on `livr_masked`; the three steps in rotating order, medians of "
              f"{result['repeats']} after {result['warmup']} warm-up rounds, subnormal floats flushed to zero "
              "(docs/performance-notes.md says why). On Qwen3.5, stage 1 runs every linear-attention layer a second time over the "
              "sequence without the image tokens, for the rows blind to the image "
              "(`livr.models.linear_attention`): the cost beyond the floor (L + K) / L that Qwen3-VL does "
              "not pay. \"over floor\" is stage 1 / SFT divided by the floor, minus 1. Linear layers run "
              "transformers' reference PyTorch kernels here (no flash-linear-attention or causal-conv1d "
              "on a CPU).", "", f"`{COMMANDS['hybrid_step']}`; {where(result)}", "",
              hybrid_markdown(result["rows"]), ""]
    return lines


def section_synth(ds: dict | None) -> list[str]:
    """`livr data synth` of N train records per task: CPU seconds per step, then the command's wall
    time at each --workers (a fresh process: start-up and imports included)."""
    lines = ["", "## Writing a data folder: `livr data synth`", ""]
    if ds is None:
        return lines + [f"Not measured yet: `{COMMANDS['data_synth']}`."]
    workers = ds["workers"]
    loads = [c[k] for r in ds["results"] for c in r["synth"] for k in ("load_before", "load_after")]
    lines += [f"`{COMMANDS['data_synth']}`; {ds['n']} train records per task (`--train {ds['n']} --val 0 "
              f"--test 0`); {where(ds)}. Steps: CPU seconds in one process on one thread; then the wall "
              f"seconds of the whole command at each `--workers`, with its CPU seconds. 1-minute load "
              f"average {min(loads):.1f} to {max(loads):.1f} during the runs (2 cores; above 1, other "
              f"jobs shared them).", "",
              "| task | images | draw | PNG | table | write | " + " | ".join(
                  f"wall s, {w} worker{'s' if w > 1 else ''} (CPU s)" for w in workers) + " | MB |",
              "|---|---:|---:|---:|---:|---:|" + "---:|" * len(workers) + "---:|"]
    for r in ds["results"]:
        p = r["phases"]
        runs = " | ".join(f"{c['seconds']:.1f} ({c['cpu_seconds']:.1f})" for c in r["synth"])
        lines.append(f"| {r['task']} | {p['images']} | {p['draw']:.2f} | {p['png']:.2f} | {p['table']:.2f} | "
                     f"{p['write']:.2f} | {runs} | {r['synth'][-1]['megabytes']:.0f} |")
    return lines


def build(results: Path, out: Path, plot: Path) -> str:
    data = load(results)
    lines = ["# Performance: what LIVR costs over Direct SFT", "",
             "Generated by `benchmarks/report.py` from `benchmarks/results/*.json`; each table names the "
             "command, machine, versions and date of its numbers. Read with `docs/performance-notes.md`, "
             "which says what the numbers mean.", "",
             "Columns: L is the Direct SFT sequence length (tokens); the floor is (L + K) / L; step times "
             "are medians of forward + backward + AdamW at batch 1; memory is the GPU peak on a GPU and, on "
             "a CPU, the activation bytes autograd saves for backward; mask + positions is "
             "`LivrModel.model_inputs` for the bottleneck (4-D additive mask and M-RoPE positions). The "
             "training-step, growth and real-size tables measure stage 1 on the 4-D-mask path "
             "(`attention=4d`); the default is now `livr_masked`, compared with it in its own section.", ""]
    lines += section_training("training_step", "Training step, LIVR against Direct SFT", data.get("training_step"),
                              "Model `small` of `benchmarks/training_step.py` (Qwen2.5-VL class, text 512 x 8 "
                              "layers, vision 256 x 4), one process, the three steps in rotating order.")
    lines += section_training("growth", "Growth with image tokens and with K", data.get("growth"),
                              "The same model; first rows: image tokens 64 to 4,096 at K = 16; last rows: K = 4 "
                              "to 32 at 256 image tokens.")
    if "growth" in data:
        growth_plot(data["growth"], plot)
        lines += [f"![growth]({plot.name})", ""]
    lines += section_training("real_size", "Real size: the Qwen2.5-VL-3B architecture", data.get("real_size"),
                              "Random weights from the published 3B sizes, LoRA r=16, K = 16, batch 1; "
                              "one model in memory (SFT steps use prompts without latents)." + (
                                  f" {data['real_size']['parameters'] / 1e9:.2f}B parameters, "
                                  f"{data['real_size']['dtype']}." if "real_size" in data else ""))
    lines += section_masked(data.get("masked_attention"))
    lines += section_hybrid(data.get("hybrid_step"))
    lines += section_attention(data)
    lines += ["## Evaluation throughput", ""]
    if "evaluation" in data:
        ev = data["evaluation"]
        lines += [f"`{COMMANDS['evaluation']}`; {ev['model']}, K = {ev['num_latents']}, {ev['n']} records, "
                  f"{ev['max_new_tokens']} new tokens; {where(ev)}", "",
                  "| setting | seconds | examples/s |", "|---|---:|---:|"]
        lines += [f"| {r['setting']} | {r['seconds']:.3f} | {r['examples_per_second']:.1f} |" for r in ev["rows"]]
    else:
        lines.append(f"Not measured yet: `{COMMANDS['evaluation']}`.")
    lines += ["", "## Data generation rate", ""]
    if "data_generation" in data:
        dg = data["data_generation"]
        lines += [f"`{COMMANDS['data_generation']}`; {dg['n']} {dg['split']} records per task, one core; "
                  f"{where(dg)}", "", "| task | examples/s | seconds per 1,000 |", "|---|---:|---:|"]
        lines += [f"| {r['task']} | {r['examples_per_s']:.1f} | {r['seconds_per_1000']:.2f} |" for r in dg["results"]]
    else:
        lines.append(f"Not measured yet: `{COMMANDS['data_generation']}`.")
    lines += section_synth(data.get("data_synth"))
    text = "\n".join(lines) + "\n"
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, out)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    out = Path(args.out)
    build(Path(args.results), out, out.with_name("performance-growth.png"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
