"""`livr eval` and `livr probe` as functions: score a model on records and write the results.

An evaluation folder:

    OUT/eval.json          model, data, split, probe; accuracy, n, correct, per-task accuracy and
                           its mean, the random-choice accuracy of the same records (overall, per
                           task, mean), unparsed outputs (count and ids), speed, versions, date;
                           for MMVP and V*Bench also `mmvp` (pair accuracy) and `vstar` (per
                           category), for VSP `vsp` (both scorings; `--vsp-scoring` picks the
                           one `correct` uses), see livr.evaluation.benchmarks
    OUT/predictions.jsonl  one line per record: id, task, output (raw text), parsed, gold, correct

`livr probe` writes one such folder per probe under OUT/<probe>/ plus OUT/probe.json (all
probes' accuracies and the answer-to-latent attention of Sec. 4.4.1) and OUT/probe.md. Folders
are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import time
from pathlib import Path
from typing import Any, Sequence

from livr.errors import ConfigError
from livr.evaluation.benchmarks import benchmark_scores
from livr.evaluation.probes import Probe, check_probe, default_probes, get_probe, probe_model
from livr.io import atomic_dir

EVAL_FILE = "eval.json"
PREDICTIONS_FILE = "predictions.jsonl"
PROBE_FILE = "probe.json"


def _versions() -> dict[str, str]:
    import torch
    import transformers

    import livr

    return {"livr": livr.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version()}


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def score_predictions(records: Sequence[dict], outputs: Sequence[str],
                      vsp_scoring: str = "replay") -> tuple[dict[str, Any], list[dict]]:
    """(summary, prediction rows): accuracies overall and per task, random-choice accuracy of
    the same records, and the outputs the parser could not read (counted wrong, listed).
    `vsp_scoring` ("replay" or "strict", `livr.data.synth.vsp.simulate_plan`) decides VSP rows'
    `correct`; with VSP records the summary also gives both scorings under `vsp`."""
    from livr.inference.answers import is_correct, parse_answer, random_accuracy

    chance = random_accuracy(records)
    rows, per_task = [], {}
    for record, output, p in zip(records, outputs, chance):
        parsed = parse_answer(record, output)
        correct = is_correct(record, output, vsp_scoring)
        rows.append({"id": record["id"], "task": record["task"], "output": output, "parsed": parsed,
                     "gold": record["answer"], "correct": correct})
        stats = per_task.setdefault(record["task"], {"n": 0, "correct": 0, "random": 0.0})
        stats["n"] += 1
        stats["correct"] += int(correct)
        stats["random"] += p
    n = len(rows)
    correct = sum(r["correct"] for r in rows)
    task_acc = {t: s["correct"] / s["n"] for t, s in sorted(per_task.items())}
    task_random = {t: s["random"] / s["n"] for t, s in sorted(per_task.items())}
    unparsed = [r["id"] for r in rows if r["parsed"] is None]
    summary = {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else 0.0,
        "per_task": task_acc,
        "per_task_n": {t: s["n"] for t, s in sorted(per_task.items())},
        "mean_task_accuracy": _mean(task_acc.values()),
        "random_accuracy": _mean(chance),
        "random_per_task": task_random,
        "random_mean_task_accuracy": _mean(task_random.values()),
        "unparsed": len(unparsed),
        "unparsed_ids": unparsed,
    }
    summary.update(benchmark_scores(records, rows))  # MMVP pair accuracy, V* per category, VSP
    if "vsp" in summary:
        summary["vsp"]["scoring"] = vsp_scoring
    return summary, rows


def decode_under_probe(model, examples: Sequence, probe: Probe, *, batch_size: int = 8,
                       max_new_tokens: int = 8, progress: bool = False) -> tuple[list[str], dict]:
    """(answers, extra) of the EvalModel `model` for encoded `examples` (encoded with the latents
    `probe` keeps) under `probe`; `extra` holds LVR's latent steps per answer (empty otherwise)."""
    from livr.inference.generate import decoder

    check_probe(probe, model.decoding)
    extra = {"latent_steps": []} if model.decoding == "latent" else {}
    if probe.lvr_steps is not None:  # LVR's budget probes: a fixed number of latent steps
        from livr.inference.latent import decoding_spec

        spec = decoding_spec(model.lm)[0]
        extra["spec"] = dataclasses.replace(spec, steps=probe.lvr_steps, exit="fixed",
                                            max_steps=max(spec.max_steps, probe.lvr_steps, 1))
    outputs = decoder(model.decoding)(probe_model(model.lm, probe), examples, batch_size=batch_size,
                                      max_new_tokens=max_new_tokens, mask_policy=probe.mask_policy,
                                      progress=progress, desc=f"generating ({probe.name})", **extra)
    extra.pop("spec", None)
    return outputs, extra


