"""`livr report`: Table 1 layout from fake run folders and eval folders (no model is trained)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livr.analysis.report import build_table, collect, to_markdown, write_report
from livr.cli.main import main
from livr.errors import ConfigError

BASE = "tiny:qwen2_5_vl"


def make_run(root: Path, name: str, method: str, accuracy: dict[str, float], seed: int = 42,
             model: str = BASE, test: bool = True, n: int = 4) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"# livr train ...\nmethod: {method}\nmodel: {model}\nseed: {seed}\n")
    metrics = {"method": method, "model": model, "tasks": list(accuracy), "num_latents": 0,
               "selection": "best", "best_val_accuracy": 0.5, "history": [],
               "num_examples": {"train": 8, "validation": 4, "test": n * len(accuracy) if test else 0}}
    if test:
        metrics["test_accuracy"] = sum(accuracy.values()) / len(accuracy)
        metrics["test_accuracy_per_task"] = accuracy
        rows = [{"id": f"{t}{i}", "task": t, "answer": "A", "prediction": "A", "correct": True}
                for t in accuracy for i in range(n)]
        (run / "test_predictions.json").write_text(json.dumps(rows))
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def make_eval(root: Path, name: str, method: str, accuracy: dict[str, float], seed: int | None = None,
              probe: str = "none", model: str = BASE, random: dict[str, float] | None = None,
              split: str = "test") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    data = {"livr_eval": 1, "model": model if method == "zero_shot" else f"runs/{name}",
            "model_kind": "tiny" if method == "zero_shot" else "run", "method": method,
            "base_model": model, "seed": seed, "split": split, "probe": probe, "n": 10 * len(accuracy),
            "per_task": accuracy, "per_task_n": {t: 10 for t in accuracy},
            "random_per_task": random or {}}
    (folder / "eval.json").write_text(json.dumps(data))
    (folder / "predictions.jsonl").write_text("")
    return folder


def rows_of(table: dict, block: int = 0) -> list[dict]:
    return table["blocks"][block]["rows"]


def row(table: dict, label: str, block: int = 0) -> dict:
    (found,) = [r for r in rows_of(table, block) if r["label"] == label]
    return found


def md_line(markdown: str, label: str) -> list[str]:
    """The cells of the markdown table row whose first cell is `label`."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no row {label!r} in\n{markdown}")


def test_table1_rows_order_cells_mean_and_delta(tmp_path):
    inputs = [
        make_run(tmp_path, "loc-livr", "livr", {"localization": 0.7}),
        make_run(tmp_path, "jig-livr", "livr", {"jigsaw": 0.8}),
        make_run(tmp_path, "loc-sft", "sft", {"localization": 0.6}),
        make_run(tmp_path, "jig-sft", "sft", {"jigsaw": 0.85}),
        make_run(tmp_path, "loc-mask", "mask_only", {"localization": 0.65}),
        make_eval(tmp_path, "zs", "zero_shot", {"jigsaw": 0.5, "localization": 0.55}),
    ]
    table = build_table(collect(inputs))
    assert table["tasks"] == ["jigsaw", "localization"]  # canonical order, not input order
    assert [r["label"] for r in rows_of(table)] == ["Zero-shot", "Direct SFT", "LIVR", "Δ vs SFT", "Mask only"]
    livr = row(table, "LIVR")
    assert livr["cells"]["localization"]["mean"] == pytest.approx(0.7)
    assert livr["cells"]["localization"]["examples"] == [4]
    assert livr["mean"]["mean"] == pytest.approx(0.75) and livr["mean"]["complete"]
    delta = row(table, "Δ vs SFT")
    assert delta["cells"]["localization"]["mean"] == pytest.approx(0.1)
    assert delta["cells"]["jigsaw"]["mean"] == pytest.approx(-0.05)
    assert delta["mean"]["mean"] == pytest.approx(0.025)

    md = to_markdown(table)
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| Method"))
    assert header == "| Method | Jigsaw | Local. | Mean |"
    assert lines.index(header) < next(i for i, line in enumerate(lines) if line.startswith("| Random Choice"))
    assert md_line(md, "**LIVR**") == ["80.00", "70.00", "75.00"]
    assert md_line(md, "Δ vs SFT") == ["(-5.00)", "(+10.00)", "(+2.50)"]
    assert md_line(md, "Mask only") == ["–", "65.00", "65.00†"]  # lacks jigsaw: mean over what it has
    assert "†" in md.split("## Inputs")[0].split("| Mask only")[1].split("\n", 1)[1]  # footnote present


def test_random_choice_from_evals_else_chance(tmp_path):
    only_runs = build_table(collect([
        make_run(tmp_path, "a", "sft", {"counting": 0.3, "relative_reflectance": 0.5, "vsp": 0.2}),
    ]))
    cells = only_runs["random"]["cells"]
    assert cells["counting"]["mean"] == pytest.approx(1 / 9)
    assert cells["relative_reflectance"]["mean"] == pytest.approx(1 / 3)
    assert "vsp" not in cells  # open answer space: blank
    assert md_line(to_markdown(only_runs), "Random Choice") == ["11.11", "33.33", "–", "22.22†"]

    with_eval = build_table(collect([
        tmp_path / "a",
        make_eval(tmp_path, "zs", "zero_shot", {"counting": 0.2}, random={"counting": 0.125, "vsp": 0.05}),
    ]))
    cells = with_eval["random"]["cells"]
    assert cells["counting"]["mean"] == 0.125 and cells["counting"]["from"] == "eval"
    assert cells["vsp"]["mean"] == 0.05
    assert cells["relative_reflectance"]["from"] == "chance"


