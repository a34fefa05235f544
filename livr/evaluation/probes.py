"""The latent-usefulness probes of Sec. 4.4.1, as data: whether the prompt keeps its latent
tokens, and which mask policy applies while generating.

    none                       the model as trained (latents in the prompt, standard mask)
    remove_latents             latents dropped from the prompt: does the model rely on them?
    bottleneck                 the bottleneck mask during generation: the answer (and prompt)
                               see the image only through the latents: do they carry it?
    bottleneck_remove_latents  both: no image pathway is left; accuracy must fall to chance
                               and predictions cannot depend on the images

LVR models (decoding "latent") have their own: the latent-step budget at test time, with the
fixed exit. `steps_0` removes the latent steps (<|lvr_start|> is followed at once by
<|lvr_end|>): does the answer rely on them? `steps_4/8/16`: LVR's budgets.
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
    lvr_steps: int | None = None  # LVR: latent steps at test time (fixed exit); None: as trained


PROBES: dict[str, Probe] = {
    p.name: p
    for p in (
        Probe("none", True, "standard", "as trained"),
        Probe("remove_latents", False, "standard", "latent tokens removed from the prompt"),
        Probe("bottleneck", True, "bottleneck", "bottleneck mask at test: image only through latents"),
        Probe("bottleneck_remove_latents", False, "bottleneck", "bottleneck mask and no latents: no image pathway"),
        Probe("steps_0", True, "standard", "LVR: latent steps removed", lvr_steps=0),
        *(Probe(f"steps_{n}", True, "standard", f"LVR: a budget of {n} latent steps", lvr_steps=n)
          for n in (4, 8, 16)),
    )
}
LIVR_PROBES = ("none", "remove_latents", "bottleneck", "bottleneck_remove_latents")
LVR_PROBES = ("none", "steps_0", "steps_4", "steps_8", "steps_16")


def default_probes(decoding: str) -> tuple[str, ...]:
    """The probes that make sense for a model decoding with `decoding`."""
    return LVR_PROBES if decoding == "latent" else LIVR_PROBES


def check_probe(probe: Probe, decoding: str) -> None:
    """ConfigError when `probe` does not apply to a model that decodes with `decoding`."""
    if probe.name not in default_probes(decoding):
        kind = "an LVR model" if decoding == "latent" else "a model without LVR's latent steps"
        raise ConfigError(f"probe {probe.name!r} does not apply to {kind}; use one of "
                          f"{', '.join(default_probes(decoding))}")


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
