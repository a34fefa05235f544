"""The latent-usefulness probes of Sec. 4.4.1, as data: whether the prompt keeps its latent
tokens, and which mask policy applies while generating.

    none                       the model as trained (latents in the prompt, standard mask)
    remove_latents             latents dropped from the prompt: does the model rely on them?
    bottleneck                 the bottleneck mask during generation: the answer (and prompt)
                               see the image only through the latents: do they carry it?
    bottleneck_remove_latents  both: no image pathway is left; accuracy must fall to chance
                               and predictions cannot depend on the images
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from livr.errors import ConfigError


@dataclass(frozen=True)
class Probe:
    name: str
    keep_latents: bool
    mask_policy: str
    description: str


PROBES: dict[str, Probe] = {
    p.name: p
    for p in (
        Probe("none", True, "standard", "as trained"),
        Probe("remove_latents", False, "standard", "latent tokens removed from the prompt"),
        Probe("bottleneck", True, "bottleneck", "bottleneck mask at test: image only through latents"),
        Probe("bottleneck_remove_latents", False, "bottleneck", "bottleneck mask and no latents: no image pathway"),
    )
}


def get_probe(name: str) -> Probe:
    try:
        return PROBES[name]
    except KeyError:
        raise ConfigError(f"unknown probe {name!r}; choose one of {', '.join(PROBES)}") from None


def without_latents(lm):
    """The same model (shared weights) whose prompts carry no latent tokens."""
    from livr.models.latents import LatentSpec

    spec = LatentSpec(0, lm.latents.position, lm.latents.shared)
    return dataclasses.replace(lm, latents=spec, latent_ids=[])


def probe_model(lm, probe: Probe):
    return lm if probe.keep_latents else without_latents(lm)