def test_seeds_make_mean_plus_minus_sample_std(tmp_path):
    inputs = [make_run(tmp_path, f"{task}-livr-s{s}", "livr", {task: acc - shift}, seed=s)
              for s, acc in ((1, 0.6), (2, 0.7), (3, 0.8))
              for task, shift in (("jigsaw", 0.0), ("localization", 0.1))]
    inputs.append(make_eval(tmp_path, "zs", "zero_shot", {"jigsaw": 0.5}))
    table = build_table(collect(inputs))
    cell = row(table, "LIVR")["cells"]["jigsaw"]
    assert cell["n"] == 3 and cell["seeds"] == [1, 2, 3]
    assert cell["mean"] == pytest.approx(0.7)
    assert cell["std"] == pytest.approx(0.1)  # ddof=1: population std would be 0.0816
    mean = row(table, "LIVR")["mean"]
    assert mean["mean"] == pytest.approx(0.65) and mean["std"] == pytest.approx(0.1) and mean["n"] == 3
    md = to_markdown(table)
    assert md_line(md, "**LIVR**") == ["70.00 ± 10.00 (n=3)", "60.00 ± 10.00 (n=3)", "65.00 ± 10.00 (n=3)"]
    assert md_line(md, "Zero-shot") == ["50.00", "–", "50.00†"]
    assert "sample standard deviation (ddof=1)" in md


def test_multi_task_runs_are_their_own_rows(tmp_path):
    table = build_table(collect([
        make_run(tmp_path, "single", "livr", {"jigsaw": 0.7}),
        make_run(tmp_path, "multi", "livr", {"jigsaw": 0.6, "localization": 0.5}),
        make_run(tmp_path, "multi-sft", "sft", {"jigsaw": 0.5, "localization": 0.5}),
    ]))
    labels = [r["label"] for r in rows_of(table)]
    assert labels == ["LIVR", "Direct SFT (multi-task)", "LIVR (multi-task)", "Δ vs SFT"]
    assert rows_of(table)[-1]["cells"]["jigsaw"]["mean"] == pytest.approx(0.1)


def test_several_base_models_make_blocks(tmp_path):
    other = "Qwen/Qwen3-VL-4B-Instruct"
    table = build_table(collect([
        make_run(tmp_path, "a-sft", "sft", {"jigsaw": 0.5}),
        make_run(tmp_path, "b-livr", "livr", {"jigsaw": 0.9}, model=other),
        make_run(tmp_path, "b-sft", "sft", {"jigsaw": 0.8}, model=other),
        make_run(tmp_path, "a-livr", "livr", {"jigsaw": 0.6}),
    ]))
    assert [b["base_model"] for b in table["blocks"]] == [BASE, other]
    assert row(table, "Δ vs SFT", 0)["cells"]["jigsaw"]["mean"] == pytest.approx(0.1)
    assert row(table, "Δ vs SFT", 1)["cells"]["jigsaw"]["mean"] == pytest.approx(0.1)
    md = to_markdown(table)
    assert md.count("| Random Choice") == 1
    assert md.index(f"| *{BASE}*") < md.index(f"| *{other}*")


def test_probe_rows(tmp_path):
    table = build_table(collect([
        make_eval(tmp_path, "livr", "livr", {"jigsaw": 0.8}, seed=42),
        make_eval(tmp_path, "livr-bn", "livr", {"jigsaw": 0.6}, seed=42, probe="bottleneck"),
        make_eval(tmp_path, "livr-rm", "livr", {"jigsaw": 0.4}, seed=42, probe="remove_latents"),
        make_eval(tmp_path, "sft", "sft", {"jigsaw": 0.7}, seed=42),
    ]))
    assert [r["label"] for r in rows_of(table)] == [
        "Direct SFT", "LIVR", "Δ vs SFT", "LIVR (probe: remove_latents)", "LIVR (probe: bottleneck)"]
    assert row(table, "LIVR (probe: remove_latents)")["cells"]["jigsaw"]["mean"] == pytest.approx(0.4)
    assert row(table, "Δ vs SFT")["cells"]["jigsaw"]["mean"] == pytest.approx(0.1)  # probe rows not mixed in


def test_probe_folder_gives_a_row_per_probe(tmp_path):
    folder = tmp_path / "probes"
    for probe, acc in (("none", 0.8), ("remove_latents", 0.5)):
        make_eval(folder, probe, "livr", {"jigsaw": acc}, seed=7, probe=probe)
    (folder / "probe.json").write_text(json.dumps({"livr_eval": 1, "probes": {"none": {}, "remove_latents": {}}}))
    table = build_table(collect([folder]))
    assert [r["label"] for r in rows_of(table)] == ["LIVR", "LIVR (probe: remove_latents)"]
    assert row(table, "LIVR (probe: remove_latents)")["cells"]["jigsaw"]["mean"] == pytest.approx(0.5)
    assert len(collect([folder / "probe.json", folder / "none"])) == 2  # overlapping inputs count once


