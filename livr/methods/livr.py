"""LIVR: K latent tokens; stage 1 under the visual bottleneck (answer and prompt tokens cannot see
the image, so image information has to pass through the latents), stage 2 under the standard mask.
The stage-1 mask can be changed with `stage1_mask` (Table 4: answer_bottleneck,
bottleneck_latent_blind)."""

from livr.methods.base import DEFAULT_NUM_LATENTS, Method, Stage

STAGE_1 = Stage(1, mask="bottleneck", epochs=4, epochs_field="stage1_epochs", mask_field="stage1_mask")
STAGE_2 = Stage(2, mask="standard", epochs=6, epochs_field="stage2_epochs")

METHOD = Method("livr", "LIVR: stage 1 under the visual bottleneck, stage 2 standard",
                stages=(STAGE_1, STAGE_2), num_latents=DEFAULT_NUM_LATENTS)
