"""`livr train` and `livr export --merge` on tiny Qwen3.5 (hybrid linear attention), dense and MoE:
two stages (bottleneck, then standard) with gradient checkpointing; the adapter holds LoRA on both
layer kinds; the export loads in plain transformers and gives the run's logits."""

import json

import pytest
import torch
from safetensors.torch import load_file

from livr.cli.main import main
from livr.training import load_config, load_run, train
from tests.training.conftest import tiny


@pytest.mark.parametrize("model", ["tiny:qwen3_5", "tiny:qwen3_5_moe"])
def test_train_and_export(model, loc_data, tmp_path):
    from transformers import AutoModelForImageTextToText

    from livr.data.loading import load_split
    from livr.evaluation.generate import encode_prompts, prompt_collator
    from livr.inference import load_processor

    out = tmp_path / "run"
    metrics = train(load_config(None, tiny(loc_data, out, model=model, gradient_checkpointing=True)))
    assert [(h["stage"], h["mask"]) for h in metrics["history"]] == [(1, "bottleneck"), (2, "standard")]
    weights = load_file(str(out / "adapter_model.safetensors"))
    for target in ("linear_attn.in_proj_qkv", "linear_attn.out_proj", "self_attn.q_proj"):
        assert any(f"{target}.lora_A" in k for k in weights), target

    exported = tmp_path / "exported"
    assert main(["export", str(out), "--merge", "--out", str(exported)]) == 0
    config = json.loads((exported / "config.json").read_text())
    assert config["model_type"] == model.split(":")[1]
    processor = load_processor(exported)
    plain = AutoModelForImageTextToText.from_pretrained(exported).eval()
    lm, _ = load_run(out)
    lm.model.eval()
    record = load_split(loc_data, "test")[0]
    example = encode_prompts(lm, [record])[0]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": record["prompt"]}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=record["images"], return_tensors="pt")
    assert inputs["input_ids"][0].tolist() == example.input_ids.tolist()
    with torch.no_grad():
        torch.testing.assert_close(plain(**inputs).logits, lm(prompt_collator(lm).pad([example])).logits,
                                   atol=1e-4, rtol=1e-4)