def test_conflicting_inputs_name_both(tmp_path):
    a = make_run(tmp_path, "a", "livr", {"jigsaw": 0.7})
    b = make_eval(tmp_path, "b", "livr", {"jigsaw": 0.6}, seed=42)
    with pytest.raises(ConfigError, match=r"(?s)a .*b/eval.json.*seed 42"):
        collect([a, b])
    assert len(collect([a, a / "metrics.json"])) == 1  # the same input twice is not a conflict


def test_bad_inputs(tmp_path):
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.yaml").write_text("seed: 1\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "other.json").write_text("{}")
    no_test = make_run(tmp_path, "no-test", "sft", {"jigsaw": 0.5}, test=False)
    cases = {
        tmp_path / "missing": "does not exist",
        tmp_path / "unfinished": "unfinished run",
        tmp_path / "empty": "neither a finished run folder",
        tmp_path / "other.json": "not a livr eval file",
        no_test: "no test accuracy",
    }
    for path, message in cases.items():
        with pytest.raises(ConfigError, match=message) as err:
            collect([path])
        assert str(path) in str(err.value)
    val = make_eval(tmp_path, "val", "sft", {"jigsaw": 0.5}, seed=1, split="validation")
    with pytest.raises(ConfigError, match="different splits"):
        collect([make_run(tmp_path, "r", "sft", {"jigsaw": 0.5}), val])


def test_write_report_writes_markdown_and_json(tmp_path):
    inputs = [make_run(tmp_path, "sft", "sft", {"jigsaw": 0.6}),
              make_eval(tmp_path, "livr", "livr", {"jigsaw": 0.7}, seed=42) / "eval.json"]
    out = write_report(inputs, tmp_path / "out" / "report.md")
    assert out == tmp_path / "out" / "report.md"
    md = out.read_text()
    assert md_line(md, "Δ vs SFT") == ["(+10.00)", "(+10.00)"]
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["tasks"] == ["jigsaw"]
    cell = data["blocks"][0]["rows"][1]["cells"]["jigsaw"]
    assert cell["mean"] == pytest.approx(0.7) and cell["sources"] == [str(inputs[1])]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "report.md"]  # no temp files
    with pytest.raises(ConfigError, match="markdown file"):
        write_report(inputs, tmp_path / "report.json")


def test_cli(tmp_path, capsys):
    run = make_run(tmp_path, "sft", "sft", {"jigsaw": 0.6})
    out = tmp_path / "t.md"
    assert main(["report", str(run), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert out.is_file() and out.with_suffix(".json").is_file()

    assert main(["report", str(run)]) == 0
    assert md_line(capsys.readouterr().out, "Direct SFT") == ["60.00", "60.00"]

    assert main(["report", str(run), str(tmp_path / "nope"), "--out", str(tmp_path / "x.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and err.startswith("livr report: error:")
    assert not (tmp_path / "x.md").exists()

    with pytest.raises(SystemExit) as exit_:
        main(["report"])  # no inputs: argparse usage error
    assert exit_.value.code == 2


@pytest.mark.parametrize("point", ["json", "markdown"])
def test_report_killed_mid_write_then_rerun_gives_the_same_bytes(point, tmp_path):
    """SIGKILL inside the atomic write of report.json (written first) or report.md, after the
    temporary is complete and before its rename: nothing incomplete under a final name; the same
    command again writes the bytes of an uninterrupted run and removes the temporary."""
    from livr.locks import is_lock_file
    from tests.faults import run_killed

    inputs = [str(make_run(tmp_path, "sft", "sft", {"jigsaw": 0.6})),
              str(make_eval(tmp_path, "livr", "livr", {"jigsaw": 0.7}, seed=42) / "eval.json")]
    assert main(["report", *inputs, "--quiet", "--out", str(tmp_path / "ref" / "t.md")]) == 0
    expected = {p.name: p.read_bytes() for p in (tmp_path / "ref").iterdir() if not is_lock_file(p.name)}

    out = tmp_path / "out"
    argv = ["report", *inputs, "--quiet", "--out", str(out / "t.md")]
    name = {"json": "t.json", "markdown": "t.md"}[point]
    run_killed(argv, tmp_path / "child", stall="livr.io:os.replace", match=f".{name}.tmp-")
    entries = sorted(p.name for p in out.iterdir() if not is_lock_file(p.name))
    published = [] if point == "json" else ["t.json"]
    assert [e for e in entries if not e.startswith(".")] == published  # t.json, if there, is complete
    assert published == [] or (out / "t.json").read_bytes() == expected["t.json"]
    [tmp] = [e for e in entries if e.startswith(".")]
    assert tmp.startswith(f".{name}.tmp-")

    assert main(argv) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir() if not is_lock_file(p.name)} == expected
