"""The exported chat template puts the latents where training put them (after or before the prompt),
and an export holds the processor files of its family's native processor."""

import inspect
import json

import numpy as np
import pytest
from PIL import Image

from livr.evaluation.generate import encode_prompts
from livr.models.loading import load_backbone
from livr.training.export import latent_chat_template


@pytest.mark.parametrize("position,shared", [("after", False), ("before", False), ("after", True)])
def test_template_matches_the_encoder(position, shared):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=3, latent_position=position, shared_latents=shared)
    image = Image.fromarray((np.random.default_rng(0).random((56, 56, 3)) * 255).astype("uint8"))
    record = {"id": "r", "images": [image], "prompt": "Which one? (A) x (B) y", "answer": "A"}
    expected = encode_prompts(lm, [record])[0].input_ids.tolist()

    template = latent_chat_template(lm.processor.chat_template, lm.latents.sequence(), position)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": record["prompt"]}]}]
    text = lm.processor.apply_chat_template(messages, chat_template=template, add_generation_prompt=True,
                                            tokenize=False)
    ids = lm.processor(text=[text], images=[image], return_tensors="pt")["input_ids"][0].tolist()
    assert ids == expected

    # earlier turns are left alone, plain-string content works too
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"}]
    text = lm.processor.apply_chat_template(chat, chat_template=template, add_generation_prompt=True,
                                            tokenize=False)
    latents = "".join(lm.latents.sequence())
    assert text.count(latents) == 1
    assert (latents + "again" if position == "before" else "again" + latents) in text


# What transformers 5.23's `ProcessorMixin.save_pretrained` writes for a processor with one
# tokenizer and a single (string) chat template: the sub-processors' configs nested in
# processor_config.json, the template as chat_template.jinja, the tokenizer's two files.
PROCESSOR_FILES = {"processor_config.json", "chat_template.jinja", "tokenizer.json", "tokenizer_config.json"}
# transformers' own processor and video processor classes of each family (VIDEO_PROCESSOR_MAPPING_NAMES)
NATIVE = {"qwen2_5_vl": ("Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor"),
          "qwen3_vl": ("Qwen3VLProcessor", "Qwen3VLVideoProcessor"),
          "qwen3_5": ("Qwen3VLProcessor", "Qwen3VLVideoProcessor"),
          "llava_onevision": ("LlavaOnevisionProcessor", "LlavaOnevisionVideoProcessor")}


