"""Training methods, one module each, below both training and evaluation.

    from livr.methods import get_method
    method = get_method("livr")   # Method: latent tokens, stages (mask, epochs, trainable, losses), decoding

| method        | latents (K) | stage 1 (epochs, mask)        | stage 2 (standard mask) | trainable            |
|---------------|-------------|-------------------------------|-------------------------|----------------------|
| sft           | 0           | -                             | 10                      | LoRA                 |
| livr          | 16          | 4, `bottleneck`               | 6                       | LoRA + latent rows   |
| latents_only  | 16          | -                             | 10                      | LoRA + latent rows   |
| mask_only     | 0           | 4, `answer_bottleneck`        | 6                       | LoRA                 |
| image_twice   | 0           | -                             | 10, images given twice  | LoRA                 |
| prompt_tuning | 16          | -                             | 10                      | latent rows only     |
| lvr           | 0           | -                             | 10, ROI reconstruction  | LoRA + LVR tokens    |
| mirage        | 0           | 10, helper targets (standard) | 10, latents fed back    | LoRA + Mirage tokens |
| grpo          | init run's  | -                             | -                       | init run's parts     |

`grpo` (training="grpo") has no stage: it continues a finished run of any method above
(`init_from`) with GRPO, run by livr.training.grpo_run (docs/grpo.md).

A new method is one more module here declaring a `Method`, added to `_DECLARED` below (see
docs/training.md, "Where a method is declared").
"""

from __future__ import annotations

from livr.errors import ConfigError
from livr.methods import ablations, grpo, livr, lvr, mirage, sft
from livr.methods.base import ANSWER_NLL, DEFAULT_NUM_LATENTS, LossTerm, Method, Stage

_DECLARED = (sft.METHOD, livr.METHOD, *ablations.METHODS, lvr.METHOD, mirage.METHOD, grpo.METHOD)

METHODS: dict[str, Method] = {m.name: m for m in _DECLARED}
if len(METHODS) != len(_DECLARED):
    raise ValueError(f"two declared methods share a name: {[m.name for m in _DECLARED]}")


def get_method(name: str) -> Method:
    """The method called `name`; ConfigError naming the known ones otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"method {name!r} is unknown; choose one of {', '.join(METHODS)}") from None


__all__ = ["ANSWER_NLL", "DEFAULT_NUM_LATENTS", "METHODS", "LossTerm", "Method", "Stage", "get_method"]
