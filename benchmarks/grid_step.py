"""Where a pretrained base fails the grid_step skill: the axis of the step, or its sign?

grid_step (livr.pretrain.mix, level 3) asks for the direction (left, right, up, down) from one
named shape to another in a neighbouring cell. This script answers the held-out records of that
level greedily with a pretrained model folder and prints the confusion matrix, plus two numbers:
axis accuracy (the answer is on the right axis: left/right for a horizontal step, up/down for a
vertical one; chance 50%) and sign accuracy among the answers on the right axis (chance 50%).
It then asks every question again with the two names swapped ("from the B to the A", whose
answer is the opposite step) and counts how often the model gives the same answer to both: a
model that reads which name comes first answers them differently; one that ignores the order
gives the same answer (and so gets the sign right on only one of the two).
The result goes to benchmarks/results/grid_step-NAME.json.

    python benchmarks/grid_step.py --model pretrain/v4/model --records 240
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

from common import RESULTS, limit_threads, stamp, write_result

AXIS = {"left": "h", "right": "h", "up": "v", "down": "v"}
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def swapped(record: dict) -> dict:
    """The same picture asked the other way round: the two names exchanged, the answer reversed."""
    a, b = (f"{o['colour']} {o['shape']}" for o in record["metadata"]["images"][0]["objects"][:2])
    prompt = record["prompt"]
    if a == b or a not in prompt or b not in prompt:
        raise ValueError(f"record {record['id']}: cannot swap {a!r} and {b!r} in {prompt!r}")
    prompt = prompt.replace(a, "\0").replace(b, a).replace("\0", b)
    return {**record, "prompt": prompt, "answer": OPPOSITE[record["answer"]]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a model folder made by `livr pretrain-base`, or livr-tiny")
    p.add_argument("--records", type=int, default=240)
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out stream (pretraining's own: 0)")
    p.add_argument("--name", help="result name (default: the model folder's parent)")
    args = p.parse_args()
    limit_threads(1)

    import torch

    from livr.analysis.stats import wilson
    from livr.inference.generate import encode_prompts, generate_answers
    from livr.pretrain.config import PretrainConfig
    from livr.pretrain.mix import SKILL_LEVEL, generate_mix
    from livr.pretrain.train import build, normalise

    torch.set_num_threads(1)
    lm = build(PretrainConfig(out="unused", init_from=args.model))
    lm.model.eval()
    records = [r for r in generate_mix(args.records, seed=args.seed, level=SKILL_LEVEL, split="heldout")
               if r["task"] == "pretrain/grid_step"]
    answers = generate_answers(lm, encode_prompts(lm, records), batch_size=16, max_new_tokens=12)
    flipped = generate_answers(lm, encode_prompts(lm, [swapped(r) for r in records]), batch_size=16,
                               max_new_tokens=12)
    same = sum(normalise(x) == normalise(y) for x, y in zip(answers, flipped))
    both = sum(normalise(x) == r["answer"] and normalise(y) == OPPOSITE[r["answer"]]
               for x, y, r in zip(answers, flipped, records))
    confusion: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for answer, record in zip(answers, records):
        confusion[normalise(record["answer"])][normalise(answer)] += 1
    n = len(records)
    correct = sum(c[g] for g, c in confusion.items())
    on_axis = sum(v for g, c in confusion.items() for a, v in c.items() if AXIS.get(a) == AXIS[g])
    result = {
        "model": args.model, "records": n, "accuracy": correct / n, "wilson95": wilson(correct, n),
        "axis_accuracy": on_axis / n, "axis_wilson95": wilson(on_axis, n),
        "sign_accuracy_on_axis": correct / on_axis if on_axis else 0.0,
        "sign_wilson95": wilson(correct, on_axis) if on_axis else [0.0, 1.0],
        "same_answer_when_swapped": same / n, "both_orders_right": both / n,
        "confusion": {g: dict(c) for g, c in sorted(confusion.items())}, **stamp(),
    }
    for gold, row in sorted(confusion.items()):
        print(f"{gold:>5}: " + ", ".join(f"{a} {v}" for a, v in row.most_common()))
    print(f"accuracy {correct}/{n}; axis {on_axis}/{n} = {on_axis / n:.3f}; "
          f"sign on the right axis {correct}/{on_axis} = {result['sign_accuracy_on_axis']:.3f}")
    print(f"same answer with the names swapped: {same}/{n}; both orders right: {both}/{n}")
    name = args.name or Path(args.model).resolve().parent.name
    write_result(RESULTS / f"grid_step-{name}.json", result)


if __name__ == "__main__":
    main()
