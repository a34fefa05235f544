"""`livr predict`: a model's answer to one prompt about your own images.

    livr predict --model runs/loc-livr --image a.png --prompt "Which point is closer? (A) red (B) blue"
    livr predict --model exported/loc-livr --image a.png --image b.png --prompt "..." --probe
    livr predict --model Qwen/Qwen2.5-VL-3B-Instruct --image a.png --prompt "What is shown?"

MODEL: a `livr train` run folder, a `livr export` folder, a model folder, a hub id or
`tiny:<family>` (as `livr eval --model`). The answer is printed alone on stdout; with --probe,
one line `PROBE: ANSWER` for each probe of `livr probe` that applies to the model (none,
remove_latents, bottleneck, bottleneck_remove_latents; an LVR model's step budgets), line breaks
inside an answer shown as \\n. The prompt is encoded and decoded exactly as `livr eval` does it.
Python: `livr.predict(MODEL, IMAGES, PROMPT)` and `livr.predict_probes(...)`
(livr.evaluation.predict).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from livr.evaluation.predict import DEFAULT_MAX_LENGTH, DEFAULT_MAX_NEW_TOKENS

    parser = subparsers.add_parser("predict", help="a model's answer to a prompt about your own images",
                                   description=__doc__.split("\n\n", 1)[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="run folder, export folder, model folder, hub id or tiny:<family>")
    parser.add_argument("--image", required=True, action="append", metavar="FILE",
                        help="an image file; repeat for several (1 to 4, in prompt order)")
    parser.add_argument("--prompt", required=True, help="the question (with its choices, as in training)")
    parser.add_argument("--probe", action="store_true", help="print the answer under each probe that applies")
    parser.add_argument("--max-new-tokens", type=int, default=DEFAULT_MAX_NEW_TOKENS,
                        help=f"generation budget (default {DEFAULT_MAX_NEW_TOKENS})")
    parser.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                        help=f"longest prompt in tokens, images included (default {DEFAULT_MAX_LENGTH})")
    parser.add_argument("--dtype", default=None, choices=("auto", "float32", "bfloat16", "float16"),
                        help="weights dtype (default: the run's, or the checkpoint's)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow a hub model's own code (only for backbones that need it)")
    parser.set_defaults(func=run_predict_command)


def run_predict_command(args: argparse.Namespace) -> int:
    from livr.evaluation.predict import predict_probes

    answers = predict_probes(args.model, args.image, args.prompt, probes=None if args.probe else ["none"],
                             max_new_tokens=args.max_new_tokens, max_length=args.max_length,
                             dtype=args.dtype, trust_remote_code=args.trust_remote_code)
    if args.probe:
        for name, answer in answers.items():
            one_line = answer.replace("\n", "\\n")
            print(f"{name}: {one_line}")
    else:
        print(answers["none"])
    return 0
