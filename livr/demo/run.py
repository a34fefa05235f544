"""`run_demo(config, out)`: plan the demo's steps, check everything, run what is not done yet.

The folder it fills:

    OUT/data/<task>/                        synthetic data, one folder per task (train, validation, test)
    OUT/zero_shot/<task>/                   `livr eval` of the base model (eval.json, predictions.jsonl)
    OUT/runs/<task>/{sft,livr}-seed<S>/     `livr train` runs (metrics.json, test_predictions.json, weights)
    OUT/probes/<task>/livr-seed<S>/         `livr probe`: the four probes and the attention read-out
    OUT/probes/<task>/sft-seed<S>/          Direct SFT under the bottleneck (if probe_sft)
    OUT/attention/<task>/livr-seed<S>/      latent-to-image attention maps (index.html, PNGs)
    OUT/report.md, report.json, summary.txt
    OUT/steps/<step>.json                   each step's settings and seconds (see livr.demo.steps)
    OUT/demo.log                            the tools' own output under --quiet

Order of checks, all before any work: the config (tasks, sizes, the training configs it implies),
the model name, that OUT can be written, and every step's stamp against today's settings.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, TextIO

from livr.demo.config import CONTROL, DemoConfig
from livr.demo.report import build_report, duration
from livr.demo.steps import Stamps, Step, classify, differences, priorities, remove
from livr.errors import ConfigError
from livr.io import atomic_dir, atomic_write_json, atomic_write_text

REPORT_KEY = "report"
SFT_PROBES = ("bottleneck",)  # without latents, the other probes repeat "none" or this one


def _record_cost(task: str) -> float:
    """Work of one pass over one record, in units of one image's tokens (the text is about one)."""
    from livr.data.tasks import get_task

    return get_task(task).num_images + 1.0


def _training_cost(task: str, records: int, epochs: int, lora_r: int) -> float:
    """Forward and backward (3 passes) over every record and epoch; LoRA adds about 2r/hidden to
    each adapted matmul (r/64 at livr-tiny's hidden size 128). Only the order of costs matters."""
    return 3.0 * records * max(epochs, 1) * _record_cost(task) * (1.0 + lora_r / 64)


