"""`livr viz ...`: pictures of what the latent tokens do (the paper's Fig. 3, 4 and 5).

    livr viz attention runs/loc-livr data/localization --out viz/loc-attention
    livr viz attention runs/mt-livr data/mix --tasks jigsaw,counting --limit 8 --out viz/att
    livr viz tsne runs/mt-livr data/mix --out viz/tsne.png            # first 50 per task

MODEL is a finished run folder, an export, a model folder, a hub id or tiny:<family> (see
`livr.evaluation.models.load_eval_model`); DATA is a data folder or BLINK (`blink`, `blink:PATH`).

`attention` draws, per example, the input images (a check mark on the correct image where the
choices are images) above the same images overlaid with the latent-to-image attention (averaged
over latents, heads and layers, one colour scale per example), and writes DIR/<task>/<id>.png,
DIR/index.html and DIR/attention.json (the raw grids). It needs a model with latent tokens.
`tsne` embeds the final-layer hidden states of the prompts' tokens with t-SNE, coloured latent
(red) / image (blue) / text (green), and writes FILE.png and FILE.json (coordinates, labels).
See docs/analysis.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "viz",
        help="latent-to-image attention maps and t-SNE of hidden states (paper's Fig. 3-5)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="viz_command", metavar="SUBCOMMAND")
    sub.required = True

    att = sub.add_parser("attention", help="latent-to-image attention heatmaps, one PNG per example",
                         description="Latent-to-image attention heatmaps over the input images "
                                     "(Fig. 3 and 5), one PNG grid per example.")
    _common(att, limit=4)
    att.add_argument("--out", required=True, metavar="DIR",
                     help="folder for <task>/<id>.png, index.html and attention.json")
    att.set_defaults(func=run_attention)

    tsne = sub.add_parser("tsne", help="t-SNE of final-layer hidden states (latent / image / text)",
                          description="t-SNE of the final-layer hidden states of every prompt token, "
                                      "coloured latent (red), image (blue), text (green) (Fig. 4).")
    _common(tsne, limit=50)
    tsne.add_argument("--out", required=True, metavar="FILE.png",
                      help="picture to write; the coordinates and labels go beside it as FILE.json")
    tsne.add_argument("--max-points", type=int, default=6000,
                      help="tokens to embed at most, sampled stratified by kind (default 6000)")
    tsne.add_argument("--seed", type=int, default=0, help="seed of the subsample and of t-SNE (default 0)")
    tsne.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30)")
    tsne.set_defaults(func=run_tsne, also_writes=_json_beside)


def _common(parser: argparse.ArgumentParser, *, limit: int) -> None:
    parser.add_argument("model", metavar="MODEL", help="run folder, export, model folder, hub id or tiny:<family>")
    parser.add_argument("data", metavar="DATA", help="data folder, or blink / blink:PATH")
    parser.add_argument("--split", default="test", help="split to read (default test)")
    parser.add_argument("--tasks", default=None, metavar="A,B", help="only these tasks (default: all present)")
    parser.add_argument("--limit", type=int, default=limit,
                        help=f"first N examples of each task (default {limit})")
    parser.add_argument("--batch-size", type=int, default=4, help="prompts per forward pass (default 4)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16 or auto (default: the checkpoint's)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow a checkpoint's own code (LLaVA-OneVision-1.5)")


def _prepare(args: argparse.Namespace):
    """Check the options, read the records, load the model (in that order, cheapest first)."""
    import torch

    from livr.data.tasks import parse_task_list
    from livr.errors import ConfigError
    from livr.evaluation.models import load_eval_model
    from livr.evaluation.sources import load_eval_records

    tasks = parse_task_list(args.tasks) if args.tasks is not None else None
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {args.device!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {args.device}: no CUDA device is available; use --device cpu")
    records = load_eval_records(args.data, args.split, tasks, args.limit)
    model = load_eval_model(args.model, dtype=args.dtype, trust_remote_code=args.trust_remote_code)
    model.lm.to(device)
    return records, model


def _meta(args: argparse.Namespace, model, records) -> dict:
    return {"model": args.model, "model_kind": model.kind, "method": model.method,
            "base_model": model.base_model, "num_latents": model.lm.latents.num_latents,
            "image_repeats": model.image_repeats, "data": str(args.data), "split": args.split,
            "limit_per_task": args.limit, "tasks": sorted({r["task"] for r in records}),
            "examples": len(records)}


def run_attention(args: argparse.Namespace) -> int:
    from livr.analysis.attention_maps import attention_grids, write_attention_maps
    from livr.errors import ConfigError

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the pictures")
    records, model = _prepare(args)
    if model.lm.latents.num_latents == 0:
        raise ConfigError(f"MODEL {args.model} has no latent tokens ({model.kind}, {model.method}), so there is "
                          "no latent-to-image attention to draw; give a LIVR run folder or its export")
    grids = attention_grids(model.lm, records, image_repeats=model.image_repeats, batch_size=args.batch_size)
    paths = write_attention_maps(out, records, grids, _meta(args, model, records))
    print(f"wrote {len(records)} attention maps under {out}/ (index {paths['index']}, raw grids {paths['json']})")
    return 0


def _json_beside(args: argparse.Namespace) -> list:
    from livr.analysis.tsne import tsne_paths

    return [tsne_paths(args.out)[1]]


def run_tsne(args: argparse.Namespace) -> int:
    from livr.analysis.tsne import embed, hidden_state_points, tsne_paths, write_tsne
    from livr.errors import ConfigError

    tsne_paths(args.out)  # a bad --out shows before anything is loaded
    if args.max_points < 4:
        raise ConfigError(f"--max-points must be at least 4, got {args.max_points}")
    if args.perplexity <= 0:
        raise ConfigError(f"--perplexity must be positive, got {args.perplexity}")
    records, model = _prepare(args)
    points = hidden_state_points(model.lm, records, max_points=args.max_points, seed=args.seed,
                                 image_repeats=model.image_repeats, batch_size=args.batch_size)
    coords, used = embed(points["states"], seed=args.seed, perplexity=args.perplexity)
    meta = {**_meta(args, model, records), "seed": args.seed, "perplexity": args.perplexity,
            "perplexity_used": used, "max_points": args.max_points}
    png, json_path = write_tsne(args.out, coords, points, records, meta)
    counts = ", ".join(f"{k} {int((points['labels'] == i).sum())}" for i, k in enumerate(("latent", "image", "text")))
    print(f"wrote {png} and {json_path} ({len(coords)} tokens: {counts})")
    if model.lm.latents.num_latents == 0:
        print("note: the model has no latent tokens, so the plot has no red points", file=sys.stderr)
    return 0
