"""`livr demo` end to end on a random-init tiny model: the report, reuse of finished steps, resume
of an interrupted training, redoing a deleted result, and the errors that must come before any work.

One demo folder is made once for the module (interrupted in LIVR's stage 2 on the second task, then
completed); the tests read it, and those that change it leave it complete with the same settings.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import yaml

TINY = {
    "tasks": ["counting", "localization"],
    "train_size": 4, "val_size": 2, "test_size": 2, "image_size": 56,
    "num_latents": 4, "stage1_epochs": 1, "stage2_epochs": 1,
    "learning_rate": 1e-3, "batch_size": 4, "warmup_ratio": 0,
    "eval_batch_size": 4, "max_new_tokens": 2, "probe_limit": 2, "attention_examples": 1,
    "threads": 1, "jobs": 1, "training": {"logging_steps": 1}
}
MODEL = "tiny:qwen2_5_vl"


def write_config(folder: Path, name: str = "tiny.yaml", **changes) -> str:
    path = folder / name
    path.write_text(yaml.safe_dump({**TINY, **changes}, sort_keys=False))
    return str(path)


def call(*argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `livr demo ARGV`, in this process."""
    from livr.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["demo", *argv])
    return rc, out.getvalue(), err.getvalue()


def step_lines(stderr: str) -> dict[str, str]:
    """Progress lines by step label: 'reused' or 'ran'."""
    found = {}
    for line in stderr.splitlines():
        if line.startswith("[") and "] " in line:
            label = line.split("] ", 1)[1]
            if label.endswith(": done before, reused"):
                found[label.removesuffix(": done before, reused")] = "reused"
            elif " ... " in label:
                found[label.split(" ... ", 1)[0]] = "ran"
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A finished demo folder, made in two calls: the first is interrupted in LIVR's stage 2 on
    localization (as Ctrl-C would), the second completes it."""
    from livr.training import run as training_run

    folder = tmp_path_factory.mktemp("demo")
    config = write_config(folder)
    out = folder / "out"
    original = training_run._Session._run_stage

    def interrupted(self, stage, *args, **kwargs):
        if stage == 2 and self.config.method == "livr" and self.config.tasks == ["localization"]:
            raise KeyboardInterrupt
        return original(self, stage, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training_run._Session, "_run_stage", interrupted)
        first = call("--config", config, "--model", MODEL, "--out", str(out), "--quiet")
    report_after_first = (out / "report.md").exists()
    second = call("--config", config, "--model", MODEL, "--out", str(out), "--quiet")
    return {"out": out, "config": config, "first": first, "second": second,
            "report_after_first": report_after_first}


def test_report_has_the_table_1_rows_and_the_probes(demo):
    rc, stdout, _ = demo["second"]
    assert rc == 0
    out = demo["out"]
    md = (out / "report.md").read_text()
    for row in ("| Random Choice |", "| Zero-shot |", "| Direct SFT |", "| **LIVR** |", "| Δ vs SFT |"):
        assert row in md
    assert "## Probes (Sec. 4.4.1)" in md and "| Counting |" in md and "| Local. |" in md
    data = json.loads((out / "report.json").read_text())
    assert data["tasks"] == ["counting", "localization"]
    methods = [r["method"] for r in data["blocks"][0]["rows"] if r["kind"] == "method"]
    assert methods == ["zero_shot", "sft", "livr"]
    assert set(data["probes"]["tasks"]) == {"counting", "localization"}
    for task in ("counting", "localization"):
        probe = data["probes"]["tasks"][task]
        assert set(probe["accuracy"]) == {"none", "remove_latents", "bottleneck", "bottleneck_remove_latents"}
        assert probe["answer_to_latent"] > 0
        assert (out / "attention" / task / "livr-seed42" / "index.html").is_file()
    assert set(data["probes_latents_only"]["tasks"]) == {"counting", "localization"}
    assert "| Counting | latents-only |" in md and "| Counting | LIVR |" in md
    assert "## LIVR vs Direct SFT, with the noise" in md
    summary = (out / "summary.txt").read_text()
    assert 5 <= len(summary.splitlines()) <= 10
    assert "Latents-only:" in summary
    assert summary in stdout and "LIVR" in summary and "report.md" in summary


def test_interrupted_demo_is_completed_by_the_next_call(demo):
    rc, _, err = demo["first"]
    assert rc == 130 and "interrupted" in err
    assert not demo["report_after_first"]
    lines = step_lines(demo["second"][2])
    # what the first call finished is reused; the interrupted training continues from stage 1
    assert lines["train sft on counting (seed 42)"] == "reused"
    assert lines["train livr on counting (seed 42)"] == "reused"
    assert lines["train sft on localization (seed 42)"] == "reused"
    assert lines["train livr on localization (seed 42)"] == "ran"
    assert "resuming stage 1" in (demo["out"] / "demo.log").read_text()
    assert (demo["out"] / "runs" / "localization" / "livr-seed42" / "metrics.json").is_file()


def test_running_again_does_no_work(demo):
    out = demo["out"]
    markers = sorted(out.glob("runs/*/*/metrics.json")) + sorted(out.glob("probes/*/*/probe.json"))
    before = {p: p.stat().st_mtime_ns for p in markers}
    rc, stdout, err = call("--config", demo["config"], "--model", MODEL, "--out", str(out), "--quiet")
    assert rc == 0
    lines = step_lines(err)
    # per task: data, zero-shot, sft, livr, latents-only, probes of livr / sft / latents-only, maps
    assert len(lines) == 19 and set(lines.values()) == {"reused"}
    assert {p: p.stat().st_mtime_ns for p in markers} == before
    assert "0 step(s) run" in stdout


def test_a_deleted_result_is_redone_with_what_depends_on_it(demo):
    out = demo["out"]
    (out / "runs" / "counting" / "sft-seed42" / "metrics.json").unlink()
    rc, _, err = call("--config", demo["config"], "--model", MODEL, "--out", str(out), "--quiet")
    assert rc == 0
    ran = {label for label, state in step_lines(err).items() if state == "ran"}
    assert ran == {"train sft on counting (seed 42)", "probe sft under the bottleneck on counting (seed 42)",
                   "write the report"}
    assert (out / "runs" / "counting" / "sft-seed42" / "metrics.json").is_file()


def test_two_jobs_give_the_same_results_as_one(demo, tmp_path):
    """jobs: 2 runs steps side by side in worker processes (both data steps start before either
    ends) and, at the same threads per step, every result equals the one-job demo's."""
    config = write_config(tmp_path, jobs=2)
    out = tmp_path / "out"
    rc, stdout, err = call("--config", config, "--model", MODEL, "--out", str(out), "--quiet")
    assert rc == 0, err
    lines = [line for line in err.splitlines() if line.startswith("[")]
    assert {line.split("] ")[1] for line in lines[:2]} == {"generate counting data ...",
                                                          "generate localization data ..."}
    assert len([line for line in lines if ": done in " in line]) == 18  # the report: in this process
    assert "19 step(s) run, 0 reused" in stdout
    for path in sorted(demo["out"].glob("runs/*/*/metrics.json")) + sorted(demo["out"].glob("probes/*/*/probe.json")):
        twin = out / path.relative_to(demo["out"])
        mine, theirs = json.loads(twin.read_text()), json.loads(path.read_text())
        for volatile in ("output_dir", "data", "model", "run", "date"):
            mine.pop(volatile, None), theirs.pop(volatile, None)
        assert mine == theirs, path.relative_to(demo["out"])
    assert (out / "report.md").is_file()


