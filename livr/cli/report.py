"""`livr report`: a results table in the layout of the paper's Table 1, as markdown and JSON.

    livr report runs/*-sft runs/*-livr evals/zero-shot --out reports/table1.md
    livr report runs/jigsaw-livr-s1 runs/jigsaw-livr-s2 probes/jigsaw-livr --quiet --out t.md
    livr report runs/* evals/*                     # print the markdown only

Inputs are finished run folders (metrics.json), `livr eval` folders (or their eval.json) and
`livr probe` folders (one row per probe), any mix. Rows: Random Choice, then per base model
Zero-shot, Direct SFT, LIVR, Δ vs SFT and any other method or probe present; columns: the tasks
present and Mean. Several seeds of one method and task show as mean ± sample std (n seeds).
`--out FILE.md` writes FILE.md and FILE.json (the structured table, fractions in [0, 1]) beside
it; the markdown is also printed unless --quiet. See livr.analysis.report for the exact rules.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="results table (paper's Table 1 layout) from finished runs and evals, as markdown and JSON",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="RUN_OR_EVAL",
                        help="finished run folder, livr eval folder (or eval.json) or livr probe folder "
                             "(several, any mix)")
    parser.add_argument("--out", default=None, metavar="FILE.md",
                        help="markdown file to write; the JSON goes beside it with .json (replaced if it exists)")
    parser.add_argument("--quiet", action="store_true", help="do not print the markdown")
    parser.set_defaults(func=run, also_writes=_json_beside)


def _json_beside(args: argparse.Namespace) -> list:
    from livr.analysis.report import report_paths

    return [] if args.out is None else [report_paths(args.out)[1]]


def run(args: argparse.Namespace) -> int:
    from livr.analysis.report import build_table, collect, report_paths, save, to_markdown
    from livr.errors import ConfigError

    if args.quiet and args.out is None:
        raise ConfigError("--quiet without --out would produce nothing; add --out FILE.md")
    if args.out is not None:
        report_paths(args.out)  # a bad --out shows before any input is read
    table = build_table(collect(args.inputs))
    markdown = to_markdown(table)
    if not args.quiet:
        print(markdown, end="")
    if args.out is not None:
        md_path, json_path = save(table, args.out, markdown)
        print(f"wrote {md_path} and {json_path}", file=sys.stderr)
    return 0
