"""Mirage, the baseline whose K latents are supervised by helper images, as one more method.

The assistant turn opens with `<|latent_start|>` + K pads + `<|latent_end|>` (`livr.models.mirage`).
Stage 1 (teacher forcing): the pads hold the chunk means of the helper image's merged visual
tokens; loss = mirage_ce_weight * CE + mirage_cosine_weight * mean(1 - cos(h[t-1], target[t])).
Stage 2: CE only, each pad fed the previous position's last hidden state, step by step. At test
time the hidden states are fed back after `<|latent_start|>` (at most K steps, or until the LM
head predicts `<|latent_end|>`). Standard mask throughout; LoRA by default (`full_finetune: true`
is Mirage's setting: the whole language model, vision tower and projector frozen).
"""

from livr.methods.base import Method, Stage


def stage1_forward(trainer_forward, lm, model, inputs):
    """Teacher-forced: (ce_weight * CE, outputs, {"mirage_cosine": cosine_weight * cos})."""
    from livr.models.mirage import batch_targets, stage1_forward as forward

    spec = lm.mirage
    targets = batch_targets(lm, model, inputs, spec)
    ce, cos, outputs = forward(lm, model, inputs, targets, spec, loss_fn=trainer_forward)
    return spec.ce_weight * ce, outputs, {"mirage_cosine": spec.cosine_weight * cos.to(ce.dtype)}


def stage2_forward(trainer_forward, lm, model, inputs):
    """Latents fed back step by step; CE only."""
    from livr.models.mirage import recurrent_forward

    ce, outputs = recurrent_forward(lm, model, inputs, lm.mirage, loss_fn=trainer_forward)
    return ce, outputs, {}


STAGE_1 = Stage(1, mask="standard", epochs=10, epochs_field="stage1_epochs", trainable=("lora",),
                forward=stage1_forward)
STAGE_2 = Stage(2, mask="standard", epochs=10, epochs_field="stage2_epochs", trainable=("lora",),
                forward=stage2_forward)

METHOD = Method("mirage", "Mirage: K latents supervised by helper images, then fed back (two stages)",
                stages=(STAGE_1, STAGE_2), decoding="latent")
