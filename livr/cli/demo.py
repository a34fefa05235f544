"""`livr demo`: the paper's Table 1 and latent probes in miniature, on a small base model.

    livr demo                                  # 3 tasks at their easy level, one seed, on 2 CPU cores
    livr demo --full                           # all ten tasks, 4,000 training records, seeds 42, 43, 44
    livr demo --level paper                    # the paper's difficulty
    livr demo --tasks counting,jigsaw --out runs/demo-cj
    livr demo --config my-demo.yaml --model tiny:qwen2_5_vl --quiet

Steps: generate each task's data at the demo's level; evaluate the base model zero-shot; per task
and seed train Direct SFT (stage1 + stage2 epochs), LIVR (stage 1 under the bottleneck, then
stage 2) and the latents-only control, all tested on the test split; probe LIVR and latents-only
(latents removed, bottleneck at test, both; answer-to-latent attention) and Direct SFT under the
bottleneck; draw latent-to-image attention maps; write
OUT/report.md, report.json and summary.txt. A step already done with the same settings is reused,
so running the command again continues an interrupted demo; a step done with other settings is an
error unless --overwrite. The YAML file may set any DemoConfig field (see livr/demo/config.py);
flags win over it. Details: docs/demo.md.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="Table 1 in miniature: zero-shot, Direct SFT and LIVR on synthetic tasks, probes, report",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="runs/demo", metavar="DIR", help="folder for everything (default runs/demo)")
    parser.add_argument("--tasks", default=None, metavar="A,B", help="tasks to run (default: counting, "
                        "localization, visual_correspondence; --full: all ten)")
    parser.add_argument("--full", action="store_true",
                        help="all ten tasks, 4,000 / 100 / 250 records per task, seeds 42, 43, 44 (hours)")
    parser.add_argument("--model", default=None, help="base model (default livr-tiny; also tiny:<family>, "
                        "a model folder or a hub id)")
    parser.add_argument("--level", default=None, metavar="NAME",
                        help="difficulty level of every task's data (default easy; paper: the paper's rules)")
    parser.add_argument("--seeds", default=None, metavar="A,B", help="training seeds (default 42)")
    parser.add_argument("--config", default=None, metavar="FILE.yaml", help="YAML file of DemoConfig fields")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo the steps whose settings changed since they ran in --out")
    parser.add_argument("--quiet", action="store_true",
                        help="only one line per step; the tools' own output goes to OUT/demo.log")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from livr.demo.config import load_demo_config
    from livr.demo.report import duration
    from livr.demo.run import run_demo

    overrides = {k: getattr(args, k) for k in ("tasks", "model", "seeds", "level") if getattr(args, k) is not None}
    config = load_demo_config(full=args.full, path=args.config, overrides=overrides)
    result = run_demo(config, args.out, overwrite=args.overwrite, quiet=args.quiet)
    print(result["summary"], end="")
    print(f"This call: {duration(result['seconds'])} ({result['ran']} step(s) run, "
          f"{result['reused']} reused).")
    return 0
