"""`Method` and `Stage`: what a training method declares, in one place below training and evaluation.

A method is its latent tokens (how many by default), its stages (each: mask policy, default epochs
and the config field that overrides them, trainable parts, loss terms), how many times its
prompts carry the images, its decoding mode, and how it trains (`training`: supervised stages, or
GRPO continuing a finished run, which declares no stage). `livr.runs.config` fills a config's defaults from
it, `livr.training` runs its stages, `livr.evaluation` and the probes encode and decode with it.

    STAGE_1 = Stage(1, mask="bottleneck", epochs=4, epochs_field="stage1_epochs",
                    mask_field="stage1_mask")
    METHOD = Method("livr", "LIVR: ...", stages=(STAGE_1, STAGE_2), num_latents=16)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

DEFAULT_NUM_LATENTS = 16
# Parts a stage may train: LoRA on the language model, the latent embedding rows.
TRAINABLE_PARTS = ("lora", "latents")
# Decoding modes a method may declare; livr.inference.generate.DECODERS implements each (tested).
DECODINGS = ("greedy", "latent")  # greedy text; LVR: latent steps, then greedy text
# How a method trains; livr.cli.train.RUNNERS runs each (tested): "supervised" runs the declared
# stages from a base model (livr.training.run), "grpo" continues a finished run of another method
# with GRPO (livr.training.grpo_run; its fields are GrpoConfig's, not LivrTrainingConfig's).
TRAININGS = ("supervised", "grpo")


@dataclass(frozen=True)
class LossTerm:
    """One term of a stage's training loss.

    `compute(lm, inputs, outputs)` returns a scalar tensor from the batch (`inputs`, as collated,
    with `segment_ids`) and the model's outputs; the trainer adds `weight * compute(...)` to the
    answer NLL. `compute=None` marks the answer NLL itself (the model's own loss over the answer
    tokens), which every stage has.
    """

    name: str
    compute: Callable[[Any, dict, Any], Any] | None = None
    weight: float = 1.0


ANSWER_NLL = LossTerm("answer_nll")


@dataclass(frozen=True)
class Stage:
    """One training stage of a method.

    number: the stage's number (checkpoints go to RUN/checkpoints/stage<number>, metrics name it).
    mask: the default attention-mask policy (livr.models.masks.POLICIES).
    epochs: the default epochs of a single-task run.
    epochs_field: the config field that overrides `epochs` (stage1_epochs, stage2_epochs).
    mask_field: the config field that overrides `mask`, or None when the mask is fixed.
    trainable: the parts trained (TRAINABLE_PARTS); the same for every stage of a method.
    losses: the loss terms, the answer NLL first.
    """

    number: int
    mask: str
    epochs: int
    epochs_field: str
    mask_field: str | None = None
    trainable: tuple[str, ...] = ("lora", "latents")
    losses: tuple[LossTerm, ...] = (ANSWER_NLL,)
    #: this stage's own training forward (same signature as Method.forward), or None: the method's
    forward: Callable[..., Any] | None = None

    def __post_init__(self):
        unknown = [p for p in self.trainable if p not in TRAINABLE_PARTS]
        if unknown:
            raise ValueError(f"stage {self.number}: unknown trainable part(s) {unknown}; "
                             f"choose from {', '.join(TRAINABLE_PARTS)}")
        if not self.losses or self.losses[0] is not ANSWER_NLL:
            raise ValueError(f"stage {self.number}: the first loss term must be ANSWER_NLL")

    @property
    def extra_losses(self) -> tuple[LossTerm, ...]:
        """The terms added to the answer NLL."""
        return self.losses[1:]


@dataclass(frozen=True)
class Method:
    """A training method: its tokens, stages, image repeats and decoding.

    num_latents: K latent tokens appended to the prompt by default (0: no latents).
    stages: in training order; a stage whose epochs resolve to 0 is skipped.
    image_repeats: how many times prompts carry their images (training and test alike).
    decoding: how answers are generated (DECODINGS).
    forward: a training forward of the method's own (LVR: slots filled, loss terms added).
    training: how it trains (TRAININGS); a method that is not "supervised" declares no stage.
    """

    name: str
    description: str
    stages: tuple[Stage, ...]
    num_latents: int = 0
    image_repeats: int = 1
    decoding: str = "greedy"
    #: a training forward of its own, or None for the model's plain call:
    #: forward(trainer_forward, lm, model, inputs) -> (loss, outputs, {term name: value}), where
    #: trainer_forward(model, model_inputs) -> (loss, outputs) is the Trainer's own loss
    forward: Callable[..., Any] | None = None
    training: str = "supervised"

    def __post_init__(self):
        if self.training not in TRAININGS:
            raise ValueError(f"method {self.name}: unknown training {self.training!r}; "
                             f"choose one of {', '.join(TRAININGS)}")
        if self.training != "supervised":
            if self.stages or self.num_latents:
                raise ValueError(f"method {self.name} continues a finished run ({self.training}): it "
                                 "declares no stage and no latents (the run's own are kept)")
            return
        if not self.stages:
            raise ValueError(f"method {self.name} declares no stage")
        numbers = [s.number for s in self.stages]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"method {self.name}: stage numbers repeat: {numbers}")
        if len({s.trainable for s in self.stages}) > 1:
            # livr loads the model once per run: every stage trains the same parameters
            raise ValueError(f"method {self.name}: every stage must train the same parts")
        if "latents" in self.stages[0].trainable and not self.num_latents:
            raise ValueError(f"method {self.name} trains latent rows but has num_latents=0")
        if self.decoding not in DECODINGS:
            raise ValueError(f"method {self.name}: unknown decoding {self.decoding!r}; "
                             f"choose one of {', '.join(DECODINGS)}")

    # -- derived views (the fields of the former training.config.Method) ----------------------
    @property
    def latents(self) -> bool:
        """True when the method trains with latent tokens."""
        return self.num_latents > 0

    @property
    def lora(self) -> bool:
        """True when the method trains LoRA (False: only the latent rows, or no stage of its own)."""
        return bool(self.stages) and "lora" in self.stages[0].trainable

    @property
    def supervised(self) -> bool:
        """True for a method of supervised stages (`livr train` with a LivrTrainingConfig)."""
        return self.training == "supervised"

    def stage_for(self, field: str) -> Stage | None:
        """The stage whose epochs (or mask) the config field `field` sets, or None."""
        return next((s for s in self.stages if field in (s.epochs_field, s.mask_field)), None)

    def stage(self, number: int) -> Stage:
        for s in self.stages:
            if s.number == number:
                return s
        raise KeyError(f"method {self.name} has no stage {number}")

    @property
    def stage1_mask(self) -> str | None:
        """The default mask of the stage set by `stage1_mask` (None: no such stage)."""
        s = self.stage_for("stage1_mask")
        return s.mask if s is not None else None

    @property
    def epochs(self) -> tuple[int, int]:
        """(stage1_epochs, stage2_epochs) defaults; 0 for a stage the method lacks."""
        return tuple(s.epochs if s is not None else 0
                     for s in (self.stage_for("stage1_epochs"), self.stage_for("stage2_epochs")))
