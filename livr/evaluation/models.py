"""`load_eval_model(NAME)`: whatever `livr eval` is pointed at, as a LivrModel ready to evaluate.

NAME may be

- a finished run folder of `livr train` (config.yaml + metrics.json): the base model with the
  run's LoRA and latent rows, latents laid out as in training (`kind="run"`);
- a folder written by `livr export` (livr_export.json): the merged model; its chat template's
  latent prelude is removed again, because livr inserts and tags the latents itself
  (`kind="export"`);
- any other model folder, hub id or `tiny:<family>`: the base model zero-shot, without latents
  (`kind="pretrained"` or `"tiny"`).

The latent count is checked three ways before anything runs: a run's config against the
tokenizer it saved, an export's livr_export.json against its tokenizer, and a zero-shot model's
tokenizer against "no latents".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from livr.errors import ConfigError

EXPORT_INFO = "livr_export.json"


@dataclass
class EvalModel:
    lm: object  # livr.models.loading.LivrModel
    kind: str  # run | export | pretrained | tiny
    method: str  # the training method, or "zero_shot"
    base_model: str  # the backbone the weights started from
    seed: int | None
    image_repeats: int  # 2 for image_twice: it sees its images twice at test time too
    source: str
    train_tasks: list[str] | None = None  # what a run or export was trained on
    decoding: str = "greedy"  # the method's decoding mode (livr.inference.generate.DECODERS)


    def describe(self) -> dict:
        return {"model": self.source, "model_kind": self.kind, "method": self.method,
                "base_model": self.base_model, "num_latents": self.lm.latents.num_latents,
                "seed": self.seed, "train_tasks": self.train_tasks}


def _tokenizer_latents(folder: Path) -> tuple[int, bool] | None:
    """(latent count, shared) of the tokenizer saved in `folder`, or None if it saved none."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        return None
    from livr.models.latents import latent_count_in

    return latent_count_in({t["content"] for t in json.loads(path.read_text()).get("added_tokens", [])})


def _check_run_tokenizer(run: Path, num_latents: int, shared: bool) -> None:
    saved = _tokenizer_latents(run)
    expected = (0, False) if num_latents == 0 else ((1, True) if shared else (num_latents, False))
    if saved is not None and saved != expected:
        count, was_shared = saved
        raise ConfigError(
            f"run {run}: its config asks for num_latents={num_latents}"
            f"{' (shared)' if shared else ''} but the tokenizer it saved has {count} "
            f"{'shared ' if was_shared else ''}latent token(s); the folder was edited or mixed "
            "with another run; restore its config.yaml or retrain"
        )


def _load_run(path: Path, dtype, attn_implementation) -> EvalModel:
    from livr.runs.folder import load_run, saved_config

    config = saved_config(path)
    _check_run_tokenizer(path, config.num_latents, config.shared_latents)
    overrides = {}
    if dtype is not None:
        overrides["dtype"] = dtype
    if attn_implementation is not None:
        overrides["attn_implementation"] = attn_implementation
    lm, config = load_run(path, **overrides)
    lm.model.eval()
    tasks = json.loads((path / "metrics.json").read_text()).get("tasks")
    return EvalModel(lm=lm, kind="run", method=config.method, base_model=config.model,
                     seed=config.seed, image_repeats=config.method_spec.image_repeats, source=str(path),
                     train_tasks=tasks, decoding=config.method_spec.decoding)


def strip_latent_prelude(template: str, latents: list[str], position: str) -> str:
    """The chat template `livr export` started from (export prepends a prelude to it)."""
    from livr.inference.chat_template import latent_chat_template

    prelude = latent_chat_template("", latents, position)
    return template[len(prelude):] if template.startswith(prelude) else template


def _load_export(path: Path, dtype, attn_implementation, trust_remote_code) -> EvalModel:
    from livr.methods import METHODS
    from livr.models.latents import LatentSpec
    from livr.models.loading import load_backbone

    try:
        info = json.loads((path / EXPORT_INFO).read_text())
        spec = LatentSpec(int(info["num_latents"]), info.get("latent_position", "after"),
                          bool(info.get("shared_latents", False)))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path / EXPORT_INFO} is unreadable ({err}); re-export the run") from None
    lm = load_backbone(str(path), num_latents=spec.num_latents, latent_position=spec.position,
                       shared_latents=spec.shared, trainable=False, dtype=_torch_dtype(dtype),
                       attn_implementation=attn_implementation or "sdpa",
                       trust_remote_code=trust_remote_code)
    if len(lm.latent_ids) != len(spec.vocabulary()):
        raise ConfigError(f"{path}: livr_export.json says {spec.num_latents} latents but the tokenizer "
                          f"has {len(lm.latent_ids)}")
    for owner in (lm.processor, lm.tokenizer):
        if getattr(owner, "chat_template", None):
            owner.chat_template = strip_latent_prelude(owner.chat_template, spec.sequence(), spec.position)
    method = info.get("method", "unknown")
    repeats = METHODS[method].image_repeats if method in METHODS else 1
    decoding = METHODS[method].decoding if method in METHODS else "greedy"
    return EvalModel(lm=lm, kind="export", method=method, base_model=info.get("base_model", str(path)),
                     seed=info.get("seed"), image_repeats=repeats, source=str(path),
                     train_tasks=info.get("tasks"), decoding=decoding)


def _torch_dtype(name: str | None):
    from livr.runs.folder import resolve_dtype

    return resolve_dtype(name)


def load_eval_model(name: str, *, dtype: str | None = None, attn_implementation: str | None = None,
                    trust_remote_code: bool = False) -> EvalModel:
    """Load a run folder, an exported folder, a model folder, a hub id or `tiny:<family>`.

    `dtype` is a name (float32, bfloat16, float16, auto); None keeps the checkpoint's default.
    """
    from livr.models.loading import load_backbone

    path = Path(name)
    if path.is_dir() and (path / "config.yaml").is_file():
        return _load_run(path, dtype, attn_implementation)
    if path.is_dir() and (path / EXPORT_INFO).is_file():
        return _load_export(path, dtype, attn_implementation, trust_remote_code)
    if path.is_dir() and not (path / "config.json").is_file():
        raise ConfigError(
            f"--model {name}: the folder is neither a livr run (config.yaml + metrics.json), an "
            "export (livr_export.json) nor a transformers model folder (config.json)"
        )
    lm = load_backbone(name, num_latents=0, trainable=False, dtype=_torch_dtype(dtype),
                       attn_implementation=attn_implementation or "sdpa",
                       trust_remote_code=trust_remote_code)
    kind = "tiny" if name.startswith("tiny:") else "pretrained"
    return EvalModel(lm=lm, kind=kind, method="zero_shot", base_model=name, seed=None,
                     image_repeats=1, source=name)
