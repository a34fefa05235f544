"""`export_run(RUN, OUT)`: a finished run as a standalone Hugging Face model folder.

The LoRA weights and the trained latent rows are merged into the backbone (peft
`merge_and_unload`), the tokenizer keeps the latent tokens, and the chat template appends the K
latent tokens to the last user message exactly where training put them (after the prompt text, or
before it with `latent_position: before`). The processor files are those the family's own
processor writes (`write_processor_files`), so the standard two lines load the folder without
livr wherever they load the original backbone:

    processor = AutoProcessor.from_pretrained(OUT)     # needs torchvision; else livr.inference.load_processor(OUT)
    model = AutoModelForImageTextToText.from_pretrained(OUT)
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    # -> "...<|image_pad|>...question<|latent_0|>...<|latent_15|><|im_end|>\n<|im_start|>assistant\n"
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
        write_processor_files(tmp, processor, lm.info["family"], config.model)
        tasks = json.loads((Path(run_dir) / "metrics.json").read_text()).get("tasks")
        info = {"livr_run": str(Path(run_dir).resolve()), "method": config.method, "tasks": tasks,
                "base_model": config.model, "seed": config.seed, "num_latents": config.num_latents,
                "latent_position": config.latent_position, "shared_latents": config.shared_latents,
                "latent_tokens": latents}
        (tmp / "livr_export.json").write_text(json.dumps(info, indent=2) + "\n")
    return out


def write_processor_files(folder: Path, processor, family: str, base_model: str | None = None) -> None:
    """The processor files of the family's own hub folders, as transformers' native processor
    writes them (`save_pretrained`): processor_config.json with the image processor and the video
    processor nested, chat_template.jinja, tokenizer.json and tokenizer_config.json.

    livr runs an image-only subclass of the native processor (the video processor needs
    torchvision), so the files are written by that subclass and then completed: both
    processor_class entries name the native class, and the video processor's config is added
    (`video_processor_config`). With torchvision, `AutoProcessor.from_pretrained(folder)` builds
    the native processor from them; without it, `livr.inference.load_processor(folder)` builds the
    image-only one.
    """
    from livr.models.backbones import get_adapter

    adapter = get_adapter(family)
    processor.save_pretrained(str(folder))
    if not adapter.native_processor:
        return  # a remote-code processor (LLaVA-OneVision-1.5) already wrote its own layout
    config = json.loads((folder / "processor_config.json").read_text())
    config["processor_class"] = adapter.native_processor
    config["video_processor"] = video_processor_config(adapter, config["image_processor"], base_model)
    _write_json(folder / "processor_config.json", config)
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config["processor_class"] = adapter.native_processor
    _write_json(folder / "tokenizer_config.json", tokenizer_config)


def video_processor_config(adapter, image_processor: dict, base_model: str | None = None) -> dict:
    """The video processor config of an export.

    When the backbone is a folder, or a hub id already in the local cache, that holds a video
    processor config (nested in processor_config.json, or video_preprocessor_config.json, or the
    image processor's preprocessor_config.json that transformers falls back to), it is taken as
    is: the export's video processor is the backbone's. Otherwise (tiny models, livr-tiny) it is
    written from the family's defaults: the family's video processor class, and the fields that
    must agree with the image pipeline (`adapter.video_fields`: size, mean and std, rescaling, and
    for Qwen-VL the patch, temporal patch and merge sizes) copied from the image processor; every
    other field is that class's own default in the reader's transformers.
    """
    found = _backbone_video_config(base_model) if base_model else None
    if found is not None:
        found.pop("image_processor_type", None)
        found.pop("processor_class", None)
        return {**found, "video_processor_type": adapter.video_processor}
    fields = {k: image_processor[k] for k in adapter.video_fields if k in image_processor}
    return {**fields, "video_processor_type": adapter.video_processor}


def _backbone_video_config(name: str) -> dict | None:
    """The video processor config transformers would read for the backbone `name`, offline, or
    None when there is none (tiny models, livr-tiny, a hub id not in the cache)."""
    from transformers.video_processing_utils import BaseVideoProcessor

    from livr.models.loading import shipped_model_dir

    if name.startswith("tiny:"):
        return None
    try:
        source = shipped_model_dir(name) or name
        config, _ = BaseVideoProcessor.get_video_processor_dict(source, local_files_only=True)
    except (OSError, ValueError, ConfigError):
        return None
    return dict(config)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
