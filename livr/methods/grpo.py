"""GRPO after a finished supervised run (GRPO_latent for an LVR run), as one more method.

    livr train --method grpo --init_from runs/loc-lvr --out runs/loc-lvr-grpo --grpo_steps 200

Not supervised stages: GRPO starts from a finished run folder of any supervised method
(`init_from`), keeps that run's model, latents, method-specific decoding and trainable parts, and
samples its own batches. So the declaration has no stage and no latents; `training="grpo"` names
its runner (`livr.training.grpo_run.run_grpo`, run by `livr train` and by `livr grpo` alike) and
its fields are `GrpoConfig`'s (docs/grpo.md). The rewards, rollouts and replay follow the init
run's method (LVR: latent rollouts and the patched replay; every other method: ordinary sampling).
"""

from livr.methods.base import Method

METHOD = Method("grpo", "GRPO after a finished supervised run, init_from (LVR runs: GRPO_latent); "
                        "its fields are GrpoConfig's, docs/grpo.md", stages=(), training="grpo")
