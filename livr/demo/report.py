"""The demo's report: Table 1 (via `livr.analysis.report`), the probes of Sec. 4.4.1, and a short
summary a person can read in the terminal.

    OUT/report.md     settings, the Table 1 layout (Random Choice, Zero-shot, Direct SFT, LIVR,
                      Δ vs SFT), the probes per task, links to the attention maps
    OUT/report.json   the table as `livr.analysis.report.build_table` gives it, plus "demo" (the
                      settings), "probes" (per task and seed) and "attention_maps"
    OUT/summary.txt   the 5-10 lines printed at the end
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Sequence

from livr.analysis.report import TASK_LABELS, build_table, collect, format_cell, seed_cells, to_markdown
from livr.analysis.stats import compare, wilson
from livr.evaluation.run import PROBE_FILE

PROBE_COLUMNS = (
    ("none", "as trained"),
    ("remove_latents", "latents removed"),
    ("bottleneck", "bottleneck at test"),
    ("bottleneck_remove_latents", "bottleneck, no latents"),
)


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


# ----------------------------------------------------------------------------- probes


def _probe_means(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Each probe's accuracy and the answer-to-latent attention, averaged over probe.json results."""
    return {"accuracy": {name: _mean([r["probes"][name]["accuracy"] for r in results if name in r["probes"]])
                         for name, _ in PROBE_COLUMNS},
            "answer_to_latent": _mean([r["attention"]["answer_to_latent"] for r in results])}


def probe_summary(livr_probes: dict[str, list[Path]], sft_probes: dict[str, list[Path]]) -> dict[str, Any]:
    """Per task: each probe's accuracy (mean over seeds, and per seed), the answer-to-latent and
    answer-to-image attention, chance, and Direct SFT under the bottleneck where it was probed.
    Arguments map task -> probe folders (one per seed)."""
    tasks: dict[str, Any] = {}
    for task, folders in livr_probes.items():
        results = [json.loads((f / PROBE_FILE).read_text()) for f in folders]
        entry: dict[str, Any] = {
            "n": results[0]["n"],
            "seeds": [r.get("seed") for r in results],
            "random": _mean([r.get("random_per_task", {}).get(task) for r in results]),
            **_probe_means(results),
            "accuracy_per_seed": {name: [r["probes"].get(name, {}).get("accuracy") for r in results]
                                  for name, _ in PROBE_COLUMNS},
            "answer_to_image": _mean([r["attention"]["answer_to_image"] for r in results]),
            "sources": [str(f) for f in folders],
        }
        sft = [json.loads((f / PROBE_FILE).read_text()) for f in sft_probes.get(task, [])]
        entry["sft_bottleneck"] = _mean([r["probes"]["bottleneck"]["accuracy"] for r in sft
                                         if "bottleneck" in r["probes"]]) if sft else None
        tasks[task] = entry
    means = {
        "accuracy": {name: _mean([t["accuracy"][name] for t in tasks.values()]) for name, _ in PROBE_COLUMNS},
        "random": _mean([t["random"] for t in tasks.values()]),
        "answer_to_latent": _mean([t["answer_to_latent"] for t in tasks.values()]),
        "answer_to_image": _mean([t["answer_to_image"] for t in tasks.values()]),
        "sft_bottleneck": _mean([t["sft_bottleneck"] for t in tasks.values()]),
    }
    return {"tasks": tasks, "mean": means}


