"""LVR, Latent Visual Reasoning (ICLR 2026), the nearest rival of LIVR, as one more method.

The assistant turn opens with `<|lvr_start|>` + N latent slots + `<|lvr_end|>`; in training the
slots hold the ROI's merged visual embeddings and the hidden state before each slot is regressed
onto it (`livr.models.lvr`), added to the answer NLL with weight `lvr_lambda`; at test time the
model decodes in latent mode (`livr.inference.latent`: hidden states fed back for N steps, then
text). One stage, standard mask, no LIVR latents; LoRA by default (`full_finetune: true` is LVR's
published setting: the whole language model, vision tower and projector frozen).
"""

from livr.methods.base import Method, Stage


def training_forward(trainer_forward, lm, model, inputs):
    """The stage's forward: ROI embeddings in the slots. Returns (answer NLL, outputs, weighted
    terms): {"lvr_reconstruction": lambda * D, "lvr_mode_switch": w * BCE (exit mode_switch)}."""
    from livr.models.lvr import lvr_forward

    spec = lm.lvr
    nll = {}

    def run(m, model_inputs):
        nll["loss"], outputs = trainer_forward(m, model_inputs)
        return nll["loss"], outputs

    outputs, terms = lvr_forward(lm, model, inputs, spec, loss_fn=run)
    weighted = {"lvr_reconstruction": spec.lam * terms["reconstruction"]}
    if "mode_switch" in terms:
        weighted["lvr_mode_switch"] = spec.switch_weight * terms["mode_switch"]
    return nll["loss"], outputs, weighted


STAGE = Stage(2, mask="standard", epochs=10, epochs_field="stage2_epochs", trainable=("lora",))

METHOD = Method("lvr", "LVR: latent steps that reconstruct the ROI's visual tokens (Li et al., ICLR 2026)",
                stages=(STAGE,), decoding="latent", forward=training_forward)
