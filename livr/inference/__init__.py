"""Inference shared by training-time validation, `livr eval`, the probes and `livr export`:
answer extraction and scoring (`answers`), batched greedy generation (`generate`), the exported
chat template with the latent tokens (`chat_template`), and the processor of a model folder with
or without torchvision (`processor.load_processor`)."""


def load_processor(path, **kwargs):
    """See `livr.inference.processor.load_processor` (imported on first use: no torch at import)."""
    from livr.inference.processor import load_processor as load

    return load(path, **kwargs)
