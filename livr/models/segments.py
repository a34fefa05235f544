"""Segments: every token of a sequence is tagged with the part of the input it belongs to.

Mask policies (livr.models.masks) are declared in terms of these tags, so the method never looks
at token ids: the collator tags, the policy decides who may attend to whom.
"""

from __future__ import annotations

from enum import IntEnum


class Segment(IntEnum):
    TEMPLATE = 0  # chat-template tokens (role headers, <|vision_start|>, <|im_end|>, newlines ...)
    IMAGE = 1  # the visual tokens that the vision encoder's outputs replace
    PROMPT = 2  # the user's question text
    LATENT = 3  # the K latent tokens
    ANSWER = 4  # the assistant's answer text and its closing end-of-turn token
    PAD = 5  # batch padding


NUM_SEGMENTS = len(Segment)
