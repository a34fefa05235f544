"""The learnability map: can Direct SFT from livr-tiny learn a task at a difficulty level?

For one task and level it runs exactly the two commands a user would run,

    livr data synth --task T --level L --train N --val V --test 250 --seed 0 --image-size 112 --out D
    livr train --model livr-tiny --method sft --data D --out R --stage2_epochs E --learning_rate ...

and records test accuracy with its n, the chance level, a 95% Wilson interval, how many binomial
standard deviations it sits above chance, the records and the seconds of training, in
benchmarks/results/learnability.json (one entry per task and level, replaced when rerun).
`--table` prints that file as the markdown table of docs/results.md.

    python benchmarks/learnability.py --task counting --level easy --train 4000
    python benchmarks/learnability.py --table

"Chance" is the better of a uniform guess over the task's answer space (1/k for a k-way choice)
and the most frequent test answer (the best constant answer, which is what an open-ended count
with a narrow range or a skewed split gives away). "Learned beyond noise" means at least 4
binomial standard deviations of chance above chance, on at least 250 test records.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import json
import shlex
import sys
import time
from pathlib import Path

from common import RESULTS, ROOT, machine, run_logged as run

from livr.analysis.stats import sigmas_above, wilson

OUT = RESULTS / "learnability.json"
LIVR = [sys.executable, "-m", "livr.cli.main"]


def chance_level(task: str, answers: list[str]) -> float:
    from livr.data.tasks import get_task

    info = get_task(task)
    uniform = 1 / info.num_choices if info.num_choices else 0.0
    majority = max(collections.Counter(answers).values()) / len(answers) if answers else 0.0
    return max(uniform, majority)


@contextlib.contextmanager
def cpu_slot(slots: int):
    """Hold one of `slots` machine-wide slots (lock files in /tmp) while measuring, so that
    several measurements started at once share the cores in a known way instead of all at once."""
    handles = [open(f"/tmp/livr-learnability-{i}.lock", "w") for i in range(slots)]
    try:
        while True:
            for h in handles:
                try:
                    fcntl.flock(h, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    yield
                    return
                except BlockingIOError:
                    continue
            time.sleep(2)
    finally:
        for h in handles:
            h.close()


def measure(args) -> dict:
    work = Path(args.work) / f"{args.task}-{args.level}-{args.train}-s{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    data, out, log = work / "data", work / "run", work / "log.txt"
    synth = [*LIVR, "data", "synth", "--task", args.task, "--level", args.level, "--train", str(args.train),
             "--val", str(args.val), "--test", str(args.test), "--seed", "0", "--image-size",
             str(args.image_size), "--out", str(data), "--overwrite", "--no-progress"]
    train = [*LIVR, "train", "--model", args.model, "--method", args.method, "--data", str(data),
             "--out", str(out), "--overwrite", "--seed", str(args.seed), "--stage2_epochs", str(args.epochs),
             "--learning_rate", str(args.lr), "--per_device_train_batch_size", str(args.batch),
             "--gradient_accumulation_steps", "1", "--eval_batch_size", "32", "--report_to", "none",
             "--disable_tqdm", "true", *args.extra]
    synth_s = run(synth, log, args.threads)
    with cpu_slot(args.slots):
        wall = run(train, log, args.threads)
    metrics = json.loads((out / "metrics.json").read_text())
    rows = json.loads((out / "test_predictions.json").read_text())
    n = len(rows)
    correct = sum(bool(r["correct"]) for r in rows)
    accuracy = correct / n
    chance = chance_level(args.task, [r["answer"] for r in rows])
    low, high = wilson(correct, n)
    sig = sigmas_above(accuracy, chance, n)
    entry = {
        "task": args.task, "level": args.level, "method": args.method, "seed": args.seed,
        "train_records": args.train, "val_records": args.val, "test_records": n,
        "epochs": args.epochs, "learning_rate": args.lr, "batch_size": args.batch,
        "test_accuracy": accuracy, "correct": correct, "chance": chance, "wilson95": [low, high],
        "sigmas_above_chance": sig, "learned": bool(sig is not None and sig >= 4 and n >= 250),
        "best_val_accuracy": metrics.get("best_val_accuracy"), "selected_epoch": metrics.get("selected_epoch"),
        "train_seconds": json.loads((out / "timing.json").read_text())["train_seconds"], "train_command_seconds": round(wall, 1),
        "synth_seconds": round(synth_s, 1),
        "threads": args.threads,
        "commands": ["livr " + shlex.join(c[len(LIVR):]) for c in (synth, train)],
        "machine": machine(),
    }
    return entry


def save(entry: dict) -> None:
    from livr.io import atomic_write_json

    with open(str(OUT) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several measurements may finish at once
        _save(entry, atomic_write_json)


def _save(entry: dict, atomic_write_json) -> None:
    data = json.loads(OUT.read_text()) if OUT.is_file() else {"entries": []}
    data["entries"] = [e for e in data["entries"]
                       if (e["task"], e["level"], e["method"], e["seed"]) !=
                       (entry["task"], entry["level"], entry["method"], entry["seed"])] + [entry]
    data["entries"].sort(key=lambda e: (e["task"], e["level"], e["method"], e["seed"]))
    atomic_write_json(OUT, data)


def table() -> str:
    from livr.data.synth import levels
    from livr.data.tasks import TASK_NAMES

    data = json.loads(OUT.read_text()) if OUT.is_file() else {"entries": []}
    lines = ["| task | level | test acc. | n | chance | 95% interval | sd above chance | train records "
             "| epochs | training (s) | learned |", "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    order = {t: i for i, t in enumerate(TASK_NAMES)}
    for e in sorted(data["entries"], key=lambda e: (order.get(e["task"], 99),
                                                     list(levels(e["task"])).index(e["level"])
                                                     if e["level"] in levels(e["task"]) else 99)):
        sig = "–" if e["sigmas_above_chance"] is None else f"{e['sigmas_above_chance']:.1f}"
        secs = e.get("train_seconds") or e["train_command_seconds"]
        lines.append(f"| {e['task']} | {e['level']} | {100 * e['test_accuracy']:.1f} | {e['test_records']} | "
                     f"{100 * e['chance']:.1f} | {100 * e['wilson95'][0]:.1f}–{100 * e['wilson95'][1]:.1f} | "
                     f"{sig} | {e['train_records']} | {e['epochs']} | {secs:.0f} | "
                     f"{'yes' if e['learned'] else 'no'} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task")
    p.add_argument("--level", default="paper")
    p.add_argument("--train", type=int, default=4000)
    p.add_argument("--val", type=int, default=100)
    p.add_argument("--test", type=int, default=250)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--model", default="livr-tiny")
    p.add_argument("--method", default="sft")
    p.add_argument("--work", default=str(ROOT / "runs" / "learnability"))
    p.add_argument("--threads", type=int, default=1, help="torch threads of the training (default 1)")
    p.add_argument("--slots", type=int, default=2,
                   help="at most this many trainings of this script run at once on the machine")
    p.add_argument("--no-save", action="store_true", help="print the entry, do not record it")
    p.add_argument("--table", action="store_true", help="print the recorded map as markdown and exit")
    p.add_argument("extra", nargs="*", help="more `livr train` flags, after --")
    args = p.parse_args()
    if args.table:
        print(table())
        return 0
    if not args.task:
        p.error("--task is required (or --table)")
    entry = measure(args)
    if not args.no_save:
        save(entry)
    print(json.dumps({k: entry[k] for k in ("task", "level", "test_accuracy", "test_records", "chance",
                                             "wilson95", "sigmas_above_chance", "learned", "train_seconds",
                                             "train_command_seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
