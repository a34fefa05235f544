"""The exported chat template puts the latents where training put them (after or before the prompt)."""

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
