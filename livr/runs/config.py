"""`LivrTrainingConfig`: every knob of a `livr train` run, with help text (TRL style), YAML loading
with command-line overrides, and one check that reports every problem at once.

    config = load_config("configs/qwen2_5_vl_3b/livr.yaml", {"tasks": "jigsaw", "seed": "0"})
    config = config.resolved()          # method defaults filled in (K, epochs, stage-1 mask)

Methods (Direct SFT, LIVR and the ablations of Tables 3 and 4) are declared in `livr.methods`;
fields left at `None` take the method's value (K, each stage's epochs and mask); a value that
contradicts the method (K > 0 for `sft`, stage-1 epochs for a stage-2-only method ...) is an error,
not silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from livr.data.leakage import POLICIES as LEAKAGE_POLICIES
from livr.errors import ConfigError
from livr.methods import DEFAULT_NUM_LATENTS, METHODS, Method, get_method  # noqa: F401 (importable here as before)


SELECTIONS = ("auto", "best", "final")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def _help(text: str, **kw) -> Any:
    return field(metadata={"help": text}, **kw)


@dataclass
class LivrTrainingConfig:
    """One training run. Every field can be set in YAML or as `--field value` on the command line."""

    # -- what to train -------------------------------------------------------------------------
    model: str | None = _help(
        "Backbone: a hub id (Qwen/Qwen2.5-VL-3B-Instruct), a local model folder, or tiny:<family> "
        "(random-init, offline: tiny:qwen2_5_vl, tiny:qwen3_vl, tiny:qwen3_5, tiny:qwen3_5_moe, "
        "tiny:llava_onevision).", default=None)
    method: str = _help("One of: " + ", ".join(f"{m.name} ({m.description})" for m in METHODS.values()) + ".",
                        default="livr")
    data: str | None = _help("Data folder written by `livr data synth` / `livr data build` "
                             "(splits train, validation and optionally test).", default=None)
    tasks: list[str] | None = _help("Train and evaluate only these tasks of the data folder "
                                    "(default: all tasks in it). More than one task is a multi-task run.",
                                    default=None)
    output_dir: str | None = _help("Run folder to write (`--out`).", default=None)

    # -- latents and masks ---------------------------------------------------------------------
    num_latents: int | None = _help("K, the number of latent tokens appended to the prompt "
                                    "(default: 16 for livr / latents_only / prompt_tuning, 0 otherwise).",
                                    default=None)
    latent_position: str = _help("Where the latents go inside the user turn: after (paper default) "
                                 "or before the prompt text.", default="after")
    shared_latents: bool = _help("Use one latent token repeated K times instead of K distinct tokens.",
                                 default=False)
    stage1_mask: str | None = _help("Mask policy of stage 1 (livr.models.masks.POLICIES): bottleneck, "
                                    "answer_bottleneck, bottleneck_latent_blind (default: the method's).",
                                    default=None)
    stage1_epochs: int | None = _help("Epochs of stage 1 (default: 4 for livr and mask_only, else 0).",
                                      default=None)
    stage2_epochs: int | None = _help("Epochs of stage 2, standard mask (default: 6 after a stage 1, "
                                      "else 10).", default=None)

    # -- LVR (method lvr only; livr.models.lvr) ----------------------------------------------------
    lvr_steps: int = _help("LVR: latent steps at decoding (the fixed budget; LVR uses 4, 8 or 16), and "
                           "slots per training example under lvr_train_tokens=budget.", default=8)
    lvr_lambda: float = _help("LVR: weight of the ROI reconstruction loss added to the answer NLL.",
                              default=0.1)
    lvr_loss: str = _help("LVR: reconstruction distance between the hidden state before a slot and the "
                          "slot's ROI embedding: mse, mae or cosine.", default="mse")
    lvr_exit: str = _help("LVR: how decoding leaves latent mode: fixed (lvr_steps steps), latent_end "
                          "(hidden state within lvr_end_threshold of a learned end embedding) or "
                          "mode_switch (the LM head predicts <|lvr_end|>, trained by a BCE term).",
                          default="fixed")
    lvr_max_steps: int = _help("LVR: hard cap on latent steps at decoding, whatever the exit.", default=32)
    lvr_end_threshold: float = _help("LVR, exit latent_end: cosine distance that ends latent mode.",
                                     default=0.1)
    lvr_switch_weight: float = _help("LVR, exit mode_switch: weight of the BCE term.", default=1.0)
    lvr_train_tokens: str = _help("LVR: which ROI tokens fill the training slots: budget (lvr_steps "
                                  "tokens taken evenly over the ROI, so training and decoding take the "
                                  "same number of steps) or all (one slot per ROI token, as LVR's code).",
                                  default="budget")

    # -- trainable parameters ------------------------------------------------------------------
    # -- Mirage (method mirage only; livr.models.mirage) --------------------------------------------
    mirage_latents: int = _help("Mirage: K latent positions per example (the helper image's tokens cut "
                                "into K chunk means), and the cap on latent steps at decoding.", default=4)
    mirage_ce_weight: float = _help("Mirage, stage 1: weight of the cross-entropy beside the cosine term.",
                                    default=0.1)
    mirage_cosine_weight: float = _help("Mirage, stage 1: weight of mean(1 - cos(hidden before a latent, "
                                        "its helper target)).", default=1.0)
    full_finetune: bool = _help("Train the whole language model instead of LoRA (vision tower and "
                                "projector stay frozen unless train_vision).", default=False)
    train_vision: bool = _help("Also train the vision encoder and projector in full (the paper keeps "
                               "them frozen; useful for a small base such as livr-tiny whose vision "
                               "tower was pretrained here).", default=False)
    lora_r: int = _help("LoRA rank.", default=16)
    lora_alpha: int = _help("LoRA alpha.", default=32)
    lora_dropout: float = _help("LoRA dropout.", default=0.05)

    # -- optimisation (paper, Appendix B) ------------------------------------------------------
    learning_rate: float = _help("AdamW learning rate (peak, after warm-up).", default=1e-4)
    weight_decay: float = _help("AdamW decoupled weight decay.", default=0.01)
    adam_beta1: float = _help("AdamW beta1.", default=0.9)
    adam_beta2: float = _help("AdamW beta2.", default=0.999)
    adam_epsilon: float = _help("AdamW epsilon.", default=1e-8)
    max_grad_norm: float = _help("Gradient clipping norm (0 disables; transformers' default 1.0).",
                                 default=1.0)
    per_device_train_batch_size: int = _help("Examples per device per micro-batch.", default=1)
    gradient_accumulation_steps: int = _help("Micro-batches per optimizer step.", default=8)
    warmup_ratio: float = _help("Fraction of each stage's steps spent in linear warm-up "
                                "(the schedule restarts at every stage).", default=0.05)
    lr_scheduler_type: str = _help("Schedule after warm-up (transformers SchedulerType).", default="cosine")
    seed: int = _help("Seed for model initialisation, LoRA, data order and dropout.", default=42)
    max_length: int = _help("Longest tokenized example allowed; longer ones are an error "
                            "(livr never truncates).", default=4096)
    max_train_examples: int | None = _help("Use only the first N training examples (quick runs).",
                                           default=None)

    # -- validation, selection, test -----------------------------------------------------------
    selection: str = _help("Which weights the run keeps: best (highest validation accuracy), final, "
                           "or auto (best for a single task, final for multi-task, as in the paper).",
                           default="auto")
    eval_every_epoch: bool = _help("Measure validation accuracy (by generation) after every epoch, under "
                                   "the epoch's own stage mask and, when that differs, the standard mask.",
                                   default=True)
    eval_mask: str = _help("Mask the final model is used with: it chooses the best epoch (selection=best) "
                           "and is the mask of the test evaluation. auto: the mask of the run's last stage "
                           "(standard after a stage 2, the stage-1 mask when stage2_epochs is 0), or a "
                           "policy of livr.models.masks.POLICIES (standard, bottleneck, answer_bottleneck, "
                           "bottleneck_latent_blind).", default="auto")
    eval_batch_size: int = _help("Batch size of validation / test generation.", default=8)
    max_new_tokens: int | None = _help("Generation budget per answer (default: 8 for choice and "
                                       "counting tasks, 128 for vsp plans).", default=None)
    max_validation_examples: int | None = _help("Use only the first N validation examples.", default=None)
    max_test_examples: int | None = _help("Use only the first N test examples.", default=None)
    leakage: str = _help("Leakage guard, run before training whenever there is a test split: refuse "
                         "(stop with an error naming the examples) if a train or validation image is a "
                         "near-duplicate of a test image of the run (the detector of `livr data dedup`), "
                         "warn (print them loudly and train anyway), or off (skip the check). See "
                         "docs/training.md.", default="refuse")

    # -- hardware and bookkeeping --------------------------------------------------------------
    dtype: str | None = _help("Weights dtype when loading: auto, float32, bfloat16, float16 "
                              "(default: the loader's).", default=None)
    bf16: bool = _help("bf16 mixed precision (GPU).", default=False)
    attn_implementation: str = _help("Attention kernel: sdpa (default) or eager. 4-D bottleneck "
                                     "masks need one of these.", default="sdpa")
    attention: str = _help("How non-standard mask policies (the bottleneck) are applied: livr_masked "
                           "(blockwise attention from per-token segments, no L x L mask), 4d (an "
                           "additive 4-D mask, the older path), or auto (livr_masked where supported: "
                           "native families under sdpa; else 4d, logged once). Same results either "
                           "way; see docs/performance.md.", default="auto")
    gradient_checkpointing: bool = _help("Recompute activations in the backward pass (saves memory).",
                                         default=False)
    max_pixels: int | None = _help("Cap on pixels per image for the processor (real backbones).",
                                   default=None)
    trust_remote_code: bool = _help("Allow a hub model's own code (needed by LLaVA-OneVision-1.5).",
                                    default=False)
    dataloader_num_workers: int = _help("DataLoader worker processes (examples are pre-encoded, "
                                        "so 0 is usually enough).", default=0)
    logging_steps: int = _help("Log the training loss every N optimizer steps.", default=10)
    report_to: list[str] = _help("Trainer integrations to log to (tensorboard writes under "
                                 "RUN/logs/stageN).", default_factory=lambda: ["tensorboard"])
    disable_tqdm: bool = _help("Hide progress bars.", default=False)
    keep_checkpoints: bool = _help("Keep RUN/checkpoints after a successful run (needed only to "
                                   "inspect intermediate states).", default=False)
    trainer_args: dict[str, Any] = _help("Extra transformers.TrainingArguments (e.g. deepspeed, fsdp, "
                                         "ddp_find_unused_parameters) for every stage.",
                                         default_factory=dict)

    # -- derived -------------------------------------------------------------------------------
    @property
    def method_spec(self) -> Method:
        return get_method(self.method)

    def lvr_spec(self):
        """LVR's settings (`livr.models.lvr.LvrSpec`) for method lvr, else None."""
        if self.method != "lvr":
            return None
        from livr.models.lvr import LvrSpec

        return LvrSpec(steps=self.lvr_steps, lam=self.lvr_lambda, loss=self.lvr_loss, exit=self.lvr_exit,
                       max_steps=self.lvr_max_steps, end_threshold=self.lvr_end_threshold,
                       switch_weight=self.lvr_switch_weight, train_tokens=self.lvr_train_tokens)

    def mirage_spec(self):
        """Mirage's settings (`livr.data.mirage_layout.MirageSpec`) for method mirage, else None."""
        if self.method != "mirage":
            return None
        from livr.data.mirage_layout import MirageSpec

        return MirageSpec(latents=self.mirage_latents, ce_weight=self.mirage_ce_weight,
                          cosine_weight=self.mirage_cosine_weight)

    def resolved(self) -> "LivrTrainingConfig":
        """A copy with the method's defaults filled in; raises ConfigError on any problem."""
        check(self)
        m = self.method_spec
        k = self.num_latents if self.num_latents is not None else m.num_latents
        s1 = self.stage1_epochs if self.stage1_epochs is not None else m.epochs[0]
        s2 = self.stage2_epochs if self.stage2_epochs is not None else m.epochs[1]
        mask = self.stage1_mask or m.stage1_mask
        out = dataclasses.replace(self, num_latents=k, stage1_epochs=s1, stage2_epochs=s2,
                                  stage1_mask=mask if m.stage1_mask else None)
        if out.eval_mask == "auto":  # the mask of the last stage that trains
            last = out.stages()
            out = dataclasses.replace(out, eval_mask=last[-1][1] if last else "standard")
        check(out)
        return out

    def stages(self) -> list[tuple[int, str, int]]:
        """[(stage number, mask policy, epochs)] of a resolved config, stages with 0 epochs left out."""
        out = []
        for stage in self.method_spec.stages:
            epochs = getattr(self, stage.epochs_field)
            mask = getattr(self, stage.mask_field) if stage.mask_field else stage.mask
            if mask and epochs:
                out.append((stage.number, mask, epochs))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_yaml(self, header: str = "") -> str:
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False, width=100)
        return header + body


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(LivrTrainingConfig)}
_HINTS = typing.get_type_hints(LivrTrainingConfig)
# Fields whose value may differ when a run is resumed (they change bookkeeping, not the result).
RESUME_FREE = frozenset({"output_dir", "dataloader_num_workers", "logging_steps", "report_to",
                         "disable_tqdm", "keep_checkpoints", "eval_batch_size", "leakage"})


