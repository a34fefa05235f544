"""GRPO in miniature: does GRPO raise reward and accuracy of a supervised livr-tiny checkpoint?

    .venv/bin/python benchmarks/grpo_learning.py                  # the documented run (about 10 min on 2 cores)
    .venv/bin/python benchmarks/grpo_learning.py --sft-records 2000 --steps 400 --lr 1e-4 --seeds 42 \
        --work runs/grpo-mini-1epoch --out benchmarks/results/grpo_learning_1epoch.json --png docs/grpo-miniature-1epoch.png

It runs the commands a user would run (each skipped when its output already exists):

    livr data synth --task counting --level easy --train 2000 --val 250 --test 250 --seed 0 --image-size 112 --out W/data
    livr train --model livr-tiny --method sft --data W/data --out W/sft --stage2_epochs 1 --max_train_examples 400 ...
    livr grpo --init-from W/sft --data W/data --out W/grpo-seed42 --grpo_steps 300 --grpo_prompts 4 ...   # one per seed
    livr train ... --out W/sft-control-seed42 --stage2_epochs 4 --max_train_examples 400 ...            # one per seed

then scores the test split with the supervised weights (the run's own test predictions) and with
each GRPO run's final weights (W/grpo-seedS/model, a run folder, the same greedy decoding), and
writes benchmarks/results/grpo_learning.json and docs/grpo-miniature.png (sampled reward per step
as a 25-step moving mean, validation accuracy, KL to the reference; one line per seed). Counting at
the easy level: one epoch of SFT on 400 records leaves livr-tiny above chance (25%) and well
below what 2,000 records give (about 60%, docs/results.md learnability map). The GRPO seeds share
the supervised checkpoint and differ in prompt order and sampling.

The control: GRPO's 300 steps x 4 prompts pass 3 times over the 400 records; the same records
given 3 more supervised epochs (Direct SFT for 1 + 3 epochs, best epoch by validation, one run
per seed) say whether GRPO adds anything that plain supervision on the same records does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import statistics
import sys
from pathlib import Path

from common import RESULTS, ROOT, run_logged as run, stamp, write_result

DEFAULT_OUT = RESULTS / "grpo_learning.json"
VAL_RECORDS = 250  # --val of the synth command
PNG = ROOT / "docs" / "grpo-miniature.png"
LIVR = [sys.executable, "-m", "livr.cli.main"]


def commands(args, work: Path) -> dict[str, list[str]]:
    data, sft = work / "data", work / "sft"
    out = {
        "synth": [*LIVR, "data", "synth", "--task", "counting", "--level", "easy", "--train", "2000", "--val", "250",
                  "--test", "250", "--seed", "0", "--image-size", "112", "--out", str(data), "--overwrite",
                  "--no-progress"],
        "sft": [*LIVR, "train", "--model", "livr-tiny", "--method", "sft", "--data", str(data), "--out", str(sft),
                "--overwrite", "--seed", "42", "--stage2_epochs", "1", "--learning_rate", "5e-4",
                "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1", "--eval_batch_size", "32",
                "--max_train_examples", str(args.sft_records), "--report_to", "none", "--disable_tqdm", "true"],
    }
    for seed in args.seeds:
        control = out["sft"][:]
        control[control.index(str(sft))] = str(work / f"sft-control-seed{seed}")
        control[control.index("--seed") + 1] = str(seed)
        control[control.index("--stage2_epochs") + 1] = str(control_epochs(args))
        out[f"sft-control-seed{seed}"] = control
    for seed in args.seeds:
        out[f"grpo-seed{seed}"] = [
            *LIVR, "grpo", "--init-from", str(sft), "--data", str(data), "--out", str(work / f"grpo-seed{seed}"),
            "--grpo_steps", str(args.steps), "--grpo_prompts", "4", "--grpo_num_generations", "8",
            "--grpo_max_new_tokens", "4", "--grpo_temperature", "1.0", "--grpo_beta", str(args.beta),
            "--learning_rate", str(args.lr), "--seed", str(seed), "--eval_every", "50", "--save_every", "25"]
    return out


def control_epochs(args) -> int:
    """1 + the passes GRPO makes over the SFT records (4 prompts a step), rounded up."""
    return 1 + math.ceil(args.steps * 4 / args.sft_records)


def test_correct(run: Path, data: Path) -> dict[str, bool]:
    """Per test record id: is the greedy answer of the run folder `run` right (the run's decoding)?"""
    import torch

    from livr.inference.answers import is_correct
    from livr.inference.generate import decoder, encode_prompts
    from livr.runs.folder import load_run
    from livr.training.data import load_run_data

    torch.set_num_threads(1)
    lm, config = load_run(run)
    lm.model.eval()
    test = load_run_data(dataclasses.replace(config, data=str(data))).test.records
    examples = encode_prompts(lm, test, image_repeats=config.method_spec.image_repeats)
    texts = decoder(config.method_spec.decoding)(lm, examples, max_new_tokens=4)
    return {r["id"]: bool(is_correct(r, t)) for r, t in zip(test, texts)}


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: b, c the discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def moving(values: list[float], k: int) -> list[float]:
    return [sum(values[max(0, i - k + 1): i + 1]) / len(values[max(0, i - k + 1): i + 1]) for i in range(len(values))]


def plot(histories: dict[int, list[dict]], val_records: int, sft_records: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from livr.analysis.stats import wilson

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    for i, (seed, history) in enumerate(sorted(histories.items())):
        steps = [h for h in history if "reward_mean" in h]
        x = [h["step"] for h in steps]
        ax[0].plot(x, moving([h["reward_mean"] for h in steps], 25), color=f"C{i}", label=f"seed {seed}")
        vals = [h for h in history if "val_accuracy" in h]
        vy = [h["val_accuracy"] for h in vals]
        lo = [v - wilson(round(v * val_records), val_records)[0] for v in vy]
        hi = [wilson(round(v * val_records), val_records)[1] - v for v in vy]
        ax[1].errorbar([h["step"] + 3 * i for h in vals], vy, yerr=[lo, hi], fmt="o-", capsize=3, color=f"C{i}",
                       label=f"seed {seed}")
        ax[2].plot(x, moving([h["kl"] for h in steps], 25), color=f"C{i}", label=f"seed {seed}")
    ax[0].set(title="sampled reward = accuracy (T = 1), 25-step mean", xlabel="GRPO step", ylim=(0, 1))
    ax[0].legend(loc="lower right")
    ax[1].axhline(0.25, color="0.5", ls=":", label="chance (25%)")
    ax[1].set(title=f"greedy validation accuracy (n={val_records}, 95% Wilson)", xlabel="GRPO step", ylim=(0, 1))
    ax[1].legend(loc="lower right")
    ax[2].set(title="KL to the supervised checkpoint (k3, per token)", xlabel="GRPO step")
    fig.suptitle(f"GRPO on livr-tiny after 1 epoch of SFT on {sft_records} records, counting (easy); 2-core CPU VM")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"wrote {path}", file=sys.stderr)


def block(rows: list[dict], per_step: int) -> dict:
    """Mean sampled reward over `rows`: a Wilson interval over the samples (as if independent:
    too narrow, the 8 samples of a prompt are alike) and a normal interval over the per-step
    means (each step's 4 prompts are fresh: the honest unit)."""
    from livr.analysis.stats import wilson

    k = sum(round(h["reward_mean"] * per_step) for h in rows)
    m = per_step * len(rows)
    means = [h["reward_mean"] for h in rows]
    half = 1.96 * statistics.stdev(means) / math.sqrt(len(means))
    return {"steps": [rows[0]["step"], rows[-1]["step"]], "mean": k / m, "samples": m, "wilson95": wilson(k, m),
            "per_step_mean_95": [statistics.fmean(means) - half, statistics.fmean(means) + half]}


def seed_result(history: list[dict], before: list[bool], after: list[bool]) -> dict:
    from livr.analysis.stats import compare, wilson

    steps = [h for h in history if "reward_mean" in h]
    head, tail = steps[:50], steps[-50:]
    first, last = [h["reward_mean"] for h in head], [h["reward_mean"] for h in tail]
    vals = [h for h in history if "val_accuracy" in h]
    n, a, b = len(after), sum(before), sum(after)
    diff = compare([b / n], [a / n], n)
    lost = sum(x and not y for x, y in zip(before, after))
    gained = sum(y and not x for x, y in zip(before, after))
    val0, val_end = vals[0]["val_accuracy"], vals[-1]["val_accuracy"]
    vdiff = compare([val_end], [val0], VAL_RECORDS)
    return {
        "val_accuracy": [{"step": h["step"], "accuracy": h["val_accuracy"]} for h in vals],
        "val_gain": {"difference": val_end - val0, "half_width95": vdiff.half_width,
                     "beyond_noise": vdiff.beyond_noise, "text": vdiff.text("after GRPO", "before")},
        "sampled_reward_first_50": block(head, 4 * 8), "sampled_reward_last_50": block(tail, 4 * 8),
        "sampled_reward_gain": {"difference": statistics.fmean(last) - statistics.fmean(first),
                                "half_width95": 1.96 * math.sqrt(statistics.variance(first) / len(first)
                                                                 + statistics.variance(last) / len(last)),
                                "unit": "per-step mean sampled reward, last 50 steps against the first 50"},
        "kl_last_50_mean": sum(h["kl"] for h in tail) / len(tail),
        "test": {"n": n, "grpo_accuracy": b / n, "grpo_wilson95": wilson(b, n), "difference": diff.diff,
                 "difference_half_width95": diff.half_width, "beyond_noise": diff.beyond_noise,
                 "text": diff.text("GRPO", "SFT"), "right_to_wrong": lost, "wrong_to_right": gained,
                 "mcnemar_p": mcnemar_p(lost, gained)},
    }


def spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=str(ROOT / "runs" / "grpo-mini"))
    p.add_argument("--sft-records", type=int, default=400, help="training records of the one SFT epoch")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta", type=float, default=0.04)
    p.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")], default=[42, 43, 44],
                   help="GRPO seeds (prompt order and sampling), comma-separated")
    p.add_argument("--note", default="")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--png", default=str(PNG))
    args = p.parse_args()
    from livr.analysis.stats import wilson

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "log.txt"
    cmds = commands(args, work)
    seconds = {}
    if not (work / "data").is_dir():
        seconds["synth"] = run(cmds["synth"], log)
    if not (work / "sft" / "metrics.json").is_file():
        seconds["sft"] = run(cmds["sft"], log)
    rows = json.loads((work / "sft" / "test_predictions.json").read_text())
    before = [bool(r["correct"]) for r in rows]
    per_seed, histories = {}, {}
    for seed in args.seeds:
        out = work / f"grpo-seed{seed}"
        if not (out / "metrics.json").is_file():
            seconds[f"grpo-seed{seed}"] = run(cmds[f"grpo-seed{seed}"], log)
        histories[seed] = json.loads((out / "metrics.json").read_text())["history"]
        graded = test_correct(out / "model", work / "data")
        if sorted(graded) != sorted(r["id"] for r in rows):
            raise SystemExit("the SFT run's test predictions and the test split hold different records")
        per_seed[seed] = seed_result(histories[seed], before, [graded[r["id"]] for r in rows])  # paired
    n, a = len(before), sum(before)
    results = list(per_seed.values())
    from livr.analysis.stats import compare

    controls = {}
    for seed in args.seeds:
        folder = work / f"sft-control-seed{seed}"
        if not (folder / "metrics.json").is_file():
            seconds[f"sft-control-seed{seed}"] = run(cmds[f"sft-control-seed{seed}"], log)
        right = {r["id"]: bool(r["correct"]) for r in json.loads((folder / "test_predictions.json").read_text())}
        controls[seed] = sum(right.values()) / len(right)
    grpo_acc = [r["test"]["grpo_accuracy"] for r in results]
    against = compare(grpo_acc, list(controls.values()), n)
    control = {"epochs": control_epochs(args), "test_accuracy_over_seeds": spread(list(controls.values())),
               "grpo_test_accuracy_over_seeds": spread(grpo_acc),
               "grpo_minus_control": {"difference": against.diff, "half_width95": against.half_width,
                                      "beyond_noise": against.beyond_noise,
                                      "text": against.text("GRPO", f"SFT for {control_epochs(args)} epochs")}}
    summary = {
        "sft_test_accuracy": a / n, "sft_test_wilson95": wilson(a, n), "test_n": n, "val_records": VAL_RECORDS,
        "sft_val_accuracy": results[0]["val_accuracy"][0]["accuracy"],
        "val_gain_over_seeds": spread([r["val_gain"]["difference"] for r in results]),
        "test_gain_over_seeds": spread([r["test"]["difference"] for r in results]),
        "reward_gain_over_seeds": spread([r["sampled_reward_gain"]["difference"] for r in results]),
        "sft_control": control,
    }
    result = {
        "benchmark": "grpo_learning", **stamp(), "note": args.note,
        "commands": ["livr " + shlex.join(c[len(LIVR):]) for c in cmds.values()],
        "command_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "summary": summary, "seeds": {str(k): v for k, v in per_seed.items()},
        "histories": {str(k): v for k, v in histories.items()},
    }
    plot(histories, VAL_RECORDS, args.sft_records, Path(args.png))
    write_result(args.out, result)
    print(json.dumps({"summary": summary, "seeds": {k: {x: v[x] for x in ("val_gain", "test", "sampled_reward_gain")}
                                                    for k, v in per_seed.items()}}, indent=1))


if __name__ == "__main__":
    main()
