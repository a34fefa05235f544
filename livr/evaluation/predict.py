"""`predict(MODEL, IMAGES, PROMPT)`: a model's answer about your own images (`livr predict`).

    import livr
    livr.predict("runs/loc-livr", ["a.png", "b.png"], "Which image is brighter? (A) first (B) second")
    # -> "A"
    livr.predict_probes("runs/loc-livr", ["a.png"], "...")
    # -> {"none": "A", "remove_latents": "B", "bottleneck": "A", "bottleneck_remove_latents": "B"}

MODEL is anything `livr eval --model` takes (a run folder, a `livr export` folder, a model folder,
a hub id, `tiny:<family>`; see livr.evaluation.models), or an already loaded `EvalModel` to ask
many questions without reloading. The prompt is encoded exactly as `livr eval` encodes a record
(the model's chat template, its latents where training put them, its image repeats) and decoded
greedily with the model's own decoding, so an answer here is the answer `livr eval` would record.
`predict_probes` gives the answer under each probe of `livr probe` that applies to the model
(livr.evaluation.probes; for a model without latents the two that remove latents are left out,
they would repeat the other two).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from livr.errors import ConfigError, DataError

DEFAULT_MAX_NEW_TOKENS = 64
DEFAULT_MAX_LENGTH = 4096


def predict(model, images: Sequence[Any], prompt: str, *, probe: str = "none",
            max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, max_length: int = DEFAULT_MAX_LENGTH,
            **load_kwargs) -> str:
    """The greedy answer of `model` to `prompt` about `images` (paths, bytes or PIL images, 1 to
    4) under `probe` (default: the model as trained). `load_kwargs` (dtype, trust_remote_code) go
    to `load_eval_model` when `model` is a name."""
    return predict_probes(model, images, prompt, probes=[probe], max_new_tokens=max_new_tokens,
                          max_length=max_length, **load_kwargs)[probe]


def predict_probes(model, images: Sequence[Any], prompt: str, *, probes: Sequence[str] | None = None,
                   max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, max_length: int = DEFAULT_MAX_LENGTH,
                   **load_kwargs) -> dict[str, str]:
    """{probe name: answer} for `probes` (default: every probe that applies to the model)."""
    from livr.data.collator import MAX_IMAGES
    from livr.evaluation.probes import check_probe, get_probe
    from livr.evaluation.run import decode_under_probe

    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError("the prompt is empty; give the question to ask (--prompt)")
    if max_new_tokens < 1:
        raise ConfigError(f"--max-new-tokens must be at least 1, got {max_new_tokens}")
    images = list(images)
    if not 1 <= len(images) <= MAX_IMAGES:
        raise ConfigError(f"give 1 to {MAX_IMAGES} images (--image), got {len(images)}")
    record = {"id": "input", "images": [_image(im, i) for i, im in enumerate(images)], "prompt": prompt}
    model = _model(model, load_kwargs)
    chosen = [get_probe(name) for name in (probes or applicable_probes(model))]
    for probe in chosen:
        check_probe(probe, model.decoding)
    encoded: dict[bool, list] = {}
    answers = {}
    for probe in chosen:
        if probe.keep_latents not in encoded:
            encoded[probe.keep_latents] = [_encode(model, record, probe.keep_latents, max_length)]
        outputs, _ = decode_under_probe(model, encoded[probe.keep_latents], probe, batch_size=1,
                                        max_new_tokens=max_new_tokens)
        answers[probe.name] = outputs[0]
    return answers


def applicable_probes(model) -> list[str]:
    """The probes of `livr probe` for this EvalModel; without latents, those that remove them
    are left out (they would give the same answers as the ones that keep them)."""
    from livr.evaluation.probes import default_probes, get_probe

    names = list(default_probes(model.decoding))
    if model.lm.latents.num_latents == 0:
        names = [n for n in names if get_probe(n).keep_latents]
    return names


def _model(model, load_kwargs: dict):
    from livr.evaluation.models import EvalModel, load_eval_model

    if isinstance(model, EvalModel):
        return model
    if not isinstance(model, (str, os.PathLike)) or not str(model):
        raise ConfigError("the model must be a run folder, an export folder, a model folder, a hub id, "
                          "tiny:<family> or a loaded EvalModel")
    return load_eval_model(str(model), **load_kwargs)


def _image(image, index: int):
    """A path is checked here, so that a missing file is named as given; the rest (unreadable
    files, unsupported types, decompression bombs) is `load_image`'s."""
    from livr.data.collator import load_image

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise ConfigError(f"image {index + 1} ({image}) does not exist or is not a file")
        return load_image(str(path), str(image), index)
    return load_image(image, "input", index)


def _encode(model, record: dict, keep_latents: bool, max_length: int):
    from livr.evaluation.probes import without_latents

    lm = model.lm if keep_latents else without_latents(model.lm)
    example = lm.encoder(model.image_repeats).encode(record, with_answer=False)
    if len(example.input_ids) > max_length:
        n = len(record["images"])
        raise DataError(f"the prompt with its {n} image(s) is {len(example.input_ids)} tokens long, more than "
                        f"max_length={max_length}; shorten the prompt, use smaller images or raise --max-length")
    return example
