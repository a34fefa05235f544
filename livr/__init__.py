"""livr: Latent Implicit Visual Reasoning for vision-language models.

Public API (kept stable):

    load_backbone(name, num_latents=16, ...) -> LivrModel
    LivrModel.collator(mask_policy=...)(records) -> batch
    LivrModel(batch) -> transformers outputs with .logits (and .loss when labels are present)
    POLICIES, MaskPolicy, build_attention_mask, Segment, LatentSpec
    predict(model, images, prompt, probe="none") -> str        # a model's answer (livr predict)
    predict_probes(model, images, prompt) -> {probe: answer}
"""

import importlib

# Imported on first use, so that `livr data ...` and `import livr.data` do not pay for torch and
# transformers.
_EXPORTS = {
    "LatentSpec": "livr.models.latents",
    "LivrModel": "livr.models.loading",
    "load_backbone": "livr.models.loading",
    "MaskPolicy": "livr.models.masks",
    "POLICIES": "livr.models.masks",
    "build_attention_mask": "livr.models.masks",
    "get_policy": "livr.models.masks",
    "Segment": "livr.models.segments",
    "predict": "livr.evaluation.predict",
    "predict_probes": "livr.evaluation.predict",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'livr' has no attribute {name!r}")
