"""Records -> model inputs through the backbone's chat template, with a segment tag per token.

`Encoder.encode(record)` renders the conversation with the chat template, splits it at the user
text and the answer, and tokenizes each piece (the piece holding the images goes through the
processor, which expands image placeholders and returns pixel tensors). Concatenating the pieces
gives exactly the template's tokens, and tells us which segment every token belongs to without
searching for sub-sequences. Labels cover the answer tokens and the closing end-of-turn token.
`Collator` pads a list of encoded examples into a batch; it never truncates: a sequence longer
than `max_length` is refused with an error naming the record.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from livr.errors import DataError
from livr.models.segments import Segment

IGNORE_INDEX = -100
MAX_IMAGES = 4
# Private-use characters: never produced by a tokenizer's normal text, so splitting on them is safe.
_USER_SENTINEL = "\ue000LIVR_USER\ue000"
_ANSWER_SENTINEL = "\ue001LIVR_ANSWER\ue001"


def _record_id(record: dict, index: int | None = None) -> str:
    rid = record.get("id")
    return repr(rid) if rid is not None else f"at index {index}"


def load_image(image: Any, where: str, position: int | None) -> Image.Image:
    """Accept a PIL image, a path, raw bytes or a `datasets` {'bytes', 'path'} dict; errors start
    with `where` ("record 'id'"), position None is the record's helper image. An image too large
    for PIL (a decompression bomb) is refused."""
    which = "the helper image" if position is None else f"image {position + 1}"
    try:
        if isinstance(image, Image.Image):
            img = image
        elif isinstance(image, dict) and (image.get("bytes") or image.get("path")):
            img = Image.open(io.BytesIO(image["bytes"])) if image.get("bytes") else Image.open(image["path"])
        elif isinstance(image, (bytes, bytearray)):
            img = Image.open(io.BytesIO(image))
        elif isinstance(image, str):
            img = Image.open(image)
        else:
            raise DataError(
                f"{where}: {which} has unsupported type "
                f"{type(image).__name__}; give a PIL image, a file path or bytes"
            )
        img.load()
        return img.convert("RGB")
    except UnidentifiedImageError:
        raise DataError(f"{where}: {which} cannot be read (not an image file PIL can identify: corrupt "
                        "or in an unsupported format)") from None
    except (Image.DecompressionBombError, OSError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{where}: {which} cannot be read ({err.__class__.__name__}: {err})") from None


@dataclass
class EncodedExample:
    """One record as token ids, segment tags and labels, plus its processor vision tensors."""

    id: str
    input_ids: torch.Tensor  # (L,) long
    segment_ids: torch.Tensor  # (L,) long, values of Segment
    labels: torch.Tensor  # (L,) long, IGNORE_INDEX outside the answer
    vision: dict[str, torch.Tensor]
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # per-token, padded with -1 (LVR)
    helper: "EncodedExample | None" = None  # Mirage: the helper image alone (its vision pass gives the targets)


class Encoder:
    """Encodes records for one backbone (adapter + processor) and latent layout."""

    def __init__(self, adapter, processor, latent_spec, latent_ids: list[int] | None = None,
                 image_repeats: int = 1, lvr=None, roi_tokens=None, mirage=None):
        self.adapter = adapter
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.spec = latent_spec
        self.image_token_id = adapter.image_token_id(processor)
        if latent_spec.enabled:
            ids = {t: self.tokenizer.convert_tokens_to_ids(t) for t in latent_spec.vocabulary()}
            self.latent_sequence = torch.tensor([ids[t] for t in latent_spec.sequence()], dtype=torch.long)
        else:
            self.latent_sequence = torch.zeros(0, dtype=torch.long)
        if image_repeats < 1:
            raise DataError(f"image_repeats must be >= 1, got {image_repeats}")
        self.image_repeats = image_repeats
        # LVR: its span opens the assistant turn; `roi_tokens(record, vision, rid)` gives the
        # indices (over the record's image tokens, in order) of the ROI's merged image tokens
        self.lvr = lvr if lvr is not None and lvr.enabled else None
        if self.lvr is not None:
            from livr.data.lvr_layout import END, LATENT_END, SLOT, START

            if roi_tokens is None:
                raise DataError("an LVR encoder needs roi_tokens (record -> ROI token indices)")
            self.roi_tokens = roi_tokens
            self.lvr_ids = {t: self.tokenizer.convert_tokens_to_ids(t) for t in (START, SLOT, END, LATENT_END)}
            self.lvr_names = (START, SLOT, END, LATENT_END)
        # Mirage: <|latent_start|> + K pads + <|latent_end|> open the assistant turn
        self.mirage = mirage
        if mirage is not None:
            from livr.data.mirage_layout import TOKENS as MIRAGE_TOKENS

            self.mirage_ids = [torch.tensor([self.tokenizer.convert_tokens_to_ids(t)]) for t in MIRAGE_TOKENS]
            self.helper_encoder = Encoder(adapter, processor, type(latent_spec)(num_latents=0))

    # -- text pieces --------------------------------------------------------------------------
    def _render(self, num_images: int, with_answer: bool) -> tuple[str, str, str]:
        """Template text split into (before user text, between user text and answer, after)."""
        content = [{"type": "image"}] * num_images + [{"type": "text", "text": _USER_SENTINEL}]
        messages = [{"role": "user", "content": content}]
        if with_answer:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": _ANSWER_SENTINEL}]})
        text = self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=not with_answer
        )
        pre, sep, rest = text.partition(_USER_SENTINEL)
        if not sep or _USER_SENTINEL in rest:
            raise DataError("the chat template does not place the user text exactly once")
        if not with_answer:
            return pre, rest, ""
        mid, sep, post = rest.partition(_ANSWER_SENTINEL)
        if not sep:
            raise DataError("the chat template does not place the assistant answer")
        return pre, mid, post

    def _ids(self, text: str) -> torch.Tensor:
        if not text:
            return torch.zeros(0, dtype=torch.long)
        return torch.tensor(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)

    # -- records -----------------------------------------------------------------------------
    def encode(self, record: dict, *, with_answer: bool = True, index: int | None = None) -> EncodedExample:
        rid = _record_id(record, index)
        images = record.get("images")
        if images is None or len(images) == 0:
            raise DataError(f"record {rid} has no images (livr needs 1 to {MAX_IMAGES})")
        if len(images) > MAX_IMAGES:
            raise DataError(f"record {rid} has {len(images)} images; at most {MAX_IMAGES} are supported")
        prompt = record.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError(f"record {rid} has no prompt text")
        answer = record.get("answer")
        if with_answer and (not isinstance(answer, str) or not answer.strip()):
            raise DataError(f"record {rid} has no answer; every training record needs one")
        pil = [load_image(img, f"record {rid}", i) for i, img in enumerate(images)] * self.image_repeats

        pre_text, mid_text, post_text = self._render(len(pil), with_answer)
        try:
            pre = self.processor(
                text=[pre_text], images=self.adapter.processor_images_arg(pil), return_tensors="pt"
            )
        except Exception as err:  # the processor's own message says what is wrong with the image
            raise DataError(f"record {rid}: the processor cannot use its images ({err})") from None
        pre_ids = pre["input_ids"][0][pre["attention_mask"][0].bool()]
        vision = {k: pre[k] for k in self.adapter.vision_keys if k in pre}

        prompt_ids = self._ids(prompt)
        latents = self.latent_sequence
        if self.spec.position == "after":
            user = [(prompt_ids, Segment.PROMPT), (latents, Segment.LATENT)]
        else:
            user = [(latents, Segment.LATENT), (prompt_ids, Segment.PROMPT)]
        pieces = [(pre_ids, Segment.TEMPLATE), *user, (self._ids(mid_text), Segment.TEMPLATE)]
        selected: list[int] = []
        if self.lvr is not None:
            lvr_pieces, selected = self._lvr_span(record, vision, rid, with_answer)
            pieces += lvr_pieces
        if self.mirage is not None:
            start, pad, end = self.mirage_ids
            if with_answer:  # CE on start and end (the model opens and closes its span), none on pads
                pieces += [(start, Segment.ANSWER), (pad.repeat(self.mirage.latents), Segment.LATENT),
                           (end, Segment.ANSWER)]
            else:  # decoding enters latent mode right after <|latent_start|>
                pieces.append((start, Segment.TEMPLATE))
        if with_answer:
            pieces.append((self._ids(answer), Segment.ANSWER))
            post_ids = self._ids(post_text)
            # the closing end-of-turn token is part of what the model must learn to produce
            pieces += [(post_ids[:1], Segment.ANSWER), (post_ids[1:], Segment.TEMPLATE)]

        input_ids = torch.cat([ids for ids, _ in pieces])
        segment_ids = torch.cat([torch.full((len(ids),), int(seg), dtype=torch.long) for ids, seg in pieces])
        segment_ids[input_ids == self.image_token_id] = Segment.IMAGE
        labels = torch.where(segment_ids == Segment.ANSWER, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
        extra = {}
        if self.lvr is not None and with_answer:
            from livr.data.lvr_layout import slot_sources

            sources = torch.full_like(input_ids, -1)
            slots = (input_ids == self.lvr_ids[self.lvr_names[1]]).nonzero(as_tuple=True)[0]
            image_positions = (input_ids == self.image_token_id).nonzero(as_tuple=True)[0]
            sources[slots] = slot_sources(image_positions, selected, f"record {rid}")
            extra["lvr_source"] = sources
        helper = None
        if self.mirage is not None and with_answer:
            if record.get("helper_image") is None:
                raise DataError(f"record {rid} has no helper_image; Mirage supervises its latents with one "
                                "(the jigsaw and vsp generators and the COCO jigsaw builder fill it)")
            helper = self.helper_encoder.encode({"id": rid, "images": [record["helper_image"]], "prompt": "."},
                                                with_answer=False)
        return EncodedExample(id=str(record.get("id", index)), input_ids=input_ids,
                              segment_ids=segment_ids, labels=labels, vision=vision, extra=extra,
                              helper=helper)

    def _lvr_span(self, record: dict, vision: dict, rid: str, with_answer: bool):
        """LVR's span before the answer: <|lvr_start|> (learned, CE), then in training the slots
        (LATENT, no CE; one per selected ROI token), the latent-end slot for exit latent_end,
        and <|lvr_end|> (inserted by the decoder, no CE). At generation only <|lvr_start|>:
        decoding enters latent mode right after it."""
        from livr.data.lvr_layout import select_roi_tokens

        start, slot, end, latent_end = (torch.tensor([self.lvr_ids[t]]) for t in self.lvr_names)
        if not with_answer:
            return [(start, Segment.TEMPLATE)], []
        roi = self.roi_tokens(record, vision, rid)
        selected = select_roi_tokens(roi, self.lvr)
        if not selected:
            raise DataError(f"record {rid}: its ROI covers no image token; LVR needs at least one")
        pieces = [(start, Segment.ANSWER), (slot.repeat(len(selected)), Segment.LATENT)]
        if self.lvr.exit == "latent_end":
            pieces.append((latent_end, Segment.LATENT))
        pieces.append((end, Segment.TEMPLATE))
        return pieces, selected


class Collator:
    """Callable: list of records (or EncodedExamples) -> padded batch dict of tensors.

    The batch holds input_ids, attention_mask (2-D, 1 = real token), segment_ids, labels
    (-100 outside the answer), the family's vision tensors, `mm_token_type_ids` for M-RoPE
    families, and `mask_policy` (the policy name the forward pass applies).
    """

    def __init__(self, encoder: Encoder, *, mask_policy: str = "standard", max_length: int = 4096,
                 padding_side: str = "right", with_answer: bool = True):
        from livr.models.masks import get_policy

        self.encoder = encoder
        self.mask_policy = get_policy(mask_policy).name
        if max_length < 1:
            raise DataError(f"max_length must be >= 1, got {max_length}")
        self.max_length = max_length
        if padding_side not in ("left", "right"):
            raise DataError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        self.padding_side = padding_side
        self.with_answer = with_answer
        self.pad_token_id = encoder.tokenizer.pad_token_id

    def encode(self, record: dict, index: int | None = None) -> EncodedExample:
        example = self.encoder.encode(record, with_answer=self.with_answer, index=index)
        if len(example.input_ids) > self.max_length:
            raise DataError(
                f"record {_record_id(record, index)} is {len(example.input_ids)} tokens long, more "
                f"than max_length={self.max_length}; raise max_length or lower the image "
                "resolution (max_pixels). livr never truncates image or answer tokens."
            )
        return example

    def __call__(self, items: list) -> dict[str, Any]:
        examples = [it if isinstance(it, EncodedExample) else self.encode(it, i) for i, it in enumerate(items)]
        return self.pad(examples)

    def pad(self, examples: list[EncodedExample]) -> dict[str, Any]:
        length = max(len(e.input_ids) for e in examples)
        batch_size = len(examples)
        input_ids = torch.full((batch_size, length), self.pad_token_id, dtype=torch.long)
        segment_ids = torch.full((batch_size, length), int(Segment.PAD), dtype=torch.long)
        labels = torch.full((batch_size, length), IGNORE_INDEX, dtype=torch.long)
        for row, e in enumerate(examples):
            n = len(e.input_ids)
            span = slice(length - n, length) if self.padding_side == "left" else slice(0, n)
            input_ids[row, span] = e.input_ids
            segment_ids[row, span] = e.segment_ids
            labels[row, span] = e.labels
        extras = {}
        for key in sorted({k for e in examples for k in e.extra}):
            extras[key] = torch.full((batch_size, length), -1, dtype=torch.long)
            for row, e in enumerate(examples):
                if key in e.extra:
                    n = len(e.input_ids)
                    span = slice(length - n, length) if self.padding_side == "left" else slice(0, n)
                    extras[key][row, span] = e.extra[key]
        batch: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": (segment_ids != Segment.PAD).long(),
            "segment_ids": segment_ids,
            "labels": labels,
            **self.encoder.adapter.collate_vision([e.vision for e in examples]),
            "mask_policy": self.mask_policy,
            **extras,
        }
        if self.encoder.adapter.uses_mrope:
            batch["mm_token_type_ids"] = (segment_ids == Segment.IMAGE).long()
        if not self.with_answer:
            del batch["labels"]
        if any(e.helper is not None for e in examples):  # Mirage: the helper images, padded alone
            if any(e.helper is None for e in examples):
                raise DataError("a Mirage batch mixes records with and without a helper image")
            batch["mirage_helper"] = self.pad([e.helper for e in examples])
        return batch
