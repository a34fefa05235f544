"""`PretrainConfig`: the settings of `livr pretrain-base`, apart from the training code, so that
the command line can list them without importing torch (every `livr` command builds that list)."""

from __future__ import annotations

from dataclasses import dataclass, field

from livr.errors import ConfigError


@dataclass
class PretrainConfig:
    out: str
    steps: int = 10000
    batch_size: int = 16
    learning_rate: float = 5e-4
    warmup_steps: int = 100
    decay_share: float = 0.2
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    # (first step, level): level 0 until step 2500, level 1 until 6000, then level 2
    curriculum: list = field(default_factory=lambda: [[0, 0], [2500, 1], [6000, 2]])
    replay: float = 0.3  # share of each batch drawn from the earlier levels
    pool_size: int = 6000  # distinct training records per level (regenerated, not stored)
    eval_every: int = 500
    eval_examples: int = 120  # held-out records per level
    checkpoint_every: int = 250
    threads: int = 1
    # weight of the dense cell loss on the vision tower (livr.pretrain.dense); 0 turns it off
    dense_weight: float = 1.0
    # start from these weights instead of random init: a model folder made by pretrain-base (its
    # OUT/model) or "livr-tiny" (the shipped one); "" is random init. A continuation, e.g. the
    # skill level 3 with the earlier levels replayed (docs/pretraining.md)
    init_from: str = ""
    # with init_from: the text model's rope base for the continuation (0 keeps the model's own).
    # M-RoPE gives image columns the lowest frequencies; a smaller base turns them faster per
    # column (docs/pretraining.md, "Skill continuation")
    rope_theta: float = 0.0
    # architecture of a from-scratch base (livr.pretrain.base.FAMILIES): "qwen2_5_vl" (the shipped
    # livr-tiny) or "qwen3_vl" (learned absolute positions in the vision tower, interleaved M-RoPE);
    # a continuation keeps the family of the model it starts from
    family: str = "qwen2_5_vl"

    def check(self) -> None:
        problems = []
        if self.steps < 1 or self.batch_size < 1:
            problems.append("steps and batch_size must be positive")
        if not (0 <= self.replay < 1):
            problems.append(f"replay must be in [0, 1), got {self.replay}")
        if not self.curriculum or self.curriculum[0][0] != 0:
            problems.append("the curriculum must start at step 0")
        if self.rope_theta < 0 or (self.rope_theta and not self.init_from):
            problems.append(f"rope_theta {self.rope_theta}: a positive value needs init_from (0 keeps the model's)")
        from livr.pretrain.base import FAMILIES
        from livr.pretrain.mix import LEVELS

        if self.family not in FAMILIES:
            problems.append(f"family {self.family!r} is not one of {', '.join(FAMILIES)}")

        bad = [level for _, level in self.curriculum if level not in LEVELS]
        if bad:
            problems.append(f"curriculum levels {bad} are not levels of the mix {list(LEVELS)}")
        if problems:
            raise ConfigError("pretraining config: " + "; ".join(problems))