def test_a_changed_setting_is_an_error_unless_overwrite(demo, tmp_path):
    out = demo["out"]
    stamps = {p: p.stat().st_mtime_ns for p in (out / "steps").iterdir()}
    changed = write_config(tmp_path, learning_rate=2e-3)
    rc, _, err = call("--config", changed, "--model", MODEL, "--out", str(out), "--quiet")
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert "other settings" in err and "learning_rate" in err and "--overwrite" in err
    assert {p: p.stat().st_mtime_ns for p in (out / "steps").iterdir()} == stamps

    # --overwrite redoes only the steps whose settings changed (here: the attention maps)
    more_maps = write_config(tmp_path, "maps.yaml", attention_examples=2)
    rc, _, err = call("--config", more_maps, "--model", MODEL, "--out", str(out), "--quiet", "--overwrite")
    assert rc == 0
    ran = {label for label, state in step_lines(err).items() if state == "ran"}
    assert ran == {"draw attention maps of livr on counting (seed 42)",
                   "draw attention maps of livr on localization (seed 42)", "write the report"}
    maps = json.loads((out / "attention" / "counting" / "livr-seed42" / "attention.json").read_text())
    assert len(maps["examples"]) == 2
    rc, _, _ = call("--config", demo["config"], "--model", MODEL, "--out", str(out), "--quiet", "--overwrite")
    assert rc == 0  # back to the module's settings


def test_unknown_task_is_refused_before_any_work(tmp_path):
    out = tmp_path / "out"
    rc, _, err = call("--tasks", "counting,colour_naming", "--model", MODEL, "--out", str(out))
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert "colour_naming" in err and "known tasks" in err and "localization" in err
    assert not out.exists()


