"""Direct SFT: the base model fine-tuned with LoRA on the answers, standard mask, no latents."""

from livr.methods.base import Method, Stage

STAGE_2 = Stage(2, mask="standard", epochs=10, epochs_field="stage2_epochs", trainable=("lora",))

METHOD = Method("sft", "Direct SFT: no latents, standard mask", stages=(STAGE_2,))
