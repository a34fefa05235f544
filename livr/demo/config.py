"""`DemoConfig`: every setting of `livr demo`, its two presets, and loading from YAML and flags.

    config = load_demo_config(full=False, path="my-demo.yaml", overrides={"tasks": "counting,jigsaw"})

Precedence: the preset (`default` or `full`), then the YAML file, then the command line.
Everything is checked here, before the demo does any work: unknown keys and tasks, sizes, epochs,
and the training config each run will get (built with `livr.runs.config.load_config`, so a
bad value in `training:` is reported exactly as `livr train` would report it).

Why the default tasks are counting, localization and art_style: they are one task of each kind
the paper's Table 1 mixes, and all three are cheap enough for a CPU demo:

- counting: open-ended (the model writes a number; random choice 1/9), one image;
- localization: two-way multiple choice on one image (boxes A and B drawn on it);
- art_style: two-way multiple choice over three images (which of two pictures shares the
  reference's style), the multi-image kind. visual_correspondence (two images, four-way) was the
  default until 2026-12-05: LIVR's stage 1 does not learn it on livr-tiny (docs/results.md).

Why LoRA rank 64 for localization and art_style and the paper's 16 for counting (`lora_r`; alpha
is always twice the rank, the paper's ratio): on livr-tiny (hidden size 128) LIVR's stage 1 on
the three-image task sits on a plateau at the answer prior; at rank 16 and lr 5e-4 it did not
leave it within the demo's epochs, at rank 64 it does within one epoch. At rank 64 localization's
latents also carry the image far better (85% under the bottleneck against 64% at 16), but on
counting the latents-only control then routes the count through its latents too (52% under the
bottleneck), so the probes no longer tell the two apart; counting keeps 16. These were chosen from
one seed of the demo itself (docs/results.md, "Why stage 1 stalled"). Direct SFT and the control
get the same rank as LIVR on each task, so each comparison stays like for like.

Direct SFT trains `stage1_epochs + stage2_epochs` epochs, so both methods see the data equally
often (the paper: 10 epochs of SFT against LIVR's 4 + 6). Both use one learning rate: the
training config has a single `learning_rate`, and each LIVR stage restarts its warm-up and
cosine schedule as in the paper's Appendix B.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from dataclasses import dataclass, field
from typing import Any

from livr.data.tasks import TASK_NAMES, TASKS
from livr.errors import ConfigError
from livr.runs.config import METHODS as TRAINING_METHODS

DEFAULT_TASKS = ("counting", "localization", "art_style")
DEFAULT_LEVEL = "easy"
PAPER_LORA_R = 16
DEFAULT_LORA_R = {"localization": 64, "art_style": 64}
METHODS = ("sft", "livr")
CONTROL = "latents_only"  # the latents-only control run, probed beside LIVR

# Training-config fields the demo sets itself; `training:` may not override them.
MANAGED_TRAINING_FIELDS = frozenset({
    "model", "method", "data", "tasks", "output_dir", "seed", "num_latents", "stage1_epochs",
    "stage2_epochs", "stage1_mask", "learning_rate", "per_device_train_batch_size",
    "gradient_accumulation_steps", "warmup_ratio", "eval_batch_size", "max_new_tokens",
    "disable_tqdm", "report_to", "lora_r", "lora_alpha",
})


# ... of which an ablation run may set these
ABLATION_FIELDS = frozenset({"method", "num_latents", "stage1_epochs", "stage2_epochs", "stage1_mask",
                             # an LVR run beside LIVR (method lvr; livr.models.lvr)
                             "lvr_steps", "lvr_lambda", "lvr_loss", "lvr_exit", "lvr_max_steps",
                             "lvr_end_threshold", "lvr_switch_weight", "lvr_train_tokens",
                             # a Mirage run (method mirage; livr.models.mirage)
                             "mirage_latents", "mirage_ce_weight", "mirage_cosine_weight"})


def _help(text: str, **kw) -> Any:
    return field(metadata={"help": text}, **kw)


@dataclass
class DemoConfig:
    """One `livr demo`: the data, the two trainings, the evaluations and the pictures."""

    # -- data ------------------------------------------------------------------------------------
    tasks: list[str] = _help("Tasks, each trained and evaluated on its own (single-task, Table 1).",
                             default_factory=lambda: list(DEFAULT_TASKS))
    train_size: int = _help("Training records per task (stage 1 needs thousands at this scale: with "
                            "hundreds the bottleneck stage only memorises).", default=2000)
    val_size: int = _help("Validation records per task (checkpoint selection by validation accuracy).",
                          default=60)
    test_size: int = _help("Test records per task (the table's numbers).", default=200)
    data_seed: int = _help("Seed of the synthetic data (the same data for every training seed).",
                           default=0)
    image_size: int | None = _help("Images are shrunk so that their longer side is at most this "
                                   "many pixels (null keeps the generator's size).", default=112)
    level: str | dict[str, str] = _help(
        "Difficulty level of the generated data (`livr data synth --level`): one level for every "
        "task, or a mapping task: level (tasks it does not name: paper). paper is the paper's "
        "rules; easier levels keep the question and make the evidence clearer (docs/data.md).",
        default=DEFAULT_LEVEL)
    # -- model and training ----------------------------------------------------------------------
    model: str = _help("Base model: livr-tiny, tiny:<family>, a model folder or a hub id.",
                       default="livr-tiny")
    seeds: list[int] = _help("Training seeds; several give mean ± std in the table.",
                             default_factory=lambda: [42])
    num_latents: int = _help("K, latent tokens of LIVR.", default=16)
    stage1_epochs: int = _help("LIVR stage 1 (bottleneck mask) epochs (the paper: 4 of 10 on 1k records; "
                               "here 2 of 3 on 2k: stage 1 is what livr-tiny learns slowly).", default=2)
    stage2_epochs: int = _help("LIVR stage 2 (standard mask) epochs; Direct SFT trains "
                               "stage1_epochs + stage2_epochs epochs.", default=1)
    learning_rate: float = _help("Peak learning rate of both methods (and of both LIVR stages). "
                                 "The paper's 1e-4 is for 3-4B models; livr-tiny's LoRA needs more.",
                                 default=5e-4)
    lora_r: int | dict[str, int] = _help(
        "LoRA rank: one for every task, or a mapping task: rank (tasks it does not name: 16, the "
        "paper's). Alpha is twice the rank. The default gives localization and art_style 64, where "
        "livr-tiny's stage 1 needs it (docs/results.md).",
        default_factory=lambda: dict(DEFAULT_LORA_R))
    batch_size: int = _help("Training examples per micro-batch.", default=8)
    gradient_accumulation_steps: int = _help("Micro-batches per optimizer step.", default=1)
    warmup_ratio: float = _help("Linear warm-up share of each stage.", default=0.05)
    training: dict[str, Any] = _help("Any other `livr train` field, for both methods (e.g. lora_dropout, "
                                     "max_validation_examples).", default_factory=dict)
    # -- evaluation and pictures -----------------------------------------------------------------
    eval_batch_size: int = _help("Prompts per generation batch.", default=16)
    max_new_tokens: int | None = _help("Generation budget (null: 8 for letters and counts, 128 for "
                                       "vsp plans).", default=None)
    probe_limit: int | None = _help("The probes (Sec. 4.4.1) use the first N test records of each "
                                    "task (null: all).", default=100)
    probe_sft: bool = _help("Also probe Direct SFT under the bottleneck (its image is then cut off "
                            "entirely: a text-only baseline for the LIVR probes).", default=True)
    latents_only: bool = _help("Also train the latents-only control (K latents, no bottleneck stage, "
                               "all epochs in stage 2) and probe it beside LIVR (Sec. 4.4.1).",
                               default=True)
    attention_examples: int = _help("Latent-to-image attention maps per task and seed (0: none).",
                                    default=4)
    threads: int | None = _help("torch intra-op threads of each step (null: the CPU cores shared out "
                                "over the jobs).", default=None)
    jobs: int | None = _help("Steps run at once, each in its own process, in the order their inputs "
                             "allow (null: one per CPU core, at most 4; 1 when a GPU is present). "
                             "Results depend on each step's threads (the order of float sums), not on jobs.",
                             default=None)
    # -- ablations -------------------------------------------------------------------------------
    ablations: dict[str, dict[str, Any]] = _help(
        "Extra runs for the ablation tables (the paper's Tables 3 and 4): name -> `livr train` fields "
        "(method, num_latents, stage1_epochs, stage2_epochs, stage1_mask, latent_position ...). Unset "
        "fields follow the demo (K, the 4:6 split, or all epochs in stage 2 for a method without one). "
        "Each is trained on every task and seed, like Direct SFT and LIVR; those with latents are "
        "probed too.", default_factory=dict)

    @property
    def sft_epochs(self) -> int:
        return self.stage1_epochs + self.stage2_epochs

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def lora_r_for(self, task: str) -> int:
        if isinstance(self.lora_r, dict):
            return self.lora_r.get(task, PAPER_LORA_R)
        return self.lora_r

    def level_for(self, task: str) -> str:
        if isinstance(self.level, dict):
            return self.level.get(task, "paper")
        return self.level

    @property
    def runs(self) -> list[str]:
        """Every run name per task and seed: sft, livr, latents_only (if asked), the ablations."""
        control = [CONTROL] if self.latents_only and CONTROL not in self.ablations else []
        return [*METHODS, *control, *self.ablations]

    def run_fields(self, run: str) -> dict[str, Any]:
        """method, K and epochs of run `run` (sft, livr or an ablation's name)."""
        if run == "sft":
            return dict(method="sft", num_latents=0, stage1_epochs=0, stage2_epochs=self.sft_epochs)
        if run == "livr":
            return dict(method="livr", num_latents=self.num_latents, stage1_epochs=self.stage1_epochs,
                        stage2_epochs=self.stage2_epochs)
        spec = dict(self.ablations.get(run) or {"method": CONTROL})
        method = TRAINING_METHODS[spec["method"]]
        values: dict[str, Any] = dict(num_latents=self.num_latents if method.latents else 0)
        if method.stage_for("stage1_epochs") is not None:  # two stages (LIVR's kind, Mirage)
            values.update(stage1_epochs=self.stage1_epochs, stage2_epochs=self.stage2_epochs)
        else:
            values.update(stage1_epochs=0, stage2_epochs=self.sft_epochs)
        values.update(spec)
        return values

    def job_count(self) -> int:
        """How many steps run at once (see `jobs`)."""
        if self.jobs:
            return self.jobs
        import torch

        return 1 if torch.cuda.is_available() else max(1, min(4, os.cpu_count() or 1))

    def step_threads(self) -> int | None:
        """torch threads of each step: `threads`, else the cores shared out over the jobs (None
        when one job: torch's default)."""
        jobs = self.job_count()
        if self.threads or jobs == 1:
            return self.threads
        return max(1, (os.cpu_count() or 1) // jobs)

    def has_latents(self, run: str) -> bool:
        return self.run_fields(run)["num_latents"] > 0

    def training_overrides(self, run: str, task: str, seed: int, data: str, out: str,
                           quiet: bool) -> dict[str, Any]:
        """The `livr train` fields of one run (sft, livr or an ablation) on `task`."""
        values: dict[str, Any] = dict(self.training)
        values.update(
            model=self.model, data=data, tasks=[task], output_dir=out, seed=seed,
            learning_rate=self.learning_rate, lora_r=self.lora_r_for(task),
            lora_alpha=2 * self.lora_r_for(task),
            per_device_train_batch_size=self.batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            warmup_ratio=self.warmup_ratio, eval_batch_size=self.eval_batch_size,
            max_new_tokens=self.max_new_tokens, disable_tqdm=quiet, report_to=["none"],
        )
        values.update(self.run_fields(run))
        return values


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # all ten tasks, the paper's 1k training records per task, three seeds
    "full": {
        "tasks": list(TASK_NAMES),
        "train_size": 4000,
        "val_size": 100,
        "test_size": 250,
        "seeds": [42, 43, 44],
        "probe_limit": 100,
    },
}

FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(DemoConfig)}
_HINTS = typing.get_type_hints(DemoConfig)