@pytest.mark.parametrize("where", ["under_a_file", "a_file"])
def test_unwritable_out_is_refused_before_any_work(tmp_path, where):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder")
    out = blocker / "demo" if where == "under_a_file" else blocker
    rc, _, err = call("--config", write_config(tmp_path), "--model", MODEL, "--out", str(out))
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and str(out) in err
    assert blocker.read_text() == "not a folder"


def test_presets_and_config_checks(tmp_path):
    from livr.data.tasks import TASK_NAMES, TASKS
    from livr.demo.config import load_demo_config
    from livr.errors import ConfigError

    default = load_demo_config()
    assert len(default.tasks) >= 3
    kinds = {(TASKS[t].answer_kind, TASKS[t].num_images > 1) for t in default.tasks}
    assert len(kinds) >= 3  # open-ended, one-image choice, multi-image choice
    assert default.sft_epochs == default.stage1_epochs + default.stage2_epochs
    assert default.level == "easy" and default.latents_only
    assert default.train_size >= 2000  # stage 1 only memorises from a few hundred records
    full = load_demo_config(full=True)
    assert full.tasks == list(TASK_NAMES) and full.seeds == [42, 43, 44]
    assert full.train_size > default.train_size
    # flags win over the file, which wins over the preset
    path = write_config(tmp_path, seeds=[1, 2])
    config = load_demo_config(path=path, overrides={"seeds": "7"})
    assert config.seeds == [7] and config.train_size == TINY["train_size"]

    with pytest.raises(ConfigError, match="unknown key 'train_sise'.*train_size"):
        load_demo_config(overrides={"train_sise": 3})
    with pytest.raises(ConfigError, match="training: learning_rate is set by the demo"):
        load_demo_config(overrides={"training": {"learning_rate": 1.0}})
    with pytest.raises(ConfigError, match=r"lora_dropout must be in \[0, 1\)"):
        load_demo_config(overrides={"training": {"lora_dropout": 1.5}})
    with pytest.raises(ConfigError, match="lora_r must be at least 1, got 0"):
        load_demo_config(overrides={"lora_r": "0"})
    with pytest.raises(ConfigError, match="lora_r: unknown task 'countin'"):
        load_demo_config(overrides={"lora_r": {"countin": 8}})
    ranks = load_demo_config(overrides={"lora_r": {"counting": 8}})
    assert [ranks.lora_r_for(t) for t in ("counting", "jigsaw")] == [8, 16]
    fields = ranks.training_overrides("livr", "counting", 42, "d", "o", True)
    assert (fields["lora_r"], fields["lora_alpha"]) == (8, 16)
    assert load_demo_config(overrides={"lora_r": "32"}).lora_r_for("jigsaw") == 32
    with pytest.raises(ConfigError, match="training: lora_r is set by the demo"):
        load_demo_config(overrides={"training": {"lora_r": 8}})
    with pytest.raises(ConfigError, match="--seeds: expects integers"):
        load_demo_config(overrides={"seeds": "4,x"})
    with pytest.raises(ConfigError, match="level: task 'counting' has no level 'hardest'.*paper"):
        load_demo_config(overrides={"level": "hardest"})
    with pytest.raises(ConfigError, match="level: jigsaw is not among the demo's tasks"):
        load_demo_config(overrides={"level": {"jigsaw": "easy"}})
    per_task = load_demo_config(overrides={"level": {"counting": "medium"}})
    assert [per_task.level_for(t) for t in per_task.tasks] == ["medium", "paper", "paper"]


def test_ablation_runs_are_trained_probed_and_tabled(tmp_path):
    ablations = {"latents_only": {"method": "latents_only"}, "mask_only": {"method": "mask_only"},
                 "k2": {"method": "livr", "num_latents": 2}}
    path = write_config(tmp_path, tasks=["counting"], attention_examples=0, probe_sft=False,
                        ablations=ablations)
    rc, _, err = call("--model", MODEL, "--config", path, "--out", str(tmp_path / "demo"), "--quiet")
    assert rc == 0, err
    out = tmp_path / "demo"
    for name in ablations:
        assert (out / "runs" / "counting" / f"{name}-seed42" / "metrics.json").is_file()
    # probed: the runs with latents, not mask_only
    assert (out / "probes" / "counting" / "latents_only-seed42" / "probe.json").is_file()
    assert (out / "probes" / "counting" / "k2-seed42" / "probe.json").is_file()
    assert not (out / "probes" / "counting" / "mask_only-seed42").exists()
    rows = json.loads((out / "report.json").read_text())["ablations"]
    assert [r["run"] for r in rows] == ["livr", *ablations]
    report = {r["run"]: r for r in rows}
    assert report["k2"]["fields"]["num_latents"] == 2 and report["mask_only"]["probes"] is None
    metrics = json.loads((out / "runs" / "counting" / "k2-seed42" / "metrics.json").read_text())
    assert report["k2"]["tasks"]["counting"]["mean"] == metrics["test_accuracy"]
    md = (out / "report.md").read_text()
    assert "## Ablations (Tables 3 and 4)" in md and "| k2 | livr, K=2, 1+1 epochs |" in md


