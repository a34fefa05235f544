"""`livr eval` and `livr probe`: score a model on a data folder or BLINK, and probe its latents.

    livr eval --model runs/loc-livr --data data/localization --split test --out evals/loc-livr
    livr eval --model tiny:qwen2_5_vl --data data/localization --out evals/zero-shot
    livr eval --model Qwen/Qwen2.5-VL-3B-Instruct --data blink --tasks jigsaw --out evals/blink-zs
    livr eval --model runs/loc-livr --data blink:/data/BLINK --probe bottleneck --out evals/loc-bn
    livr probe runs/loc-livr data/localization --out probes/loc-livr

MODEL: a `livr train` run folder, a `livr export` folder, a model folder, a hub id, or
`tiny:<family>` (the last three zero-shot, without latents). DATA: a `livr data` folder, or
BLINK: `blink` (hub), `blink:REPO_ID`, `blink:PATH` or a folder holding a local copy of the hub
repository (its val split is the test set); V*Bench: `vstar:PATH` (or `vstar` to download it);
MMVP: `mmvp:PATH` (or `mmvp`), scored per question and per pair; Mirage's released VSP data:
`mirage_vsp:PATH` (a local copy, see livr.data.build.mirage_vsp). VSP plans are scored by the
original benchmark's replay (reaching the goal counts) or, with `--vsp-scoring strict`, Mirage's
rule (the final position must be the goal); eval.json gives both. Generation is batched and greedy with the KV cache;
latents are inserted exactly as in training. Probes (Sec. 4.4.1): none, remove_latents,
bottleneck (the bottleneck mask applied while generating), bottleneck_remove_latents.
"""

from __future__ import annotations

import argparse
import sys


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--tasks", default=None, metavar="A,B",
                        help="only these tasks (default: every task in the data)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="only the first N records of each task")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per generation batch (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="generation budget (default: 8 for letters and counts, 128 for plans)")
    parser.add_argument("--dtype", default=None, choices=("auto", "float32", "bfloat16", "float16"),
                        help="weights dtype (default: the run's, or the checkpoint's)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow a hub model's own code (only for backbones that need it)")
    parser.add_argument("--out", required=True, help="folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--vsp-scoring", default="replay", choices=("replay", "strict"),
                        help="how a VSP plan counts: replay (the original benchmark: reaching the goal "
                        "succeeds, later moves ignored; default) or strict (Mirage: the final position "
                        "must be the goal); eval.json reports both")


def register(subparsers) -> None:
    from livr.evaluation.probes import PROBES

    description = __doc__.split("\n\n", 1)[1]
    ev = subparsers.add_parser("eval", help="accuracy of a model on a data folder or BLINK",
                               description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("--model", required=True, help="run folder, export folder, model folder, hub id or tiny:<family>")
    ev.add_argument("--data", required=True,
                    help="livr data folder, blink[:hub|REPO|PATH], vstar[:hub|PATH], mmvp[:hub|PATH] or "
                    "mirage_vsp:PATH")
    ev.add_argument("--probe", default="none", choices=list(PROBES), help="latent probe (default none)")
    _common(ev)
    ev.set_defaults(func=run_eval_command)

    pr = subparsers.add_parser("probe", help="the latent-usefulness probes of Sec. 4.4.1 and answer-to-latent attention",
                               description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("model", help="run folder, export folder, model folder, hub id or tiny:<family>")
    pr.add_argument("data", help="livr data folder, or blink[:hub|REPO|PATH]")
    pr.add_argument("--probes", default=None, metavar="A,B", help=f"subset of {', '.join(PROBES)} (default: the four of Sec. 4.4.1; for an LVR "
                    "model its step budgets: none, steps_0, steps_4, steps_8, steps_16)")
    _common(pr)
    pr.set_defaults(func=run_probe_command)


def _load(args):
    from pathlib import Path

    from livr.data.tasks import parse_task_list
    from livr.evaluation.models import load_eval_model
    from livr.evaluation.run import check_out
    from livr.evaluation.sources import load_eval_records, split_read

    check_out(Path(args.out), args.overwrite)
    tasks = parse_task_list(args.tasks) if args.tasks is not None else None
    records = load_eval_records(args.data, args.split, tasks, args.limit)
    args.split = split_read(records, args.split)  # eval.json names the split read (BLINK: val)
    model = load_eval_model(args.model, dtype=args.dtype, trust_remote_code=args.trust_remote_code)
    return model, records


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def run_eval_command(args: argparse.Namespace) -> int:
    from livr.evaluation.run import run_eval

    model, records = _load(args)
    report = run_eval(model, records, args.out, data=args.data, split=args.split, probe=args.probe,
                      batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                      overwrite=args.overwrite, progress=not args.quiet, vsp_scoring=args.vsp_scoring)
    tasks = ", ".join(f"{t} {_pct(a)}" for t, a in report["per_task"].items())
    print(f"{report['method']} ({args.model}), probe {args.probe}: accuracy {_pct(report['accuracy'])} "
          f"on {report['n']} records (random {_pct(report['random_accuracy'])}; per task: {tasks}; "
          f"{report['unparsed']} unparsed); wrote {args.out}", file=sys.stderr)
    if "mmvp" in report:
        mmvp = report["mmvp"]
        print(f"MMVP: pair accuracy {_pct(mmvp['pair_accuracy'])} ({mmvp['pairs_correct']}/{mmvp['pairs']} pairs), "
              f"question accuracy {_pct(mmvp['question_accuracy'])}", file=sys.stderr)
    if "vsp" in report:
        vsp = report["vsp"]
        print(f"VSP ({vsp['n']} maps): replay {_pct(vsp['replay_accuracy'])}, strict {_pct(vsp['strict_accuracy'])} "
              f"(accuracy above: {vsp['scoring']})", file=sys.stderr)
    return 0


def run_probe_command(args: argparse.Namespace) -> int:
    from livr.evaluation.run import run_probes

    probes = [p.strip() for p in args.probes.split(",") if p.strip()] if args.probes else None
    model, records = _load(args)
    result = run_probes(model, records, args.out, data=args.data, split=args.split, probes=probes,
                        batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                        overwrite=args.overwrite, progress=not args.quiet, vsp_scoring=args.vsp_scoring)
    accs = ", ".join(f"{name} {_pct(p['accuracy'])}" for name, p in result["probes"].items())
    att = result["attention"]["answer_to_latent"]
    print(f"{result['method']} ({args.model}): {accs} (random {_pct(result['random_accuracy'])}); "
          f"answer-to-latent attention {'n/a' if att is None else f'{att:.4f}'}; wrote {args.out}",
          file=sys.stderr)
    return 0