def probes_markdown(probes: dict[str, Any], limit: int | None, control: dict[str, Any] | None = None) -> list[str]:
    has_sft = any(t["sft_bottleneck"] is not None for t in probes["tasks"].values())
    header = ["Task", *(["Run"] if control else []), *(label for _, label in PROBE_COLUMNS)]
    header += ["Direct SFT, bottleneck"] if has_sft else []
    header += ["Random", "answer→latent attn.", "answer→image attn."]
    records = f"the first {limit} test records of each task" if limit else "the test records"
    lines = [
        "## Probes (Sec. 4.4.1)",
        "",
        f"LIVR evaluated four ways on {records} (accuracy, %; mean over seeds): as trained; with its "
        "latent tokens removed from the prompt (does it rely on them?); under the bottleneck mask at "
        "test, where the answer sees the image only through the latents (do they carry it?); and "
        "both (no image pathway left: should fall to chance)."
        + (" Direct SFT under the bottleneck has no image pathway either: a text-only baseline." if has_sft else "")
        + (" The latents-only control (the same K latents, every epoch under the standard mask) is "
           "probed the same way: the paper's contrast is LIVR's latents carrying the image under the "
           "bottleneck, the control's not." if control else ""),
        "Attention: mean share of the answer tokens' attention on the latent / image tokens "
        "(over heads, layers and answer positions).",
        "",
        "| " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * (len(header) - 1),
    ]

    def row(label: str, t: dict[str, Any], run: str | None) -> str:
        cells = [_pct(t["accuracy"][name]) for name, _ in PROBE_COLUMNS]
        cells += [_pct(t["sft_bottleneck"])] if has_sft else []
        cells += [_pct(t["random"]),
                  "–" if t["answer_to_latent"] is None else f"{t['answer_to_latent']:.4f}",
                  "–" if t["answer_to_image"] is None else f"{t['answer_to_image']:.4f}"]
        return "| " + " | ".join([label, *([run] if run else []), *cells]) + " |"

    keys = [*probes["tasks"], *(["Mean"] if len(probes["tasks"]) > 1 else [])]
    for key in keys:
        label = TASK_LABELS.get(key, key)
        t = probes["mean"] if key == "Mean" else probes["tasks"][key]
        lines.append(row(label, t, "LIVR" if control else None))
        if control:
            c = control["mean"] if key == "Mean" else control["tasks"].get(key)
            if c is not None:
                lines.append(row(label, {**c, "sft_bottleneck": None}, "latents-only"))
    return lines + [""]


def probe_sentence(probes: dict[str, Any], num_latents: int, control: dict[str, Any] | None = None) -> str:
    m = probes["mean"]
    a = m["accuracy"]
    text = (f"Probes (LIVR, mean over tasks): {_pct(a['none'])} as trained, {_pct(a['remove_latents'])} "
            f"with the latents removed, {_pct(a['bottleneck'])} under the bottleneck at test, "
            f"{_pct(a['bottleneck_remove_latents'])} with no image pathway (chance {_pct(m['random'])})")
    if m["answer_to_latent"] is not None:
        text += f"; answers put {100 * m['answer_to_latent']:.1f}% of their attention on the {num_latents} latents"
    if control:
        c = control["mean"]["accuracy"]
        text += (f". Latents-only: {_pct(c['none'])} as trained, {_pct(c['remove_latents'])} latents removed, "
                 f"{_pct(c['bottleneck'])} under the bottleneck")
    return text + "."


# ----------------------------------------------------------------------------- ablations