# ----------------------------------------------------------------------------- coercion


def _base_type(hint) -> tuple[Any, bool]:
    """(inner type, optional?) of a hint like `int | None`."""
    args = typing.get_args(hint)
    if type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return inner[0], True
    return hint, False


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def coerce(name: str, value: Any, hint: Any = None) -> Any:
    """Convert a YAML or command-line value to the field's type (`hint`, by default that of the
    LivrTrainingConfig field `name`); ValueError says why not."""
    hint, optional = _base_type(_HINTS[name] if hint is None else hint)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("none", "null", "~")):
        if optional:
            return None
        raise ValueError("may not be empty")
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"expects true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ValueError(f"expects an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError(f"expects an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise ValueError(f"expects a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError(f"expects a number, got {value!r}")
    if hint is str:
        if name == "leakage" and value is False:
            return "off"  # YAML 1.1 reads a bare `leakage: off` as false
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"expects a text value, got {value!r}")
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ValueError(f"expects a list of names (YAML list or comma-separated), got {value!r}")
    if origin is dict:
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise ValueError(f"expects a mapping (YAML / JSON), got {value!r}") from None
        if isinstance(value, dict):
            return dict(value)
        raise ValueError(f"expects a mapping, got {value!r}")
    raise TypeError(f"unsupported field type {hint!r} for {name}")  # a bug in this file


