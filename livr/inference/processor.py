"""`load_processor(PATH)`: the processor of a model folder (a `livr export` folder, a backbone's
hub folder or id), with or without torchvision.

    processor = load_processor("exported/loc-livr")
    model = AutoModelForImageTextToText.from_pretrained("exported/loc-livr")

Where torchvision is installed this is `AutoProcessor.from_pretrained(PATH)`: transformers' own
processor with its video processor. Without torchvision no native Qwen-VL or LLaVA-OneVision
processor can be built (each requires its video processor, and the video processors import
torchvision), so it returns livr's image-only subclass of the native class, read from the same
files: the same image processor, tokenizer and chat template, the same `__call__` and
`apply_chat_template`, only no `videos=`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from livr.errors import ConfigError


def load_processor(path: str | os.PathLike, **kwargs):
    """The processor saved in the model folder (or hub id) `path`; `kwargs` go to `from_pretrained`."""
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(str(path), **kwargs)
    from livr.models.backbones import get_adapter

    return get_adapter(_family(Path(path), kwargs.get("trust_remote_code", False))).load_processor(str(path), **kwargs)


def _family(path: Path, trust_remote_code: bool) -> str:
    """The backbone family of a model folder (its config.json, else the processor class its
    processor_config.json names) or of a hub id."""
    from livr.models.backbones import FAMILIES, family_from_model_type, get_adapter
    from livr.models.loading import resolve_family

    config, processor = path / "config.json", path / "processor_config.json"
    try:
        if config.is_file():
            return family_from_model_type(json.loads(config.read_text()).get("model_type", ""))
        if processor.is_file():
            name = json.loads(processor.read_text()).get("processor_class")
            for family in FAMILIES:
                if get_adapter(family).native_processor == name:
                    return family
            raise ConfigError(f"{processor} names processor class {name!r}, which is not one of livr's families")
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: its config is unreadable ({err})") from None
    return resolve_family(str(path), trust_remote_code)[0]