def ablation_summary(runs: dict[str, dict[str, list[Path]]], probes: dict[str, dict[str, list[Path]]],
                     fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per run (livr and each ablation): test accuracy per task (mean ± std over seeds) and the
    mean over tasks (std: the spread of the per-seed means), as in Table 1; for runs with latents
    the probes, mean over tasks and seeds. Arguments map run -> task -> folders (one per seed)."""
    out: dict[str, Any] = {}
    for name, tasks in runs.items():
        cells, mean = seed_cells(collect([f for folders in tasks.values() for f in folders]), list(tasks))
        entry: dict[str, Any] = {"fields": fields.get(name, {}), "tasks": cells, "mean": mean, "probes": None}
        if name in probes:
            results = [json.loads((f / PROBE_FILE).read_text()) for folders in probes[name].values()
                       for f in folders]
            entry["probes"] = {**_probe_means(results), "random": _mean([r.get("random_accuracy") for r in results])}
        out[name] = entry
    return out


def ablations_markdown(summary: dict[str, Any], tasks: list[str]) -> list[str]:
    def describe(f: dict[str, Any]) -> str:
        if f.get("method") == "lvr":  # LVR: its step budget instead of latents and stages
            return (f"lvr, {f.get('lvr_steps', 8)} latent steps, {f.get('stage2_epochs', 0)} epochs"
                    + (f", exit {f['lvr_exit']}" if f.get("lvr_exit", "fixed") != "fixed" else ""))
        if f.get("method") == "mirage":  # Mirage: its own K (mirage_latents), helper-image targets
            return (f"mirage, K={f.get('mirage_latents', 4)}, "
                    f"{f.get('stage1_epochs', 0)}+{f.get('stage2_epochs', 0)} epochs")
        return (f"{f.get('method', 'livr')}, K={f.get('num_latents', 0)}, "
                f"{f.get('stage1_epochs', 0)}+{f.get('stage2_epochs', 0)} epochs"
                + (f", stage-1 mask {f['stage1_mask']}" if f.get("stage1_mask") else ""))

    header = ["Run", "Setting", *(TASK_LABELS.get(t, t) for t in tasks), "Mean"]
    lines = ["## Ablations (Tables 3 and 4)", "",
             "Test accuracy (%), mean ± standard deviation over seeds; Mean: over tasks per seed, then "
             "over seeds. `livr` is the main LIVR run.", "",
             "| " + " | ".join(header) + " |", "| --- | --- |" + " ---: |" * (len(header) - 2)]
    for name, e in summary.items():
        cells = [format_cell(e["tasks"].get(t), "method") for t in tasks] + [format_cell(e["mean"], "method")]
        lines.append("| " + " | ".join([name, describe(e["fields"]), *cells]) + " |")
    probed = {name: e for name, e in summary.items() if e["probes"]}
    if probed:
        lines += ["", "Probes of the runs with latents (accuracy %, mean over tasks and seeds):", "",
                  "| Run | " + " | ".join(label for _, label in PROBE_COLUMNS) + " | Random | answer→latent attn. |",
                  "| --- |" + " ---: |" * (len(PROBE_COLUMNS) + 2)]
        for name, e in probed.items():
            p = e["probes"]
            att = "–" if p["answer_to_latent"] is None else f"{p['answer_to_latent']:.4f}"
            lines.append("| " + " | ".join([name, *(_pct(p["accuracy"][k]) for k, _ in PROBE_COLUMNS),
                                             _pct(p["random"]), att]) + " |")
    return lines + [""]


# ----------------------------------------------------------------------------- table 1


def _rows(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Random Choice row and the block's rows of the base model, by method."""
    rows = {"random": table["random"]}
    for block in table["blocks"]:
        for row in block["rows"]:
            if row["kind"] == "method" and row["probe"] == "none" and not row["multi_task"]:
                rows.setdefault(row["method"], row)
            elif row["kind"] == "delta":
                rows.setdefault("delta", row)
    return rows


def compact_table(table: dict[str, Any]) -> list[str]:
    """Random Choice, Zero-shot, Direct SFT and LIVR as fixed-width text, percentages."""
    tasks = table["tasks"]
    rows = _rows(table)
    labels = [table["task_labels"][t] for t in tasks] + ["Mean"]
    widths = [max(6, len(label)) for label in labels]
    lines = ["".ljust(14) + "  ".join(label.rjust(w) for label, w in zip(labels, widths))]
    for key, name in (("random", "Random Choice"), ("zero_shot", "Zero-shot"), ("sft", "Direct SFT"),
                      ("livr", "LIVR")):
        row = rows.get(key)
        if row is None:
            continue
        values = [row["cells"].get(t, {}).get("mean") for t in tasks] + [(row["mean"] or {}).get("mean")]
        lines.append(name.ljust(14) + "  ".join(_pct(v).rjust(w) for v, w in zip(values, widths)))
    return lines


def _seed_values(cell: dict[str, Any]) -> tuple[list[float], int | None]:
    examples = [e for e in cell.get("examples") or [] if e]
    return list(cell["values"]), (min(examples) if examples else None)


def comparisons(table: dict[str, Any]) -> dict[str, Any] | None:
    """LIVR against Direct SFT per task and on the mean over tasks, each with its noise
    (`livr.analysis.stats.compare`), and each method against chance (the 95% Wilson interval of
    its accuracy pooled over seeds lies above the Random Choice row)."""
    rows = _rows(table)
    sft, livr = rows.get("sft"), rows.get("livr")
    if sft is None or livr is None:
        return None
    tasks = [t for t in table["tasks"] if t in sft["cells"] and t in livr["cells"]]
    if not tasks:
        return None
    out: dict[str, Any] = {"tasks": {}, "above_chance": {}}
    for t in tasks:
        (a, n), (b, _) = _seed_values(livr["cells"][t]), _seed_values(sft["cells"][t])
        out["tasks"][t] = compare(a, b, n)
    seeds = min(len(livr["cells"][t]["values"]) for t in tasks)
    per_seed = {key: [statistics.fmean(row["cells"][t]["values"][i] for t in tasks) for i in range(seeds)]
                for key, row in (("livr", livr), ("sft", sft))}
    pooled_n = [_seed_values(livr["cells"][t])[1] for t in tasks]
    out["mean"] = compare(per_seed["livr"], per_seed["sft"], sum(pooled_n) if all(pooled_n) else None)
    for key, row in (("sft", sft), ("livr", livr)):
        above = []
        for t in tasks:
            values, n = _seed_values(row["cells"][t])
            chance = table["random"]["cells"].get(t, {}).get("mean")
            if n and chance is not None:
                low, _ = wilson(statistics.fmean(values) * n * len(values), n * len(values))
                above.append(low > chance)
        out["above_chance"][key] = (sum(above), len(above))
    return out


def interval_cell(cell: dict[str, Any] | None) -> str:
    """"64.50 [57.6–70.8]" (one seed: 95% Wilson interval of the test records) or
    "64.50 ± 1.20 (3 seeds)" (the seed spread)."""
    if not cell or not cell.get("values"):
        return "–"
    values, n = _seed_values(cell)
    mean = statistics.fmean(values)
    if len(values) >= 2:
        return f"{100 * mean:.2f} ± {100 * statistics.stdev(values):.2f} ({len(values)} seeds)"
    if not n:
        return f"{100 * mean:.2f}"
    low, high = wilson(round(mean * n), n)
    return f"{100 * mean:.2f} [{100 * low:.1f}–{100 * high:.1f}]"


def comparison_markdown(table: dict[str, Any]) -> list[str]:
    found = comparisons(table)
    if found is None:
        return []
    rows = _rows(table)
    tasks = table["tasks"]
    lines = ["## Accuracy with its noise", "",
             "Test accuracy (%) with its 95% interval (Wilson, over the test records) for one seed, or "
             "mean ± standard deviation over seeds.", "",
             "| Method | " + " | ".join(TASK_LABELS.get(t, t) for t in tasks) + " |",
             "| --- |" + " ---: |" * len(tasks)]
    for key, label in (("zero_shot", "Zero-shot"), ("sft", "Direct SFT"), ("livr", "LIVR")):
        if key in rows:
            lines.append(f"| {label} | " + " | ".join(interval_cell(rows[key]["cells"].get(t)) for t in tasks)
                         + " |")
    lines += ["", "## LIVR vs Direct SFT, with the noise", "",
             "Difference of test accuracy (points) ± its 95% half-width: binomial noise of the test "
             "records or the seed spread, whichever is larger (`livr.analysis.stats`). A difference "
             "is stated only where it is beyond that noise.", "",
             "| Task | LIVR − Direct SFT | verdict |", "| --- | ---: | --- |"]
    for t, d in [*found["tasks"].items(), ("mean", found["mean"])]:
        label = "Mean" if t == "mean" else TASK_LABELS.get(t, t)
        word = ("LIVR better" if d.diff > 0 else "Direct SFT better") if d.beyond_noise else \
            "no difference within noise"
        lines.append(f"| {label} | {100 * d.diff:+.2f} ± {100 * d.half_width:.2f} | {word} |")
    return lines + ["", verdict(table), ""]


def verdict(table: dict[str, Any]) -> str:
    """One or two sentences that state a difference only where it is beyond noise."""
    found = comparisons(table)
    if found is None:
        return "No LIVR / Direct SFT pair to compare."
    text = found["mean"].text("LIVR", "Direct SFT") + " on the mean over tasks"
    beyond = {t: d for t, d in found["tasks"].items() if d.beyond_noise}
    if len(found["tasks"]) > 1:
        if beyond:
            parts = [f"{TASK_LABELS.get(t, t)} {100 * d.diff:+.2f}" for t, d in beyond.items()]
            text += f"; per task, beyond noise: {', '.join(parts)}"
        else:
            text += "; no task differs beyond noise"
    chance = "; ".join(f"{name} above chance on {k} of {n} task{'s' if n != 1 else ''}"
                       for name, (k, n) in (("Direct SFT", found["above_chance"]["sft"]),
                                            ("LIVR", found["above_chance"]["livr"])))
    return text + f". {chance} (95% interval above chance)."


# ----------------------------------------------------------------------------- the files


def duration(seconds: float) -> str:
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _epochs(n: int) -> str:
    return f"{n} epoch{'s' if n != 1 else ''}"


def build_report(*, settings: dict[str, Any], out: Path, table_inputs: list[Path],
                 livr_probes: dict[str, list[Path]], sft_probes: dict[str, list[Path]],
                 attention_maps: list[Path], compute_seconds: float,
                 ablations: dict[str, dict[str, list[Path]]] | None = None,
                 ablation_probes: dict[str, dict[str, list[Path]]] | None = None,
                 ablation_fields: dict[str, dict[str, Any]] | None = None,
                 control_probes: dict[str, list[Path]] | None = None) -> tuple[str, dict[str, Any], str]:
    """(report.md text, report.json data, summary.txt text)."""
    table = build_table(collect(table_inputs))
    ablation = ablation_summary(ablations, ablation_probes or {}, ablation_fields or {}) if ablations else None
    probes = probe_summary(livr_probes, sft_probes) if livr_probes else None
    control = probe_summary(control_probes, {}) if control_probes else None
    seeds = settings["seeds"]
    sizes = f"{settings['train_size']} / {settings['val_size']} / {settings['test_size']}"
    md = [
        "# livr demo",
        "",
        f"Base model `{settings['model']}`; tasks {', '.join(table['tasks'])}, each fine-tuned on its own; "
        f"train / validation / test records per task {sizes}; seed{'s' if len(seeds) > 1 else ''} "
        f"{', '.join(map(str, seeds))}. Direct SFT: {_epochs(settings['stage1_epochs'] + settings['stage2_epochs'])}"
        f"; LIVR: {_epochs(settings['stage1_epochs'])} under the bottleneck mask, then "
        f"{settings['stage2_epochs']} standard, with K={settings['num_latents']} latent tokens; learning "
        f"rate {settings['learning_rate']:g}, checkpoint chosen by validation accuracy.",
        "",
        to_markdown(table).replace("# Results", "## Results (Table 1 layout)", 1)
        .replace("\n## Inputs\n", "\n### Inputs\n", 1).rstrip(),
        "",
    ]
    md += comparison_markdown(table)
    if probes:
        md += probes_markdown(probes, settings.get("probe_limit"), control)
    if ablation:
        md += ablations_markdown(ablation, table["tasks"])
    if attention_maps:
        md += ["## Latent-to-image attention maps (Fig. 3)", ""]
        md += [f"- [{p.relative_to(out).parent}]({p.relative_to(out)})" for p in attention_maps]
        md.append("")
    md += [f"Computing time: {duration(compute_seconds)} (all steps, over every call of `livr demo`).", ""]

    data = {**table, "demo": {"settings": settings, "compute_seconds": round(compute_seconds, 2)},
            "probes": probes, "probes_latents_only": control,
            "ablations": [{"run": name, **e} for name, e in ablation.items()] if ablation else None,
            "attention_maps": [str(p) for p in attention_maps]}

    summary = [f"livr demo: {settings['model']}, {len(table['tasks'])} task(s), "
               f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}; test accuracy (%):"]
    summary += ["  " + line for line in compact_table(table)]
    summary.append(verdict(table))
    if probes:
        summary.append(probe_sentence(probes, settings["num_latents"], control))
    files = f"Report: {out / 'report.md'} (and report.json)"
    if attention_maps:
        files += f"; attention maps: {out / 'attention'}/*/*/index.html"
    summary.append(files + ".")
    summary.append(f"Computing time: {duration(compute_seconds)}.")
    return "\n".join(md) + "\n", data, "\n".join(summary) + "\n"
