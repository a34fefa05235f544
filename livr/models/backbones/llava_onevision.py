"""LLaVA-OneVision (native transformers class; SigLIP + Qwen2, anyres tiling, 1-D positions).

This is the LLaVA-style path: the image placeholder `<image>` expands to one token per visual
feature (base image, tiles and newline features), positions are plain 1-D.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from transformers import (
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessorPil,
    LlavaOnevisionProcessor,
)

from livr.errors import ConfigError, DataError, LivrError
from livr.models.backbones.base import BackboneAdapter, TinySize, from_pretrained_kwargs, tiny_text_config
from livr.models.tokenizer import byte_level_tokenizer

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class LlavaOnevisionImageOnlyProcessor(LlavaOnevisionProcessor):
    """The LLaVA-OneVision processor without a video processor (which needs torchvision)."""

    # The native signature minus the video processor: `save_pretrained` writes the settings named
    # in the signature, so the saved processor_config.json has the native processor's fields.
    def __init__(self, image_processor=None, tokenizer=None, num_image_tokens=None,
                 vision_feature_select_strategy=None, chat_template=None, image_token="<image>",
                 video_token="<video>", vision_aspect_ratio="anyres_max_9", **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                         num_image_tokens=num_image_tokens,
                         vision_feature_select_strategy=vision_feature_select_strategy,
                         chat_template=chat_template, image_token=image_token, video_token=video_token,
                         vision_aspect_ratio=vision_aspect_ratio, **kwargs)


class LlavaOnevisionAdapter(BackboneAdapter):
    family = "llava_onevision"
    image_token = "<image>"
    vision_keys = ("pixel_values", "image_sizes", "batch_num_images")
    vision_modules = ("vision_tower", "multi_modal_projector")
    native_processor = "LlavaOnevisionProcessor"
    video_processor = "LlavaOnevisionVideoProcessor"
    tiny_image_size = 56
    tiny_patch = 14

    def tiny_processor(self):
        tokenizer = byte_level_tokenizer(SPECIAL_TOKENS, CHAT_TEMPLATE)
        s = self.tiny_image_size
        pinpoints = [[s, s], [s, 2 * s], [2 * s, s], [2 * s, 2 * s]]
        image_processor = LlavaOnevisionImageProcessorPil(
            size={"height": s, "width": s},
            crop_size={"height": s, "width": s},
            image_grid_pinpoints=pinpoints,
            do_center_crop=False,
        )
        return LlavaOnevisionImageOnlyProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            chat_template=CHAT_TEMPLATE,
            num_image_tokens=(s // self.tiny_patch) ** 2,
            vision_feature_select_strategy="full",
        )

    def build_tiny(self, *, tie_word_embeddings=False, size=TinySize(), attn_implementation="sdpa",
                   seed=0):
        processor = self.tiny_processor()
        tokenizer = processor.tokenizer
        s = self.tiny_image_size
        config = LlavaOnevisionConfig(
            text_config=tiny_text_config(tokenizer, size, tie_word_embeddings, model_type="qwen2"),
            vision_config=dict(
                model_type="siglip_vision_model",
                hidden_size=size.vision_hidden,
                intermediate_size=2 * size.vision_hidden,
                num_hidden_layers=size.vision_layers,
                num_attention_heads=size.vision_heads,
                image_size=s,
                patch_size=self.tiny_patch,
            ),
            image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
            video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
            image_grid_pinpoints=processor.image_processor.image_grid_pinpoints,
            vision_feature_select_strategy="full",
            vision_feature_layer=-1,
            tie_word_embeddings=tie_word_embeddings,
        )
        torch.manual_seed(seed)
        model = LlavaOnevisionForConditionalGeneration._from_config(
            config, attn_implementation=attn_implementation
        )
        return model, processor

    def load_processor(self, name_or_path, **kwargs):
        return LlavaOnevisionImageOnlyProcessor.from_pretrained(name_or_path, **kwargs)

    def load_pretrained(self, name_or_path, *, dtype=None, attn_implementation=None,
                        trust_remote_code=False, processor_kwargs=None):
        kwargs = from_pretrained_kwargs(dtype, attn_implementation, trust_remote_code)
        model = LlavaOnevisionForConditionalGeneration.from_pretrained(name_or_path, **kwargs)
        return model, self.load_processor(name_or_path, **(processor_kwargs or {}))

    def roi_mapper(self, model, processor):
        config = model.config
        if config.vision_feature_select_strategy != "full":
            raise ConfigError(f"method lvr needs vision_feature_select_strategy 'full' on {self.family} "
                              f"(this model uses {config.vision_feature_select_strategy!r})")
        ip = processor.image_processor
        tile = int(config.vision_config.image_size)
        crop = ip.crop_size["height"] if getattr(ip, "do_center_crop", False) and ip.crop_size else None
        if int(ip.size["height"]) != tile or (crop is not None and int(crop) != tile):
            raise ConfigError(f"method lvr on {self.family}: the processor's image size "
                              f"{dict(ip.size)} differs from the vision tower's {tile}")
        geometry = dict(base_grid=tile // int(config.vision_config.patch_size),
                        patch=int(config.vision_config.patch_size), tile_size=tile,
                        pinpoints=[list(p) for p in config.image_grid_pinpoints],
                        max_tiles=int(str(config.vision_aspect_ratio).strip("anyres_max_")))
        return functools.partial(self.roi_tokens, geometry=geometry)

    def roi_tokens(self, record, vision, rid, geometry=None):
        """Indices over the record's `<image>` features: per image the base-grid cells, then
        the unpadded tile-grid cells (newline features skipped) that intersect the ROI
        (`livr.data.roi.anyres_roi_token_indices`)."""
        from transformers.image_processing_utils import select_best_resolution

        from livr.data.roi import anyres_roi_token_indices, anyres_token_count, roi_boxes

        if geometry is None:
            raise ConfigError(f"{self.family}: ROI tokens depend on the model's config; use "
                              "adapter.roi_mapper(model, processor)")
        geometry = dict(geometry)
        pinpoints, patch = geometry.pop("pinpoints"), geometry.pop("patch")
        sizes = [(int(w), int(h)) for h, w in vision["image_sizes"].tolist()]
        multi = len(sizes) != 1  # the model tiles only single-image records
        try:
            boxes = roi_boxes(record, sizes)
        except (KeyError, ValueError) as err:
            if isinstance(err, LivrError):
                raise
            raise DataError(f"record {rid}: no region of interest for LVR ({err})") from None
        out, offset = [], 0
        for image_boxes, (w, h) in zip(boxes, sizes):
            best = tuple(select_best_resolution((h, w), pinpoints))
            idx = anyres_roi_token_indices(image_boxes, (w, h), patch=patch, best_resolution=best,
                                           multi_image=multi, **geometry)
            out.extend(offset + i for i in idx)
            offset += anyres_token_count((w, h), best_resolution=best, multi_image=multi, **geometry)
        return out

    def processor_images_arg(self, images):
        return [images]

    def collate_vision(self, items):
        if not items:
            return {}
        # pixel_values: (images, tiles, C, H, W); records differ in tile count, so pad tiles
        # with zeros (the model reads the real count from image_sizes and ignores the rest).
        max_tiles = max(it["pixel_values"].shape[1] for it in items)
        padded = [
            F.pad(it["pixel_values"], (0, 0, 0, 0, 0, 0, 0, max_tiles - it["pixel_values"].shape[1]))
            for it in items
        ]
        return {
            "pixel_values": torch.cat(padded, dim=0),
            "image_sizes": torch.cat([it["image_sizes"] for it in items], dim=0),
            "batch_num_images": torch.cat([it["batch_num_images"] for it in items], dim=0),
        }


ADAPTER = LlavaOnevisionAdapter()
