"""GRPO in miniature: does GRPO raise reward and accuracy of a supervised livr-tiny checkpoint?

    .venv/bin/python benchmarks/grpo_learning.py                 # all steps (about 21 min on 2 busy cores)
    .venv/bin/python benchmarks/grpo_learning.py --steps 400 --lr 1e-4

It runs the commands a user would run (each skipped when its output already exists):

    livr data synth --task counting --level easy --train 2000 --val 250 --test 250 --seed 0 --image-size 112 --out W/data
    livr train --model livr-tiny --method sft --data W/data --out W/sft --stage2_epochs 1 --learning_rate 5e-4 ...
    livr grpo --init-from W/sft --data W/data --out W/grpo --grpo_steps 400 --grpo_prompts 4 ...

then scores the test split with the supervised weights (the run's own test predictions) and with
the GRPO weights (W/grpo/grpo_state.pt loaded into the run's model, the same greedy decoding),
and writes benchmarks/results/grpo_learning.json and docs/grpo-miniature.png (sampled reward
and accuracy per step with a 25-step moving mean, validation accuracy with 95% Wilson intervals,
KL to the reference). Counting at the easy level: one epoch of SFT leaves livr-tiny above chance
(25%) and below what two epochs reach (62%, docs/results.md learnability map).
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
    data, sft, grpo = work / "data", work / "sft", work / "grpo"
    return {
        "synth": [*LIVR, "data", "synth", "--task", "counting", "--level", "easy", "--train", "2000", "--val", "250",
                  "--test", "250", "--seed", "0", "--image-size", "112", "--out", str(data), "--overwrite",
                  "--no-progress"],
        "sft": [*LIVR, "train", "--model", "livr-tiny", "--method", "sft", "--data", str(data), "--out", str(sft),
                "--overwrite", "--seed", "42", "--stage2_epochs", "1", "--learning_rate", "5e-4",
                "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1", "--eval_batch_size", "32",
                "--report_to", "none", "--disable_tqdm", "true"],
        "grpo": [*LIVR, "grpo", "--init-from", str(sft), "--data", str(data), "--out", str(grpo),
                 "--grpo_steps", str(args.steps), "--grpo_prompts", "4", "--grpo_num_generations", "8",
                 "--grpo_max_new_tokens", "4", "--grpo_temperature", "1.0", "--grpo_beta", str(args.beta),
                 "--learning_rate", str(args.lr), "--seed", "42", "--eval_every", "50", "--save_every", "25"],
    }


def grpo_test_correct(work: Path) -> dict[str, bool]:
    """Per test record id: is the GRPO model's greedy answer right (the run's decoding)?"""
    import torch

    from livr.inference.answers import is_correct
    from livr.inference.generate import decoder, encode_prompts
    from livr.runs.folder import load_run
    from livr.training.data import load_run_data
    from livr.training.trainer import load_trainable_state

    torch.set_num_threads(1)
    lm, config = load_run(work / "sft")
    load_trainable_state(lm.model, torch.load(work / "grpo" / "grpo_state.pt", weights_only=True)["weights"])
    lm.model.eval()
    test = load_run_data(dataclasses.replace(config, data=str(work / "data"))).test.records
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


def plot(history: list[dict], test: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from livr.analysis.stats import wilson

    steps = [h for h in history if "reward_mean" in h]
    x = [h["step"] for h in steps]
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    reward = [h["reward_mean"] for h in steps]
    ax[0].plot(x, reward, color="0.8", lw=0.8, label="per step (32 samples)")
    ax[0].plot(x, moving(reward, 25), color="C0", label="25-step mean")
    ax[0].set(title="sampled reward = accuracy (T = 1)", xlabel="GRPO step", ylim=(0, 1))
    ax[0].legend(loc="lower right")
    vals = [h for h in history if "val_accuracy" in h]
    n = test["val_records"]
    vx = [h["step"] for h in vals]
    vy = [h["val_accuracy"] for h in vals]
    lo = [v - wilson(round(v * n), n)[0] for v in vy]
    hi = [wilson(round(v * n), n)[1] - v for v in vy]
    ax[1].errorbar(vx, vy, yerr=[lo, hi], fmt="o-", capsize=3, label=f"validation, greedy (n={n})")
    ax[1].axhline(0.25, color="0.5", ls=":", label="chance (25%)")
    ax[1].set(title="greedy accuracy", xlabel="GRPO step", ylim=(0, 1))
    ax[1].legend(loc="lower right")
    ax[2].plot(x, [h["kl"] for h in steps], color="C3")
    ax[2].set(title="KL to the supervised checkpoint (k3, per token)", xlabel="GRPO step")
    fig.suptitle("GRPO on livr-tiny after 1 epoch of SFT, counting (easy); 2-core CPU VM")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=str(ROOT / "runs" / "grpo-mini"))
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--beta", type=float, default=0.04)
    p.add_argument("--note", default="")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--png", default=str(PNG))
    args = p.parse_args()
    from livr.analysis.stats import compare, wilson

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "log.txt"
    cmds = commands(args, work)
    seconds = {}
    if not (work / "data").is_dir():
        seconds["synth"] = run(cmds["synth"], log)
    if not (work / "sft" / "metrics.json").is_file():
        seconds["sft"] = run(cmds["sft"], log)
    if not (work / "grpo" / "metrics.json").is_file():
        seconds["grpo"] = run(cmds["grpo"], log)
    metrics = json.loads((work / "grpo" / "metrics.json").read_text())
    rows = json.loads((work / "sft" / "test_predictions.json").read_text())
    graded = grpo_test_correct(work)
    if sorted(graded) != sorted(r["id"] for r in rows):
        raise SystemExit("the SFT run's test predictions and the test split hold different records")
    before = [bool(r["correct"]) for r in rows]
    after = [graded[r["id"]] for r in rows]  # paired, record by record
    n = len(after)
    a, b = sum(before), sum(after)
    diff = compare([b / n], [a / n], n)
    history = metrics["history"]
    steps = [h for h in history if "reward_mean" in h]
    head, tail = steps[:50], steps[-50:]
    per_step = 4 * 8

    def block(rows):
        """Mean sampled reward over `rows`: a Wilson interval over the samples (as if independent:
        too narrow, the 8 samples of a prompt are alike) and a normal interval over the per-step
        means (each step's 4 prompts are fresh: the honest unit)."""
        k = sum(round(h["reward_mean"] * per_step) for h in rows)
        m = per_step * len(rows)
        means = [h["reward_mean"] for h in rows]
        half = 1.96 * statistics.stdev(means) / math.sqrt(len(means))
        return {"steps": [rows[0]["step"], rows[-1]["step"]], "mean": k / m, "samples": m, "wilson95": wilson(k, m),
                "per_step_mean_95": [statistics.fmean(means) - half, statistics.fmean(means) + half]}

    first, last = [h["reward_mean"] for h in head], [h["reward_mean"] for h in tail]
    reward_gain = {"difference": statistics.fmean(last) - statistics.fmean(first),
                   "half_width95": 1.96 * math.sqrt(statistics.variance(first) / len(first)
                                                    + statistics.variance(last) / len(last)),
                   "unit": "per-step mean sampled reward, last 50 steps against the first 50"}

    result = {
        "benchmark": "grpo_learning", **stamp(), "note": args.note,
        "commands": ["livr " + shlex.join(c[len(LIVR):]) for c in cmds.values()],
        "command_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "val_records": VAL_RECORDS,
        "val_accuracy": [{"step": h["step"], "accuracy": h["val_accuracy"]} for h in history if "val_accuracy" in h],
        "sampled_reward_first_50": block(head), "sampled_reward_last_50": block(tail),
        "sampled_reward_gain": reward_gain,
        "kl_last_50_mean": sum(h["kl"] for h in tail) / len(tail),
        "test": {"n": n, "sft_accuracy": a / n, "sft_wilson95": wilson(a, n), "grpo_accuracy": b / n,
                 "grpo_wilson95": wilson(b, n), "difference": diff.diff, "difference_half_width95": diff.half_width,
                 "beyond_noise": diff.beyond_noise, "text": diff.text("GRPO", "SFT"),
                 "right_to_wrong": sum(x and not y for x, y in zip(before, after)),
                 "wrong_to_right": sum(y and not x for x, y in zip(before, after)),
                 "mcnemar_p": mcnemar_p(sum(x and not y for x, y in zip(before, after)),
                                        sum(y and not x for x, y in zip(before, after)))},
        "history": history,
    }
    plot(history, {"val_records": VAL_RECORDS}, Path(args.png))
    write_result(args.out, result)
    print(json.dumps({k: result[k] for k in ("sampled_reward_first_50", "sampled_reward_last_50",
                                             "sampled_reward_gain", "val_accuracy",
                                             "test", "kl_last_50_mean")}, indent=1))


if __name__ == "__main__":
    main()