class Evaluator:
    """A loaded model and its records, encoded once per latent layout and reused by every probe."""

    def __init__(self, model, records: Sequence[dict], *, batch_size: int = 8,
                 max_new_tokens: int | None = None, max_length: int = 4096, progress: bool = False,
                 vsp_scoring: str = "replay"):
        from livr.data.synth.vsp import SCORINGS
        from livr.inference.generate import default_max_new_tokens

        if batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
        if vsp_scoring not in SCORINGS:
            raise ConfigError(f"--vsp-scoring must be one of {', '.join(SCORINGS)}, got {vsp_scoring!r}")
        self.vsp_scoring = vsp_scoring
        self.model = model  # livr.evaluation.models.EvalModel
        self.records = list(records)
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens or default_max_new_tokens(self.records)
        self.max_length = max_length
        self.progress = progress
        self._encoded: dict[bool, list] = {}

    def examples(self, keep_latents: bool) -> list:
        from tqdm.auto import tqdm

        from livr.evaluation.probes import without_latents
        from livr.inference.generate import prompt_collator

        if keep_latents not in self._encoded:
            lm = self.model.lm if keep_latents else without_latents(self.model.lm)
            collator = prompt_collator(lm, image_repeats=self.model.image_repeats, max_length=self.max_length)
            records = tqdm(self.records, desc="encoding", disable=not self.progress, leave=False)
            self._encoded[keep_latents] = [collator.encode(r, i) for i, r in enumerate(records)]
        return self._encoded[keep_latents]

    def run(self, probe: Probe | str = "none") -> tuple[dict[str, Any], list[dict]]:
        probe = get_probe(probe) if isinstance(probe, str) else probe
        check_probe(probe, self.model.decoding)  # before encoding
        examples = self.examples(probe.keep_latents)
        start = time.perf_counter()
        outputs, extra = decode_under_probe(self.model, examples, probe, batch_size=self.batch_size,
                                            max_new_tokens=self.max_new_tokens, progress=self.progress)
        seconds = time.perf_counter() - start
        summary, rows = score_predictions(self.records, outputs, self.vsp_scoring)
        if extra:  # LVR: the latent steps each prediction took, and their mean
            for row, steps in zip(rows, extra["latent_steps"]):
                row["latent_steps"] = steps
            summary["mean_latent_steps"] = _mean(extra["latent_steps"])
            if probe.lvr_steps is not None:
                summary["lvr_steps"] = probe.lvr_steps
            else:
                from livr.inference.latent import decoding_spec

                summary["lvr_steps"] = decoding_spec(self.model.lm)[0].steps
        summary.update(probe=probe.name, mask_policy=probe.mask_policy, latents_in_prompt=probe.keep_latents
                       and self.model.lm.latents.num_latents > 0, seconds=round(seconds, 3),
                       examples_per_second=round(len(rows) / seconds, 3) if seconds > 0 else None)
        return summary, rows