# ----------------------------------------------------------------------------- checking


def problems(config: LivrTrainingConfig) -> list[str]:
    """Every problem of a config, each naming the field, the value, the reason and the fix."""
    from livr.data.tasks import TASK_NAMES
    from livr.models.latents import POSITIONS
    from livr.models.masks import POLICIES

    c, out = config, []
    for name in ("model", "data", "output_dir"):
        if not getattr(c, name):
            flag = "--out" if name == "output_dir" else f"--{name}"
            out.append(f"{name} is required (set it in the config or pass {flag})")
    if c.method not in METHODS:
        close = difflib.get_close_matches(str(c.method), METHODS, n=1)
        out.append(f"method {c.method!r} is unknown; choose one of {', '.join(METHODS)}"
                   + (f" (did you mean {close[0]!r}?)" if close else ""))
        return out  # the checks below depend on the method
    m = METHODS[c.method]
    if not m.supervised:  # its fields are another config's (livr.methods.grpo: GrpoConfig)
        out.append(f"method {c.method} continues a finished run and has no supervised stages: run it "
                   f"with `livr train --method {c.method} --init_from RUN --out OUT` (its fields are "
                   "GrpoConfig's, docs/grpo.md), not from a LivrTrainingConfig")
        return out
    if c.num_latents is not None:
        if c.num_latents < 0:
            out.append(f"num_latents must be >= 0, got {c.num_latents}")
        elif not m.latents and c.num_latents != 0:
            out.append(f"num_latents={c.num_latents} but method {c.method} trains without latents; "
                       "remove num_latents or use method livr / latents_only")
        elif m.latents and c.num_latents == 0:
            out.append(f"method {c.method} needs latent tokens but num_latents=0; use method "
                       + ("sft" if c.method != "livr" else "mask_only") + " for a run without them")
    if c.stage1_mask is not None:
        if c.stage1_mask not in POLICIES:
            out.append(f"stage1_mask {c.stage1_mask!r} is unknown; choose one of {', '.join(POLICIES)}")
        elif m.stage1_mask is None:
            out.append(f"stage1_mask is set but method {c.method} has no stage 1; remove it or use "
                       "method livr / mask_only")
        elif c.stage1_mask == "standard":
            out.append("stage1_mask=standard makes stage 1 plain fine-tuning; use method "
                       f"{'latents_only' if m.latents else 'sft'} instead")
    for name in ("stage1_epochs", "stage2_epochs"):
        value = getattr(c, name)
        if value is not None and value < 0:
            out.append(f"{name} must be >= 0, got {value}")
    if c.stage1_epochs and m.stage_for("stage1_epochs") is None:
        out.append(f"stage1_epochs={c.stage1_epochs} but method {c.method} has no stage 1; set it to 0 "
                   "or use method livr / mask_only")
    if c.stage1_epochs is not None and c.stage2_epochs is not None and c.stage1_epochs + c.stage2_epochs == 0:
        out.append("stage1_epochs + stage2_epochs is 0: nothing to train")
    out += _method_fields_problems(c, "lvr")
    out += _method_fields_problems(c, "mirage")
    if c.latent_position not in POSITIONS:
        out.append(f"latent_position must be one of {', '.join(POSITIONS)}, got {c.latent_position!r}")
    if c.full_finetune and not m.lora:
        out.append(f"full_finetune contradicts method {c.method} (which trains only the latent rows)")
    if c.train_vision and not m.lora:
        out.append(f"train_vision contradicts method {c.method} (which trains only the latent rows)")
    if c.tasks is not None:
        if not c.tasks:
            out.append("tasks is an empty list; leave it out to use every task of the data folder")
        for t in c.tasks:
            if t not in TASK_NAMES:
                out.append(f"tasks: unknown task {t!r}; known tasks: {', '.join(TASK_NAMES)}")
        if len(set(c.tasks)) != len(c.tasks):
            out.append(f"tasks lists a task twice: {c.tasks}")
    positive = ("learning_rate", "adam_epsilon", "per_device_train_batch_size", "gradient_accumulation_steps",
                "max_length", "eval_batch_size", "lora_r", "lora_alpha", "logging_steps")
    for name in positive:
        if getattr(c, name) <= 0:
            out.append(f"{name} must be > 0, got {getattr(c, name)}")
    for name in ("weight_decay", "max_grad_norm", "dataloader_num_workers"):
        if getattr(c, name) < 0:
            out.append(f"{name} must be >= 0, got {getattr(c, name)}")
    for name in ("adam_beta1", "adam_beta2", "lora_dropout", "warmup_ratio"):
        if not 0 <= getattr(c, name) < 1:
            out.append(f"{name} must be in [0, 1), got {getattr(c, name)}")
    for name in ("max_train_examples", "max_validation_examples", "max_test_examples", "max_new_tokens",
                 "max_pixels"):
        value = getattr(c, name)
        if value is not None and value < 1:
            out.append(f"{name} must be >= 1 (or left out), got {value}")
    from transformers import SchedulerType

    schedulers = [s.value for s in SchedulerType]
    if c.lr_scheduler_type not in schedulers:
        out.append(f"lr_scheduler_type {c.lr_scheduler_type!r} is unknown; choose one of {', '.join(schedulers)}")
    if c.selection not in SELECTIONS:
        out.append(f"selection must be one of {', '.join(SELECTIONS)}, got {c.selection!r}")
    if c.leakage not in LEAKAGE_POLICIES:
        out.append(f"leakage must be one of {', '.join(LEAKAGE_POLICIES)}, got {c.leakage!r}")
    if c.eval_mask != "auto" and c.eval_mask not in POLICIES:
        close = difflib.get_close_matches(str(c.eval_mask), POLICIES, n=1)
        out.append(f"eval_mask {c.eval_mask!r} is unknown; choose auto or one of {', '.join(POLICIES)}"
                   + (f" (did you mean {close[0]!r}?)" if close else ""))
    if c.selection == "best" and not c.eval_every_epoch:
        out.append("selection=best needs eval_every_epoch=true (the best epoch is found by validation)")
    if c.dtype is not None and c.dtype not in DTYPES:
        out.append(f"dtype must be one of {', '.join(DTYPES)}, got {c.dtype!r}")
    if c.attn_implementation not in ("sdpa", "eager"):
        out.append(f"attn_implementation must be sdpa or eager (4-D masks), got {c.attn_implementation!r}")
    if c.attention not in ("auto", "livr_masked", "4d"):
        out.append(f"attention must be auto, livr_masked or 4d, got {c.attention!r}")
    out += _trainer_args_problems(c.trainer_args)
    return out


