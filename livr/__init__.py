"""livr: Latent Implicit Visual Reasoning for vision-language models.

Public API (kept stable):

    load_backbone(name, num_latents=16, ...) -> LivrModel
    LivrModel.collator(mask_policy=...)(records) -> batch
    LivrModel(batch) -> transformers outputs with .logits (and .loss when labels are present)
    POLICIES, MaskPolicy, build_attention_mask, Segment, LatentSpec
"""

from livr.models.latents import LatentSpec
from livr.models.loading import LivrModel, load_backbone
from livr.models.masks import POLICIES, MaskPolicy, build_attention_mask, get_policy
from livr.models.segments import Segment

__all__ = [
    "LatentSpec",
    "LivrModel",
    "MaskPolicy",
    "POLICIES",
    "Segment",
    "build_attention_mask",
    "get_policy",
    "load_backbone",
]
__version__ = "0.1.0"