def demo_with_ablations(tmp_path, task: str, ablations: dict):
    """The demo on one task with `ablations` beside LIVR (no control, probes of SFT or maps); its
    output folder."""
    path = write_config(tmp_path, tasks=[task], attention_examples=0, probe_sft=False,
                        latents_only=False, ablations=ablations)
    rc, _, err = call("--model", MODEL, "--config", path, "--out", str(tmp_path / "demo"), "--quiet")
    assert rc == 0, err
    return tmp_path / "demo"


def test_an_lvr_run_beside_livr_in_the_demo(tmp_path):
    out = demo_with_ablations(tmp_path, "localization", {"lvr2": {"method": "lvr", "lvr_steps": 2}})
    metrics = json.loads((out / "runs" / "localization" / "lvr2-seed42" / "metrics.json").read_text())
    assert metrics["method"] == "lvr" and "train_lvr_reconstruction" in metrics["history"][0]
    assert not (out / "probes" / "localization" / "lvr2-seed42").exists()  # LIVR's probes do not apply
    md = (out / "report.md").read_text()
    assert "| lvr2 | lvr, 2 latent steps, 2 epochs |" in md


def test_a_mirage_run_beside_livr_in_the_demo(tmp_path):
    """method mirage as an ablation: both stages (stage 1 with its cosine term), its own K, its
    row in the report; LIVR's probes do not apply to it."""
    out = demo_with_ablations(tmp_path, "jigsaw", {"mirage": {"method": "mirage", "mirage_latents": 2}})
    metrics = json.loads((out / "runs" / "jigsaw" / "mirage-seed42" / "metrics.json").read_text())
    assert metrics["method"] == "mirage" and [h["stage"] for h in metrics["history"]] == [1, 2]
    assert "train_mirage_cosine" in metrics["history"][0]
    assert not (out / "probes" / "jigsaw" / "mirage-seed42").exists()
    md = (out / "report.md").read_text()
    assert "| mirage | mirage, K=2, 1+1 epochs |" in md


def test_bad_ablations_are_refused(tmp_path):
    from livr.demo.config import load_demo_config
    from livr.errors import ConfigError

    with pytest.raises(ConfigError, match="ablations: x: method 'nope' is unknown"):
        load_demo_config(overrides={"ablations": {"x": {"method": "nope"}}})
    with pytest.raises(ConfigError, match="ablations: x: seed is set by the demo itself"):
        load_demo_config(overrides={"ablations": {"x": {"method": "livr", "seed": 1}}})
    with pytest.raises(ConfigError, match="run name 'sft'"):
        load_demo_config(overrides={"ablations": {"sft": {"method": "sft"}}})
    with pytest.raises(ConfigError, match="the k0 runs: .*num_latents"):
        load_demo_config(overrides={"ablations": {"k0": {"method": "livr", "num_latents": 0}}})


def test_the_smoke_run_is_now_livr_smoke():
    from livr.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["smoke", "--help"])
    assert exit_info.value.code == 0


def test_parallel_steps_start_with_the_longest_chain(tmp_path):
    """With several jobs the ready step with the most work ahead starts first: the default demo
    starts the three-image task's trainings before counting's, so the last training left running
    alone is a short one (plan order ran art_style's three trainings last, the longest tail)."""
    from livr.demo.config import load_demo_config
    from livr.demo.run import Demo
    from livr.demo.steps import Step, priorities

    def step(key, cost, deps=()):
        return Step(key, key, tmp_path / key, (), {}, lambda s, f: None, deps=deps, cost=cost)

    chain = [step("a", 1), step("b", 10, ("a",)), step("c", 5), step("d", 1, ("c",)), step("e", 2, ("b",))]
    assert priorities(chain) == {"a": 13, "b": 12, "c": 6, "d": 1, "e": 2}

    demo = Demo(load_demo_config(), tmp_path / "out")
    steps = demo.plan()
    priority = priorities(steps)
    trainings = sorted((s for s in steps if s.key.startswith("train-")), key=lambda s: -priority[s.key])
    assert [s.key.split("-")[2] for s in trainings] == ["art_style"] * 3 + ["localization"] * 3 + ["counting"] * 3
    # the first step of all: the data that the longest trainings read
    assert max(steps, key=lambda s: priority[s.key]).key == "data-art_style"