def _method_fields_problems(c: LivrTrainingConfig, method: str) -> list[str]:
    """`method`_* fields (lvr_*, mirage_*): valid values for that method, left at their defaults
    otherwise."""
    changed = [f.name for f in dataclasses.fields(c)
               if f.name.startswith(method + "_") and getattr(c, f.name) != f.default]
    if c.method != method:
        return [f"{name} is set but method {c.method} is not {method}; remove it or use method {method}"
                for name in changed]
    try:
        spec = getattr(c, method + "_spec")()
    except ConfigError as err:
        return [str(err)]
    if method == "lvr" and not spec.enabled:
        return ["lvr_steps=0 with lvr_train_tokens=budget leaves LVR without latent steps; use method "
                "sft for that"]
    return []


def _trainer_args_problems(extra: dict) -> list[str]:
    from transformers import TrainingArguments

    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    out = []
    for key in extra:
        if key in FIELDS or key in ("num_train_epochs", "output_dir", "warmup_steps", "save_strategy",
                                    "eval_strategy", "remove_unused_columns", "label_names"):
            out.append(f"trainer_args.{key} is managed by livr; "
                       + (f"set {key} at the top level" if key in FIELDS else "it cannot be overridden"))
        elif key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            out.append(f"trainer_args.{key} is not a transformers.TrainingArguments field"
                       + (f" (did you mean {close[0]!r}?)" if close else ""))
    return out


