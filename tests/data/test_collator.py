"""The collator: template fidelity, segments, labels, padding, and clear errors on bad records."""

import io

import pytest
import torch

from livr import load_backbone
from livr.data.collator import IGNORE_INDEX
from livr.errors import ConfigError, DataError
from livr.models.segments import Segment

from tests.conftest import NATIVE_FAMILIES


@pytest.fixture(scope="module", params=NATIVE_FAMILIES)
def lm(request):
    return load_backbone(f"tiny:{request.param}", num_latents=2)


def test_pieces_equal_the_full_chat_template(lm, records):
    """Tokenizing piece by piece gives exactly what the processor gives for the whole text."""
    rec = records[1]
    encoder = lm.encoder()
    example = encoder.encode(rec)
    latents = "".join(lm.latents.sequence())
    messages = [
        {"role": "user", "content": [{"type": "image"}] * len(rec["images"]) + [{"type": "text", "text": rec["prompt"] + latents}]},
        {"role": "assistant", "content": [{"type": "text", "text": rec["answer"]}]},
    ]
    text = lm.processor.apply_chat_template(messages, tokenize=False)
    full = lm.processor(text=[text], images=lm.adapter.processor_images_arg(rec["images"]), return_tensors="pt")
    assert torch.equal(example.input_ids, full["input_ids"][0])


def test_labels_cover_answer_and_end_of_turn(lm, records):
    batch = lm.collator("standard")(records)
    tok = lm.tokenizer
    for row, rec in enumerate(records):
        labelled = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX]
        assert tok.decode(labelled) == rec["answer"] + "<|im_end|>"
        assert torch.equal(batch["segment_ids"][row] == Segment.ANSWER, batch["labels"][row] != IGNORE_INDEX)


def test_segments_and_padding(lm, records):
    batch = lm.collator("bottleneck")(records)
    seg = batch["segment_ids"]
    assert batch["mask_policy"] == "bottleneck"
    assert torch.equal(batch["attention_mask"].bool(), seg != Segment.PAD)
    assert (seg == Segment.PAD).any()  # different lengths
    image_id = lm.adapter.image_token_id(lm.processor)
    assert torch.equal(batch["input_ids"] == image_id, seg == Segment.IMAGE)
    assert torch.equal(batch["input_ids"][seg == Segment.PAD], torch.full_like(batch["input_ids"][seg == Segment.PAD], lm.tokenizer.pad_token_id))
    for k in lm.adapter.vision_keys:
        assert k in batch


def test_left_padding(lm, records):
    right = lm.collator("standard")(records)
    left = lm.collator("standard", padding_side="left")(records)
    assert left["segment_ids"][0, 0] == Segment.PAD and right["segment_ids"][0, -1] == Segment.PAD
    with torch.no_grad():
        a = lm(right).logits[right["attention_mask"].bool()]
        b = lm(left).logits[left["attention_mask"].bool()]
    assert (a - b).abs().max() < 1e-4


def test_too_long_is_refused_with_the_record_id(records):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=0)
    with pytest.raises(DataError, match=r"record 'long' is \d+ tokens long, more than max_length=100"):
        lm.collator(max_length=100)(records)


@pytest.mark.parametrize("change,match", [
    ({"answer": ""}, "record 'short' has no answer"),
    ({"answer": None}, "record 'short' has no answer"),
    ({"images": []}, "record 'short' has no images"),
    ({"images": [b"not an image at all"]}, "record 'short': image 1 cannot be read"),
    ({"images": ["/nonexistent/picture.png"]}, "record 'short': image 1 cannot be read"),
    ({"prompt": ""}, "record 'short' has no prompt"),
])
def test_bad_records(records, change, match):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=0)
    with pytest.raises(DataError, match=match):
        lm.collator()([{**records[0], **change}])


def test_image_inputs_as_bytes_and_paths(records, tmp_path):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=0)
    buf = io.BytesIO()
    records[0]["images"][0].save(buf, format="PNG")
    path = tmp_path / "a.png"
    path.write_bytes(buf.getvalue())
    a = lm.collator()([records[0]])
    b = lm.collator()([{**records[0], "images": [{"bytes": buf.getvalue(), "path": None}]}])
    c = lm.collator()([{**records[0], "images": [str(path)]}])
    assert torch.equal(a["pixel_values"], b["pixel_values"]) and torch.equal(a["pixel_values"], c["pixel_values"])


def test_unknown_family_and_policy():
    with pytest.raises(ConfigError, match="unknown backbone family 'gpt9'"):
        load_backbone("tiny:gpt9")
    with pytest.raises(ConfigError, match="tiny:llava_onevision_1_5 does not exist"):
        load_backbone("tiny:llava_onevision_1_5")
    with pytest.raises(ConfigError, match="unknown mask policy"):
        load_backbone("tiny:qwen2_5_vl", num_latents=0).collator("sideways")
