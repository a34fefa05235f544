"""`export_run(RUN, OUT)`: a finished run as a standalone Hugging Face model folder.

The LoRA weights and the trained latent rows are merged into the backbone (peft
`merge_and_unload`), the tokenizer keeps the latent tokens, and the chat template appends the K
latent tokens to the last user message exactly where training put them (after the prompt text, or
before it with `latent_position: before`). Plain transformers then loads and generates with the
folder, without livr: any serving stack that runs the base model can serve the result.

    model = AutoModelForImageTextToText.from_pretrained(OUT)
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    # -> "...<image>question<|latent_0|>...<|latent_15|><|im_end|>\\n<|im_start|>assistant\\n"
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from livr.errors import ConfigError
from livr.inference.chat_template import latent_chat_template
from livr.io import atomic_dir


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, *, merge: bool = True,
               overwrite: bool = False) -> Path:
    """Write the merged standalone model folder `out` for the finished run `run_dir`."""
    from livr.runs.folder import load_run

    if not merge:
        raise ConfigError("only merged exports are supported: pass --merge (the run folder itself "
                          "already holds the adapter for peft users)")
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"--out {out} already exists; pass --overwrite or choose another folder")
    from livr.runs.folder import saved_config

    if saved_config(Path(run_dir)).method_spec.decoding != "greedy":
        raise ConfigError(f"run {run_dir} was trained with method lvr, which decodes in latent mode "
                          "(hidden states fed back as inputs): plain generate() cannot do that, so it "
                          "is not exported yet; evaluate the run folder itself with `livr eval --model RUN`")
    lm, config = load_run(run_dir)
    model = lm.model if config.full_finetune else lm.model.merge_and_unload()
    processor = lm.processor
    latents = lm.latents.sequence()
    if latents:
        for owner in (processor, processor.tokenizer):
            if getattr(owner, "chat_template", None):
                owner.chat_template = latent_chat_template(owner.chat_template, latents, config.latent_position)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save_pretrained(str(tmp))
        processor.save_pretrained(str(tmp))
        _native_processor_class(tmp, processor)
        tasks = json.loads((Path(run_dir) / "metrics.json").read_text()).get("tasks")
        info = {"livr_run": str(Path(run_dir).resolve()), "method": config.method, "tasks": tasks,
                "base_model": config.model, "seed": config.seed, "num_latents": config.num_latents,
                "latent_position": config.latent_position, "shared_latents": config.shared_latents,
                "latent_tokens": latents}
        (tmp / "livr_export.json").write_text(json.dumps(info, indent=2) + "\n")
    return out


def _native_processor_class(folder: Path, processor) -> None:
    """Name transformers' own processor class in processor_config.json (livr saves its image-only
    subclass, which exists only inside livr), so that `AutoProcessor` works where torchvision is
    installed; without torchvision, load the tokenizer and image processor separately."""
    import transformers

    path = folder / "processor_config.json"
    if not path.is_file():
        return
    native = next((c.__name__ for c in type(processor).__mro__
                   if getattr(transformers, c.__name__, None) is c), None)
    data = json.loads(path.read_text())
    if native and data.get("processor_class") != native:
        data["processor_class"] = native
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