def check(config: LivrTrainingConfig) -> None:
    found = problems(config)
    if found:
        raise ConfigError(_format(found))


def _format(found: list[str]) -> str:
    if len(found) == 1:
        return f"invalid training config: {found[0]}"
    return f"invalid training config ({len(found)} problems):\n" + "\n".join(f"  - {p}" for p in found)


# ----------------------------------------------------------------------------- loading


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must be a mapping of field: value, got {type(raw).__name__}")
    return raw


def from_dict(values: dict[str, Any], where: str = "config") -> LivrTrainingConfig:
    """Build a config from field values (YAML types or command-line strings), reporting every
    unknown key, bad value and inconsistency at once."""
    found, kwargs, failed = [], {}, set()
    for key, value in values.items():
        key = str(key).replace("-", "_")
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            found.append(f"unknown key {key!r} in {where}" + (f" (did you mean {close[0]!r}?)" if close
                                                             else "; see `livr train --help`"))
            continue
        try:
            kwargs[key] = coerce(key, value)
        except ValueError as err:
            found.append(f"{key} {err}")
            failed.add(key)
    config = LivrTrainingConfig(**kwargs)
    # value problems of the fields that did parse (a field that failed keeps its default)
    found += [p for p in problems(config) if p.split(" ", 1)[0] not in failed]
    if found:
        raise ConfigError(_format(found))
    return config


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> LivrTrainingConfig:
    """The YAML file (if any) with `overrides` on top (the command line wins)."""
    values = read_yaml(path) if path is not None else {}
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    for key, value in (overrides or {}).items():
        values[str(key).replace("-", "_")] = value
    where = f"{path} / command line" if path is not None else "command line"
    return from_dict(values, where)
