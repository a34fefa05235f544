"""Loading by local folder (from_pretrained), hub id offline, and the remote-code guard."""

import pytest
import torch

from livr import load_backbone
from livr.errors import ConfigError
from livr.models.backbones import get_adapter

from tests.conftest import NATIVE_FAMILIES


@pytest.mark.parametrize("family", NATIVE_FAMILIES)
def test_local_folder_round_trip(family, tmp_path, letter_records):
    model, processor = get_adapter(family).build_tiny(seed=2)
    model.save_pretrained(tmp_path)  # safetensors
    processor.save_pretrained(tmp_path)
    assert any(p.suffix == ".safetensors" for p in tmp_path.iterdir())
    from_dir = load_backbone(str(tmp_path), num_latents=2, seed=2)
    tiny = load_backbone(f"tiny:{family}", num_latents=2, seed=2)
    assert from_dir.adapter.family == family
    with torch.no_grad():
        a = from_dir(from_dir.collator("bottleneck")(letter_records)).logits
        b = tiny(tiny.collator("bottleneck")(letter_records)).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_folder_without_config(tmp_path):
    with pytest.raises(ConfigError, match="has no config.json"):
        load_backbone(str(tmp_path))


def test_hub_id_offline_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="cannot load model 'Qwen/Qwen2.5-VL-3B-Instruct'"):
        load_backbone("Qwen/Qwen2.5-VL-3B-Instruct")


def test_llava_onevision_1_5_needs_explicit_remote_code():
    adapter = get_adapter("llava_onevision_1_5")
    with pytest.raises(ConfigError, match="--trust-remote-code"):
        adapter.load_pretrained("lmms-lab/LLaVA-OneVision-1.5-4B-Instruct")


def test_existing_latents_must_match(tmp_path):
    lm = load_backbone("tiny:qwen2_5_vl", num_latents=3)
    merged = lm.model.merge_and_unload()
    merged.save_pretrained(tmp_path)
    lm.processor.save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="already has 3 latent token"):
        load_backbone(str(tmp_path), num_latents=4)
    again = load_backbone(str(tmp_path), num_latents=3)
    assert again.latent_ids == lm.latent_ids
