"""Inference shared by training-time validation, `livr eval`, the probes and `livr export`:
answer extraction and scoring (`answers`), batched greedy generation (`generate`), the exported
chat template with the latent tokens (`chat_template`)."""