# ----------------------------------------------------------------------------- values


def _int_list(name: str, value: Any) -> list[int]:
    given = value
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    out = []
    for v in value if isinstance(value, (list, tuple)) else [None]:
        try:
            out.append(_whole(v))
        except (TypeError, ValueError):
            raise ConfigError(f"expects integers (a list or 'a,b'), got {given!r}") from None
    return out


def _whole(value: Any) -> int:
    """An integer from an int, a whole float or a numeral (ValueError / TypeError otherwise)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _coerce(name: str, value: Any) -> Any:
    """A YAML or command-line value as the field's type (ConfigError saying what was expected;
    the caller names the option)."""
    from livr.data.tasks import parse_task_list

    if name == "tasks":
        text = ",".join(value) if isinstance(value, (list, tuple)) else str(value)
        return parse_task_list(text)
    if name == "seeds":
        return _int_list(name, value)
    if name == "level":
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        if not isinstance(value, str) or not value:
            raise ConfigError(f"expects a level name or a mapping task: level, got {value!r}")
        return value
    if name == "lora_r":
        try:
            if isinstance(value, dict):
                return {str(k): _whole(v) for k, v in value.items()}
            return _whole(value)
        except (TypeError, ValueError):
            raise ConfigError(f"expects a rank (an integer) or a mapping task: rank, got {value!r}") from None
    if name == "training":
        if not isinstance(value, dict):
            raise ConfigError(f"expects a mapping of `livr train` field: value, got {value!r}")
        return {str(k).replace("-", "_"): v for k, v in value.items()}
    if name == "ablations":
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ConfigError(f"expects a mapping of run name: {{method: ..., other `livr train` fields}}, got {value!r}")
        return {str(k): {str(f).replace("-", "_"): v for f, v in spec.items()} for k, spec in value.items()}
    hint = _HINTS[name]
    optional = type(None) in typing.get_args(hint)
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError("may not be empty")
    try:
        if base is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
                return value.lower() in ("true", "yes", "1")
            if isinstance(value, bool):
                return value
            raise ValueError
        if isinstance(value, bool):
            raise ValueError
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if base is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        kind = {bool: "true or false", int: "an integer", float: "a number"}.get(base, "a value")
        raise ConfigError(f"expects {kind}, got {value!r}") from None


def problems(c: DemoConfig) -> list[str]:
    """Every problem of a demo config (the training configs are checked by `check`)."""
    out = []
    if not c.tasks:
        out.append("tasks is empty; give at least one task")
    unknown = [t for t in c.tasks if t not in TASKS]
    if unknown:
        out.append(f"tasks: unknown task(s) {', '.join(map(repr, unknown))}; known tasks: {', '.join(TASKS)}")
    for name in ("train_size", "val_size", "test_size", "num_latents", "stage1_epochs", "batch_size",
                 "gradient_accumulation_steps", "eval_batch_size"):
        if getattr(c, name) < 1:
            out.append(f"{name} must be at least 1, got {getattr(c, name)}")
    for name in ("stage2_epochs", "attention_examples"):
        if getattr(c, name) < 0:
            out.append(f"{name} must be at least 0, got {getattr(c, name)}")
    for name in ("probe_limit", "max_new_tokens", "threads", "jobs"):
        value = getattr(c, name)
        if value is not None and value < 1:
            out.append(f"{name} must be at least 1 (or null), got {value}")
    if c.image_size is not None and c.image_size < 28:
        out.append(f"image_size must be at least 28 pixels (or null), got {c.image_size}")
    if not c.seeds:
        out.append("seeds is empty; give at least one training seed")
    elif len(set(c.seeds)) != len(c.seeds):
        out.append(f"seeds lists a seed twice: {c.seeds}")
    if not c.model:
        out.append("model may not be empty")
    out += _level_problems(c)
    ranks = c.lora_r if isinstance(c.lora_r, dict) else {"": c.lora_r}
    for task, rank in ranks.items():
        if task and task not in TASKS:
            out.append(f"lora_r: unknown task {task!r}; known tasks: {', '.join(TASKS)}")
        if rank < 1:
            out.append(f"lora_r must be at least 1, got {rank}" + (f" for {task}" if task else ""))
    for name, spec in c.ablations.items():
        if name in METHODS or not name.replace("_", "").isalnum():
            out.append(f"ablations: run name {name!r} must be letters, digits and '_', and not sft or livr")
        if spec.get("method") not in TRAINING_METHODS:
            out.append(f"ablations: {name}: method {spec.get('method')!r} is unknown; choose one of "
                       f"{', '.join(TRAINING_METHODS)}")
        fixed = sorted((MANAGED_TRAINING_FIELDS - ABLATION_FIELDS) & set(spec))
        if fixed:
            out.append(f"ablations: {name}: {', '.join(fixed)} {'is' if len(fixed) == 1 else 'are'} set by the "
                       "demo itself")
    managed = sorted(MANAGED_TRAINING_FIELDS & set(c.training))
    if managed:
        out.append(f"training: {', '.join(managed)} {'is' if len(managed) == 1 else 'are'} set by the demo "
                   "itself; use the demo's own keys (see `livr demo --help`)")
    return out


def _level_problems(c: DemoConfig) -> list[str]:
    from livr.data.synth import level_knobs

    out = []
    if isinstance(c.level, dict):
        extra = sorted(set(c.level) - set(c.tasks))
        if extra:
            out.append(f"level: {', '.join(extra)} {'is' if len(extra) == 1 else 'are'} not among the "
                       f"demo's tasks ({', '.join(c.tasks)})")
    for task in c.tasks:
        if task in TASKS:
            try:
                level_knobs(task, c.level_for(task))
            except ConfigError as err:
                out.append(f"level: {err}")
    return out


def check(c: DemoConfig) -> None:
    """ConfigError listing every problem, including those of the training configs it implies."""
    from livr.runs.config import load_config

    found = problems(c)
    if not found:
        for run in c.runs:
            try:
                load_config(None, c.training_overrides(run, c.tasks[0], c.seeds[0], "DATA", "OUT",
                                                       quiet=True)).resolved()
            except ConfigError as err:
                found.append(f"the {run} runs: {err}")
    if found:
        if len(found) == 1:
            raise ConfigError(f"invalid demo config: {found[0]}")
        raise ConfigError(f"invalid demo config ({len(found)} problems):\n" + "\n".join(f"  - {p}" for p in found))


def load_demo_config(*, full: bool = False, path: str | None = None,
                     overrides: dict[str, Any] | None = None) -> DemoConfig:
    """The preset, the YAML file (if any), then `overrides` (the command line); checked."""
    from livr.runs.config import read_yaml

    preset = dict(PRESETS["full" if full else "default"])
    layers = [(preset, "the preset")]
    if path is not None:
        layers.append((read_yaml(path), str(path)))
    layers.append((overrides or {}, "the command line"))
    values: dict[str, Any] = {}
    for layer, where in layers:
        for key, value in layer.items():
            key = str(key).replace("-", "_")
            if key not in FIELDS:
                close = difflib.get_close_matches(key, FIELDS, n=1)
                raise ConfigError(f"unknown key {key!r} in {where}"
                                  + (f" (did you mean {close[0]!r}?)" if close else
                                     f"; known keys: {', '.join(FIELDS)}"))
            try:
                values[key] = _coerce(key, value)
            except ConfigError as err:
                option = f"--{key}" if where == "the command line" else f"{where}: {key}"
                text = str(err).removeprefix("--tasks ").removeprefix("--tasks: ")
                raise ConfigError(f"{option}: {text}") from None
    config = DemoConfig(**values)
    check(config)
    return config