def _header(model, data: str, split: str) -> dict[str, Any]:
    return {"livr_eval": 1, **model.describe(), "data": str(data), "split": split,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": _versions()}


def write_eval_folder(out: Path, report: dict, rows: list[dict], *, overwrite: bool) -> Path:
    with atomic_dir(out, overwrite=overwrite) as tmp:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (tmp / PREDICTIONS_FILE).write_text(lines)
        (tmp / EVAL_FILE).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return out


def check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise ConfigError(f"--out {out} already exists; pass --overwrite or choose another folder")


def run_eval(model, records: Sequence[dict], out: str | Path, *, data: str, split: str,
             probe: str = "none", batch_size: int = 8, max_new_tokens: int | None = None,
             overwrite: bool = False, progress: bool = False, vsp_scoring: str = "replay") -> dict[str, Any]:
    """Evaluate `model` (an EvalModel) on `records` under `probe`; write OUT; return eval.json."""
    out = Path(out)
    check_out(out, overwrite)
    evaluator = Evaluator(model, records, batch_size=batch_size, max_new_tokens=max_new_tokens,
                          progress=progress, vsp_scoring=vsp_scoring)
    summary, rows = evaluator.run(probe)
    report = {**_header(model, data, split), **summary}
    write_eval_folder(out, report, rows, overwrite=overwrite)
    return report


def _probe_table(result: dict) -> str:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}"

    tasks = sorted({t for p in result["probes"].values() for t in p["per_task"]})
    lines = [f"# Probes of {result['model']} ({result['method']}, K={result['num_latents']})", "",
             f"Data: {result['data']} ({result['split']}), {result['n']} records; random choice "
             f"{pct(result['random_accuracy'])}.", "",
             "| probe | " + " | ".join(tasks) + " | accuracy |", "|---" * (len(tasks) + 2) + "|"]
    for name, p in result["probes"].items():
        lines.append(f"| {name} | " + " | ".join(pct(p["per_task"].get(t)) for t in tasks)
                     + f" | {pct(p['accuracy'])} |")
    att = result["attention"]
    to_latent = "n/a (no latents)" if att["answer_to_latent"] is None else f"{att['answer_to_latent']:.4f}"
    lines += ["", "Mean attention from answer tokens to latent tokens (over heads, layers and answer "
                  f"positions): {to_latent}; to image tokens: {att['answer_to_image']:.4f}.", ""]
    return "\n".join(lines)


def run_probes(model, records: Sequence[dict], out: str | Path, *, data: str, split: str,
               probes: Sequence[str] | None = None, batch_size: int = 8, max_new_tokens: int | None = None,
               overwrite: bool = False, progress: bool = False, vsp_scoring: str = "replay") -> dict[str, Any]:
    """Every probe (default: all four) plus the answer-to-latent attention; writes OUT."""
    from livr.evaluation.attention import answer_latent_attention

    out = Path(out)
    check_out(out, overwrite)
    names = list(probes or default_probes(model.decoding))
    for name in names:
        check_probe(get_probe(name), model.decoding)
    evaluator = Evaluator(model, records, batch_size=batch_size, max_new_tokens=max_new_tokens,
                          progress=progress, vsp_scoring=vsp_scoring)
    header = _header(model, data, split)
    result: dict[str, Any] = {**header, "n": len(evaluator.records), "probes": {}}
    reports = {}
    for name in names:
        summary, rows = evaluator.run(name)
        reports[name] = ({**header, **summary}, rows)
        result["probes"][name] = {k: summary[k] for k in ("accuracy", "correct", "per_task",
                                                           "mean_task_accuracy", "unparsed")}
        result["random_accuracy"] = summary["random_accuracy"]
        result["random_per_task"] = summary["random_per_task"]
    result["attention"] = answer_latent_attention(model.lm, evaluator.records,
                                                  batch_size=max(1, batch_size // 2),
                                                  image_repeats=model.image_repeats)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name, (report, rows) in reports.items():
            write_eval_folder(tmp / name, report, rows, overwrite=False)
        (tmp / PROBE_FILE).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        (tmp / "probe.md").write_text(_probe_table(result))
    return result