def plain(config: dict) -> dict:
    """`config` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(config))


@pytest.mark.parametrize("family", sorted(NATIVE))
def test_export_processor_files_are_the_native_processors(family, tmp_path):
    """The files and every config field the family's native processor writes: processor_class and
    the nested image processor read back field for field, the video processor config names the
    family's video class and carries the image pipeline's settings, the chat template has the
    latents; and the processor loads back through `livr.inference.load_processor`."""
    import transformers
    from transformers import AutoImageProcessor

    from livr.inference import load_processor
    from livr.models.backbones import get_adapter
    from livr.training.export import write_processor_files

    adapter = get_adapter(family)
    processor = adapter.tiny_processor() if family == "llava_onevision" else adapter.tiny_processor(112 * 112)
    latents = [f"<|latent_{i}|>" for i in range(3)]
    processor.tokenizer.add_tokens(latents, special_tokens=True)
    processor.chat_template = latent_chat_template(processor.chat_template, latents, "after")
    write_processor_files(tmp_path, processor, family)

    assert {p.name for p in tmp_path.iterdir()} == PROCESSOR_FILES
    native, video = NATIVE[family]
    assert hasattr(transformers, native) and hasattr(transformers, video)  # real names in this transformers
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["processor_class"] == native
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["processor_class"] == native
    # every image processor field, as transformers reads it back (the backend-neutral class name,
    # so that the torchvision and the PIL backends both load it)
    image = saved["image_processor"]
    assert image == plain(processor.image_processor.to_dict())
    assert plain(AutoImageProcessor.from_pretrained(tmp_path).to_dict()) == image
    assert not image["image_processor_type"].endswith("Pil")
    # the processor's own settings: the native processor saves those of its attributes that its
    # `__init__` names (ProcessorMixin.to_dict), e.g. LLaVA-OneVision's image token count,
    # feature strategy, image and video tokens and aspect ratio
    named = set(inspect.signature(getattr(transformers, native).__init__).parameters) - {
        "self", "kwargs", "chat_template", "image_processor", "tokenizer", "video_processor"}
    expected = plain({k: getattr(processor, k) for k in named if k in vars(processor)})
    assert {k: v for k, v in saved.items() if k not in ("image_processor", "video_processor",
                                                        "processor_class")} == expected
    # the video processor: the family's class; the fields shared with the image pipeline equal
    # the image processor's; any other field is that class's default when transformers loads it
    videos = saved["video_processor"]
    assert videos["video_processor_type"] == video
    assert set(videos) == {"video_processor_type", *(k for k in adapter.video_fields if k in image)}
    assert all(videos[k] == image[k] for k in adapter.video_fields if k in image)
    if family != "llava_onevision":
        assert {"patch_size", "merge_size", "temporal_patch_size"} <= set(videos)
    assert (tmp_path / "chat_template.jinja").read_text() == processor.chat_template

    loaded = load_processor(tmp_path)
    assert type(loaded).__mro__[1].__name__ == native or type(loaded).__name__ == native
    assert plain(loaded.image_processor.to_dict()) == image
    assert loaded.chat_template == processor.chat_template
    text = loaded.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]}],
                                      add_generation_prompt=True, tokenize=False)
    assert "Q?" + "".join(latents) in text  # the latents, appended where training put them
    assert loaded.tokenizer.convert_tokens_to_ids(latents) == processor.tokenizer.convert_tokens_to_ids(latents)


def test_video_config_of_a_backbone_folder_is_the_backbones(tmp_path):
    """A backbone folder that has its own video processor config passes it on unchanged."""
    from livr.models.backbones import get_adapter
    from livr.training.export import video_processor_config

    own = {"video_processor_type": "Qwen3VLVideoProcessor", "fps": 2, "patch_size": 16,
           "size": {"longest_edge": 25165824, "shortest_edge": 4096}, "processor_class": "Qwen3VLProcessor"}
    (tmp_path / "video_preprocessor_config.json").write_text(json.dumps(own))
    got = video_processor_config(get_adapter("qwen3_vl"), {"patch_size": 99}, str(tmp_path))
    assert got == {k: v for k, v in own.items() if k != "processor_class"}
    # none there (a tiny model): derived from the image processor
    assert video_processor_config(get_adapter("qwen3_vl"), {"patch_size": 16, "foo": 1}, "tiny:qwen3_vl") == {
        "patch_size": 16, "video_processor_type": "Qwen3VLVideoProcessor"}


@pytest.mark.skipif(__import__("transformers").utils.is_torchvision_available(), reason="torchvision is installed")
@pytest.mark.parametrize("family", sorted(NATIVE))
def test_auto_processor_finds_every_file_and_needs_only_torchvision(family, tmp_path):
    """The issue's symptom: AutoProcessor stopped at a missing video processor config (OSError).
    Now every file is found and only the video processor class itself is missing here."""
    from transformers import AutoProcessor

    from livr.models.backbones import get_adapter
    from livr.training.export import write_processor_files

    adapter = get_adapter(family)
    processor = adapter.tiny_processor() if family == "llava_onevision" else adapter.tiny_processor(112 * 112)
    write_processor_files(tmp_path, processor, family)
    with pytest.raises(ImportError, match=f"{NATIVE[family][1]} requires the Torchvision library"):
        AutoProcessor.from_pretrained(tmp_path)


@pytest.mark.skipif(not __import__("transformers").utils.is_torchvision_available(),
                    reason="the native processor needs torchvision (not installed here)")
@pytest.mark.parametrize("family", sorted(NATIVE))
def test_auto_processor_loads_the_export_with_torchvision(family, tmp_path):
    from transformers import AutoProcessor

    from livr.models.backbones import get_adapter
    from livr.training.export import write_processor_files

    adapter = get_adapter(family)
    processor = adapter.tiny_processor() if family == "llava_onevision" else adapter.tiny_processor(112 * 112)
    write_processor_files(tmp_path, processor, family)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded).__name__ == NATIVE[family][0]
    saved = json.loads((tmp_path / "processor_config.json").read_text())["video_processor"]
    assert {k: v for k, v in loaded.video_processor.to_dict().items() if k in saved} == saved