def check_out(out: Path) -> None:
    """ConfigError naming OUT when it is a file, lies under a file, or cannot be written."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the demo's results")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason = err.strerror or err.__class__.__name__
        raise ConfigError(f"--out {out} cannot be written ({reason}); choose a folder you can write to") from None


def check_model(name: str) -> None:
    """ConfigError for a model name that names nothing loadable (cheap: no weights are read)."""
    from livr.models.loading import resolve_family

    resolve_family(name)


def _digest(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in paths}


class Progress:
    """One line per step on `stream`: "[4/15] train livr on counting (seed 42) ... 38 s"."""

    def __init__(self, stream: TextIO, total: int, quiet: bool):
        self.stream, self.total, self.quiet = stream, total, quiet

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def reused(self, index: int, label: str) -> None:
        self._write(f"[{index}/{self.total}] {label}: done before, reused\n")

    @contextlib.contextmanager
    def running(self, index: int, label: str) -> Iterator[None]:
        head = f"[{index}/{self.total}] {label}"
        self._write(f"{head} ... " if self.quiet else f"{head} ...\n")
        start = time.perf_counter()
        try:
            yield
        except KeyboardInterrupt:
            self._write(("" if self.quiet else f"{head}: ") + "interrupted; run the same command again "
                        "to continue from here\n")
            raise
        except BaseException:
            self._write("failed\n" if self.quiet else f"{head}: failed\n")
            raise
        seconds = duration(time.perf_counter() - start)
        self._write(f"{seconds}\n" if self.quiet else f"{head}: done in {seconds}\n")

    # with several jobs, steps finish out of order: one line when a step starts, one when it ends
    def started(self, index: int, label: str) -> None:
        self._write(f"[{index}/{self.total}] {label} ...\n")

    def finished(self, index: int, label: str, seconds: float) -> None:
        self._write(f"[{index}/{self.total}] {label}: done in {duration(seconds)}\n")

    def failed(self, index: int, label: str) -> None:
        self._write(f"[{index}/{self.total}] {label}: failed\n")

    def interrupted(self) -> None:
        self._write("interrupted; run the same command again to continue (finished steps are kept)\n")


class Demo:
    """The steps of one demo over one output folder."""

    def __init__(self, config: DemoConfig, out: str | os.PathLike, *, overwrite: bool = False,
                 quiet: bool = False, stream: TextIO | None = None):
        self.config = config
        self.out = Path(out)
        self.overwrite = overwrite
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.stamps = Stamps(self.out)
        self._cached: tuple[str, Any] | None = None  # (name, EvalModel) loaded last
        self.steps: list[Step] = []

    # -- folders ---------------------------------------------------------------------------------
    def data_dir(self, task: str) -> Path:
        return self.out / "data" / task

    def run_dir(self, task: str, method: str, seed: int) -> Path:
        return self.out / "runs" / task / f"{method}-seed{seed}"

    def probe_dir(self, task: str, method: str, seed: int) -> Path:
        return self.out / "probes" / task / f"{method}-seed{seed}"

    def attention_dir(self, task: str, seed: int) -> Path:
        return self.out / "attention" / task / f"livr-seed{seed}"

    # -- the plan --------------------------------------------------------------------------------
    def plan(self) -> list[Step]:
        """Every step in order, each with its settings; nothing is read or written."""
        from livr.runs.config import RESUME_FREE, load_config

        c = self.config
        steps: list[Step] = []
        data: dict[str, dict] = {}
        for task in c.tasks:
            data[task] = {"task": task, "train": c.train_size, "validation": c.val_size, "test": c.test_size,
                          "seed": c.data_seed, "image_size": c.image_size, "level": c.level_for(task)}
            steps.append(Step(f"data-{task}", f"generate {task} data", self.data_dir(task),
                              ("dataset_dict.json",), data[task], self._make_data, info={"task": task},
                              cost=0.1 * (c.train_size + c.val_size + c.test_size) * _record_cost(task)))
        for task in c.tasks:
            steps.append(Step(f"zero-shot-{task}", f"evaluate {c.model} zero-shot on {task}",
                              self.out / "zero_shot" / task, ("eval.json",),
                              {"model": c.model, "data": data[task], "split": "test",
                               "max_new_tokens": c.max_new_tokens},
                              self._zero_shot, deps=(f"data-{task}",), info={"task": task},
                              cost=c.test_size * _record_cost(task)))
        for task in c.tasks:
            for seed in c.seeds:
                runs = {}
                for name in c.runs:
                    key = f"train-{name}-{task}-seed{seed}"
                    out = self.run_dir(task, name, seed)
                    config = load_config(None, c.training_overrides(
                        name, task, seed, str(self.data_dir(task)), str(out), self.quiet)).resolved()
                    settings = {"data": data[task],
                                "config": {k: v for k, v in config.to_dict().items()
                                           if k not in RESUME_FREE and k != "data"}}
                    runs[name] = (key, settings)
                    epochs = config.stage1_epochs + config.stage2_epochs
                    steps.append(Step(key, f"train {name} on {task} (seed {seed})", out, ("metrics.json",),
                                      settings, self._train, deps=(f"data-{task}",), info={"config": config},
                                      cost=_training_cost(task, c.train_size, epochs, config.lora_r)))
                for name, probes in self.probed_runs():
                    key, run_settings = runs[name]
                    steps.append(Step(
                        f"probe-{name}-{task}-seed{seed}",
                        f"probe {name} on {task} (seed {seed})" if probes is None else
                        f"probe {name} under the bottleneck on {task} (seed {seed})",
                        self.probe_dir(task, name, seed), ("probe.json",),
                        {"run": run_settings, "probes": probes or "all", "limit": c.probe_limit,
                         "max_new_tokens": c.max_new_tokens},
                        self._probe, deps=(key, f"data-{task}"),
                        info={"task": task, "run": self.run_dir(task, name, seed), "probes": probes},
                        cost=(c.probe_limit or c.test_size) * _record_cost(task) * (len(probes) if probes else 4)))
                if c.attention_examples:
                    key, run_settings = runs["livr"]
                    steps.append(Step(
                        f"attention-{task}-seed{seed}", f"draw attention maps of livr on {task} (seed {seed})",
                        self.attention_dir(task, seed), ("attention.json", "index.html"),
                        {"run": run_settings, "examples": c.attention_examples},
                        self._attention, deps=(key, f"data-{task}"),
                        info={"task": task, "run": self.run_dir(task, "livr", seed)},
                        cost=c.attention_examples * _record_cost(task)))
        return steps

    def probed_runs(self) -> list[tuple[str, list[str] | None]]:
        """(run, probes) pairs: every probe (None) for LIVR, the latents-only control and the
        ablations with latents, the bottleneck alone for Direct SFT (if probe_sft)."""
        c = self.config
        out: list[tuple[str, list[str] | None]] = [("livr", None)]
        out += [("sft", list(SFT_PROBES))] if c.probe_sft else []
        return out + [(name, None) for name in c.runs[2:] if c.has_latents(name)]

    def prepare(self) -> None:
        """Every check, in order, before any work; then classify the steps."""
        check_model(self.config.model)
        check_out(self.out)
        self.steps = self.plan()
        for step in self.steps:
            classify(step, self.stamps)
        conflicts = [s for s in self.steps if s.state == "conflict"]
        if conflicts and not self.overwrite:
            more = f" (and {len(conflicts) - 1} more step(s))" if len(conflicts) > 1 else ""
            raise ConfigError(
                f"--out {self.out} holds results made with other settings: {conflicts[0].reason}{more}; "
                f"use another --out, or pass --overwrite to redo the {len(conflicts)} step(s) whose "
                "settings changed (the other results are kept)")

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run every step not done yet, then the report; returns what the summary needs."""
        if not self.steps:
            self.prepare()
        total = len(self.steps) + 1
        progress = Progress(self.stream, total, self.quiet)
        start = time.perf_counter()
        # a step runs when it is not done, or when a step it reads runs (its input is rebuilt)
        todo: dict[str, bool] = {}  # key -> fresh (discard any old output first)
        for step in self.steps:
            stale = any(d in todo for d in step.deps)
            if step.state != "done" or stale:
                todo[step.key] = stale or step.state == "conflict"
        jobs = self.config.job_count()
        with self._environment(self.config.step_threads()):
            if jobs == 1:
                self._run_serial(progress, todo)
            else:
                self._run_parallel(progress, todo, jobs)
            report_ran = self._report(progress, total, force=bool(todo))
        return {"seconds": time.perf_counter() - start, "ran": len(todo) + int(report_ran),
                "reused": total - len(todo) - int(report_ran)}

    def _run_serial(self, progress: Progress, todo: dict[str, bool]) -> None:
        for index, step in enumerate(self.steps, 1):
            if step.key not in todo:
                progress.reused(index, step.label)
                continue
            self.stamps.begin(step)
            t0 = time.perf_counter()
            with progress.running(index, step.label), self._tool_output():
                self._do(step, todo[step.key])
            self.stamps.finish(step, time.perf_counter() - t0)

    def _run_parallel(self, progress: Progress, todo: dict[str, bool], jobs: int) -> None:
        """Up to `jobs` steps at once, each in a fresh process, started as soon as the steps they
        read have finished: of the ready steps, the one with the most work still ahead on its
        chain first (`priorities`; ties in plan order). A failure lets the running steps finish,
        starts no new one, then raises the first error."""
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        index = {step.key: i for i, step in enumerate(self.steps, 1)}
        for step in self.steps:
            if step.key not in todo:
                progress.reused(index[step.key], step.label)
        waiting = [s for s in self.steps if s.key in todo]
        priority = priorities(self.steps)
        waiting.sort(key=lambda s: -priority[s.key])  # stable: ties stay in plan order
        finished: set[str] = set()
        running: dict[Any, tuple[Step, float]] = {}
        error: BaseException | None = None
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
        try:
            while waiting or running:
                while error is None and len(running) < jobs:
                    ready = next((s for s in waiting if all(d in finished or d not in todo for d in s.deps)), None)
                    if ready is None:
                        break
                    waiting.remove(ready)
                    self.stamps.begin(ready)
                    progress.started(index[ready.key], ready.label)
                    future = pool.submit(_run_step, self.config, str(self.out), self.quiet, ready.key,
                                         todo[ready.key], self.config.step_threads())
                    running[future] = (ready, time.perf_counter())
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    step, t0 = running.pop(future)
                    try:
                        future.result()
                    except BaseException as err:  # noqa: BLE001  (re-raised below, after the others stop)
                        progress.failed(index[step.key], step.label)
                        error = error or err
                        continue
                    seconds = time.perf_counter() - t0
                    self.stamps.finish(step, seconds)
                    finished.add(step.key)
                    progress.finished(index[step.key], step.label, seconds)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            progress.interrupted()
            raise
        pool.shutdown(wait=True)
        if error is not None:
            raise error

    def _do(self, step: Step, fresh: bool) -> None:
        if fresh:
            remove(step.output)
        step.action(step, fresh)

    @contextlib.contextmanager
    def _environment(self, threads: int | None) -> Iterator[None]:
        """Thread count, a frozen import-time heap (accelerate's gc.collect() at every
        Trainer.train() would otherwise rescan it) and, under --quiet, no library progress bars or
        warnings on the terminal; all restored afterwards."""
        import torch
        from datasets.utils import logging as ds_logging
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        bars = ds_logging.is_progress_bar_enabled()
        if self.quiet:  # transformers' log handler holds the terminal's stderr, not OUT/demo.log
            ds_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        import peft  # noqa: F401  (heavy imports first, so that freezing covers them)
        import transformers  # noqa: F401

        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            torch.set_num_threads(before)
            hf_logging.set_verbosity(verbosity)
            if bars:
                ds_logging.enable_progress_bar()

    @contextlib.contextmanager
    def _tool_output(self) -> Iterator[None]:
        """Under --quiet, what the tools print goes to OUT/demo.log instead of the terminal."""
        if not self.quiet:
            yield
            return
        with open(self.out / "demo.log", "a", encoding="utf-8") as log, \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield

    # -- the actions -----------------------------------------------------------------------------
    def _make_data(self, step: Step, fresh: bool) -> None:
        from livr.data.synth import generate_split, shrink_images
        from livr.data.writer import write_dataset

        c, task = self.config, step.info["task"]
        sizes = {"train": c.train_size, "validation": c.val_size, "test": c.test_size}
        splits = {split: shrink_images(generate_split(task, split, n, c.data_seed, level=c.level_for(task)),
                                       c.image_size) for split, n in sizes.items()}
        write_dataset(splits, step.output, overwrite=True)

    def _load(self, name: str):
        """An EvalModel, the last one kept loaded (probes and pictures of one run share it)."""
        if self._cached is None or self._cached[0] != name:
            import torch

            from livr.evaluation.models import load_eval_model

            self._cached = None
            model = load_eval_model(name)
            if torch.cuda.is_available():
                model.lm.to("cuda")
            self._cached = (name, model)
        return self._cached[1]

    def _zero_shot(self, step: Step, fresh: bool) -> None:
        from livr.evaluation.run import run_eval
        from livr.evaluation.sources import load_eval_records

        data = str(self.data_dir(step.info["task"]))
        records = load_eval_records(data, "test")
        run_eval(self._load(self.config.model), records, step.output, data=data, split="test",
                 batch_size=self.config.eval_batch_size, max_new_tokens=self.config.max_new_tokens,
                 overwrite=True, progress=not self.quiet)

    def _train(self, step: Step, fresh: bool) -> None:
        from livr.training.run import train

        self._cached = None  # free the evaluation model while training
        # resume=True continues an interrupted run (or starts one in a missing folder)
        train(step.info["config"], resume=not fresh, overwrite=fresh)

    def _probe(self, step: Step, fresh: bool) -> None:
        from livr.evaluation.run import run_probes
        from livr.evaluation.sources import load_eval_records

        data = str(self.data_dir(step.info["task"]))
        records = load_eval_records(data, "test", limit=self.config.probe_limit)
        run_probes(self._load(str(step.info["run"])), records, step.output, data=data, split="test",
                   probes=step.info["probes"], batch_size=self.config.eval_batch_size,
                   max_new_tokens=self.config.max_new_tokens, overwrite=True, progress=not self.quiet)

    def _attention(self, step: Step, fresh: bool) -> None:
        from livr.analysis.attention_maps import attention_grids, write_attention_maps
        from livr.evaluation.sources import load_eval_records

        data = str(self.data_dir(step.info["task"]))
        records = load_eval_records(data, "test", limit=self.config.attention_examples)
        model = self._load(str(step.info["run"]))
        grids = attention_grids(model.lm, records, image_repeats=model.image_repeats,
                                batch_size=max(1, self.config.eval_batch_size // 4))
        meta = {"model": str(step.info["run"]), "model_kind": model.kind, "method": model.method,
                "base_model": model.base_model, "num_latents": model.lm.latents.num_latents,
                "image_repeats": model.image_repeats, "data": data, "split": "test",
                "limit_per_task": self.config.attention_examples, "tasks": [step.info["task"]],
                "examples": len(records)}
        with atomic_dir(step.output, overwrite=True) as tmp:
            write_attention_maps(tmp, records, grids, meta)

    # -- the report ------------------------------------------------------------------------------
    def _report_inputs(self) -> dict[str, Any]:
        c = self.config
        table = [self.out / "zero_shot" / t for t in c.tasks]
        table += [self.run_dir(t, m, s) for t in c.tasks for s in c.seeds for m in ("sft", "livr")]
        livr_probes = {t: [self.probe_dir(t, "livr", s) for s in c.seeds] for t in c.tasks}
        sft_probes = {t: [self.probe_dir(t, "sft", s) for s in c.seeds] for t in c.tasks} if c.probe_sft else {}
        maps = ([self.attention_dir(t, s) / "index.html" for t in c.tasks for s in c.seeds]
                if c.attention_examples else [])
        ablations = {name: {t: [self.run_dir(t, name, s) for s in c.seeds] for t in c.tasks}
                     for name in ("livr", *c.runs[2:])} if c.ablations else {}
        ablation_probes = {name: {t: [self.probe_dir(t, name, s) for s in c.seeds] for t in c.tasks}
                           for name, probes in self.probed_runs() if probes is None and c.ablations}
        control_probes = ({t: [self.probe_dir(t, CONTROL, s) for s in c.seeds] for t in c.tasks}
                          if CONTROL in c.runs else {})
        return {"table_inputs": table, "livr_probes": livr_probes, "sft_probes": sft_probes,
                "control_probes": control_probes,
                "attention_maps": maps, "ablations": ablations, "ablation_probes": ablation_probes,
                "ablation_fields": {name: c.run_fields(name) for name in ablations}}

    def _report(self, progress: Progress, index: int, force: bool) -> bool:
        """Write report.md, report.json and summary.txt unless they match today's inputs."""
        from livr.evaluation.run import EVAL_FILE, PROBE_FILE
        from livr.runs.folder import METRICS_FILE

        inputs = self._report_inputs()
        markers = [p / (EVAL_FILE if p.parent.name == "zero_shot" else METRICS_FILE)
                   for p in inputs["table_inputs"]]
        markers += [p / PROBE_FILE for folders in (*inputs["livr_probes"].values(),
                                                   *inputs["sft_probes"].values(),
                                                   *inputs["control_probes"].values()) for p in folders]
        markers += [self.run_dir(t, CONTROL, s) / METRICS_FILE for t in inputs["control_probes"]
                    for s in self.config.seeds]
        markers += [p / METRICS_FILE for runs in inputs["ablations"].values() for folders in runs.values()
                    for p in folders]
        markers += [p / PROBE_FILE for runs in inputs["ablation_probes"].values() for folders in runs.values()
                    for p in folders]
        settings = {"demo": self.config.to_dict(), "inputs": _digest(markers)}
        step = Step(REPORT_KEY, "write the report", self.out, ("report.md", "report.json", "summary.txt"),
                    settings, lambda s, f: None)
        # derived from the other results: rewritten whenever they (or the settings) change, never a conflict
        stamp = self.stamps.read(REPORT_KEY)
        if stamp and not differences(stamp.get("settings", {}), settings) and step.complete() and not force:
            progress.reused(index, step.label)
            return False
        t0 = time.perf_counter()  # no stamp before: a report killed half-way is rewritten next time
        with progress.running(index, step.label):
            compute = sum(self.stamps.seconds(s.key) or 0.0 for s in self.steps)
            md, data, summary = build_report(settings=self.config.to_dict(), out=self.out,
                                             compute_seconds=compute, **inputs)
            atomic_write_json(self.out / "report.json", data)
            atomic_write_text(self.out / "report.md", md)
            atomic_write_text(self.out / "summary.txt", summary)
        self.stamps.finish(step, time.perf_counter() - t0)
        return True


def _run_step(config: DemoConfig, out: str, quiet: bool, key: str, fresh: bool, threads: int | None) -> None:
    """One step of the plan, in a worker process of `Demo._run_parallel`."""
    demo = Demo(config, out, quiet=quiet)
    step = next(s for s in demo.plan() if s.key == key)
    with demo._environment(threads), demo._tool_output():
        demo._do(step, fresh)


def run_demo(config: DemoConfig, out: str | os.PathLike, *, overwrite: bool = False, quiet: bool = False,
             stream: TextIO | None = None) -> dict[str, Any]:
    """Check, plan and run the demo; returns {"seconds", "ran", "reused", "summary"} (the text of
    OUT/summary.txt)."""
    demo = Demo(config, out, overwrite=overwrite, quiet=quiet, stream=stream)
    demo.prepare()
    result = demo.run()
    result["summary"] = (demo.out / "summary.txt").read_text()
    return result
