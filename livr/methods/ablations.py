"""The paper's Table 3 controls: each takes one ingredient of LIVR away (or adds visual compute).

`mask_only` uses `answer_bottleneck` because without latents the paper's bottleneck would cut the
image off entirely; "prompt tokens can still see the image" (Sec. 4.4.2).
"""

from livr.methods.base import DEFAULT_NUM_LATENTS, Method, Stage

LATENTS_ONLY = Method(
    "latents_only", "latent tokens without bottleneck training (Table 3)",
    stages=(Stage(2, mask="standard", epochs=10, epochs_field="stage2_epochs"),),
    num_latents=DEFAULT_NUM_LATENTS)

MASK_ONLY = Method(
    "mask_only", "stage-1 bottleneck without latents; prompt tokens still see the image (Table 3)",
    stages=(Stage(1, mask="answer_bottleneck", epochs=4, epochs_field="stage1_epochs",
                  mask_field="stage1_mask", trainable=("lora",)),
            Stage(2, mask="standard", epochs=6, epochs_field="stage2_epochs", trainable=("lora",))))

IMAGE_TWICE = Method(
    "image_twice", "image tokens given twice, a control for extra visual compute (Table 3)",
    stages=(Stage(2, mask="standard", epochs=10, epochs_field="stage2_epochs", trainable=("lora",)),),
    image_repeats=2)

PROMPT_TUNING = Method(
    "prompt_tuning", "only the latent embedding rows are trained (Table 3)",
    stages=(Stage(2, mask="standard", epochs=10, epochs_field="stage2_epochs", trainable=("latents",)),),
    num_latents=DEFAULT_NUM_LATENTS)

METHODS = (LATENTS_ONLY, MASK_ONLY, IMAGE_TWICE, PROMPT_TUNING)
