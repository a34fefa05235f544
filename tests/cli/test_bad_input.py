"""Bad input through the `livr` CLI, one table: every case must end with exit status 2, a short
error (no traceback) that names the record, file or option at fault, and no training done.

Each case builds its input in `tmp_path` (a data folder with one broken record, a YAML file, a
run folder with a changed tokenizer ...) and returns the argv; the good inputs it starts from are
the tiny synthetic data and the tiny Qwen2.5-VL of the training tests.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from livr.cli.main import main
from tests.training.conftest import make_data, shrink, tiny

TRAIN = ["--model", "tiny:qwen2_5_vl", "--num_latents", "2", "--stage1_epochs", "1", "--stage2_epochs", "1",
         "--report_to", "none", "--disable_tqdm"]


# ----------------------------------------------------------------------------- inputs


def records(task="localization", sizes=None, seed=0):
    from livr.data.synth import generate_split

    sizes = sizes or {"train": 3, "validation": 1, "test": 2}
    return {s: shrink(generate_split(task, s, n, seed)) for s, n in sizes.items()}


def write_raw(splits, path: Path) -> str:
    """Write splits straight through `datasets` (not livr's writer, which refuses bad records):
    a folder made by some other tool."""
    import datasets

    from livr.data.schema import FEATURES

    def encode(image):
        if isinstance(image, Image.Image):
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            return {"bytes": buf.getvalue(), "path": None}
        return image

    dd = datasets.DatasetDict({
        split: datasets.Dataset.from_list([dict(r, images=[encode(im) for im in r["images"]]) for r in rs],
                                          features=FEATURES)
        for split, rs in splits.items()})
    dd.save_to_disk(str(path))
    return str(path)


def broken(path: Path, change, split="train", index=1, task="localization") -> tuple[str, str]:
    """A data folder whose record `index` of `split` went through `change`; (folder, record id)."""
    splits = records(task)
    record = splits[split][index]
    change(record)
    return write_raw(splits, path), record["id"]


def bomb_png() -> bytes:
    """A PNG whose header declares 20,000 x 20,000 pixels (a decompression bomb for PIL)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b"")


def set_images(images):
    return lambda r: r.update(images=images)


# ----------------------------------------------------------------------------- the table


def corrupt_image_in_data_folder(tmp, shared):
    data, rid = broken(tmp / "data", set_images([{"bytes": b"this is not a PNG", "path": None}]))
    return ["train", "--data", data, "--out", tmp / "run", *TRAIN], [rid, "image 1", "cannot be read"]


def hpatches_source(tmp) -> Path:
    from tests.data import fixtures as fx

    fx.write_hpatches(tmp / "src", width=64, height=48)
    return tmp / "src"


BUILD = ["data", "build", "--task", "visual_correspondence", "--train", "4", "--val", "2", "--test", "2"]


def corrupt_image_file(tmp, shared):
    src = hpatches_source(tmp)
    for image in (src / "hpatches-sequences-release").glob("*/*.ppm"):  # whichever the builder reads first
        image.write_bytes(b"P6 not really")
    return [*BUILD, "--source", src, "--out", tmp / "data"], [str(src), ".ppm: not a readable image"]


def missing_image_file(tmp, shared):
    src = hpatches_source(tmp)
    image = src / "hpatches-sequences-release" / "i_seq1" / "4.ppm"
    image.unlink()
    return [*BUILD, "--source", src, "--out", tmp / "data"], ["4.ppm", "i_seq1"]


def no_answer(tmp, shared):
    data, rid = broken(tmp / "data", lambda r: r.update(answer=""))
    return ["train", "--data", data, "--out", tmp / "run", *TRAIN], [rid, "no answer"]


def letter_outside_choices(tmp, shared):
    data, rid = broken(tmp / "data", lambda r: r.update(answer="C"))  # localization has A and B
    return ["train", "--data", data, "--out", tmp / "run", *TRAIN], [rid, "'C'", "A, B"]


def empty_choices(tmp, shared):
    data, rid = broken(tmp / "data", lambda r: r.update(choices=[]))
    return ["train", "--data", data, "--out", tmp / "run", *TRAIN], [rid, "no choices", "localization"]


def bad_test_record(tmp, shared):
    """A broken test record is found before training too, not at the end of the run."""
    data, rid = broken(tmp / "data", lambda r: r.update(answer="Z"), split="test", index=0)
    return ["train", "--data", data, "--out", tmp / "run", *TRAIN], [rid, "test", "'Z'"]


def bad_count(tmp, shared):
    data, rid = broken(tmp / "data", lambda r: r.update(answer="many"), task="counting")
    return ["train", "--data", data, "--out", tmp / "run", *TRAIN], [rid, "'many'", "counting"]


def decompression_bomb(tmp, shared):
    data, rid = broken(tmp / "data", set_images([{"bytes": bomb_png(), "path": None}]))
    return ["train", "--data", data, "--out", tmp / "run", *TRAIN], [rid, "400000000 pixels"]


def unknown_task(tmp, shared):
    return ["train", "--data", shared.data(), "--out", tmp / "run", "--tasks", "juggling", *TRAIN], ["juggling"]


def unknown_task_synth(tmp, shared):
    return ["data", "synth", "--tasks", "juggling", "--out", tmp / "data"], ["unknown task 'juggling'"]


def unknown_method(tmp, shared):
    return ["train", "--data", shared.data(), "--out", tmp / "run", "--method", "livrr", *TRAIN], ["livrr"]


def unknown_backbone(tmp, shared):
    argv = ["train", "--data", shared.data(), "--out", tmp / "run", *TRAIN]
    argv[argv.index("tiny:qwen2_5_vl")] = "tiny:qwen9"
    return argv, ["tiny:qwen9"]


def unknown_hub_model(tmp, shared):
    argv = ["train", "--data", shared.data(), "--out", tmp / "run", *TRAIN]
    argv[argv.index("tiny:qwen2_5_vl")] = "nobody/no-such-model"
    return argv, ["nobody/no-such-model"]


def unknown_config_key(tmp, shared):
    (tmp / "c.yaml").write_text("model: tiny:qwen2_5_vl\nlerning_rate: 0.001\n")
    return ["train", tmp / "c.yaml", "--data", shared.data(), "--out", tmp / "run"], ["lerning_rate", "learning_rate",
                                                                                 "c.yaml"]


def malformed_yaml(tmp, shared):
    (tmp / "c.yaml").write_text("model: tiny:qwen2_5_vl\nlearning_rate: [0.001\n")
    return ["train", tmp / "c.yaml", "--data", shared.data(), "--out", tmp / "run"], ["c.yaml", "not valid YAML",
                                                                                 "line"]


def too_long(tmp, shared):
    return ["train", "--data", shared.data(), "--out", tmp / "run", *TRAIN, "--max_length", "12"], [
        "localization-train-", "max_length=12"]


def run_with_other_latent_count(tmp, shared):
    run = shared.run(tmp)
    return ["train", "--resume", "--out", run, "--num_latents", "3"], ["num_latents", "the run has 2, now 3"]


def run_with_other_tokenizer(tmp, shared):
    run = shared.run(tmp)
    tokenizer = json.loads((run / "tokenizer.json").read_text())
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if "latent_1" not in t["content"]]
    (run / "tokenizer.json").write_text(json.dumps(tokenizer))
    return ["eval", "--model", run, "--data", shared.data(), "--out", tmp / "eval", "--quiet"], [
        "tokenizer", str(run)]


def eval_data_of_another_schema(tmp, shared):
    import datasets

    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"question": ["q"], "label": [1]})}).save_to_disk(
        str(tmp / "other"))
    return ["eval", "--model", "tiny:qwen2_5_vl", "--data", tmp / "other", "--out", tmp / "eval", "--quiet"], [
        "schema", "missing columns"]


def predict_args(tmp, image, *extra):
    return ["predict", "--model", "tiny:qwen2_5_vl", "--image", image, "--prompt", "Which? (A) x (B) y", *extra]


def predict_unreadable_image(tmp, shared):
    Image.new("RGB", (56, 56)).save(tmp / "good.png")
    (tmp / "bad.png").write_bytes(b"this is not a PNG")
    return [*predict_args(tmp, tmp / "good.png"), "--image", tmp / "bad.png"], ["bad.png", "image 2",
                                                                               "cannot be read"]


def predict_missing_image(tmp, shared):
    return predict_args(tmp, tmp / "nowhere.png"), ["nowhere.png", "does not exist"]


def predict_missing_model(tmp, shared):
    Image.new("RGB", (56, 56)).save(tmp / "good.png")
    argv = predict_args(tmp, tmp / "good.png")
    argv[argv.index("tiny:qwen2_5_vl")] = tmp / "no-such-run"
    return argv, ["no-such-run", "cannot load model"]


def predict_prompt_too_long(tmp, shared):
    Image.new("RGB", (56, 56)).save(tmp / "good.png")
    return predict_args(tmp, tmp / "good.png", "--max-length", "12"), ["tokens long", "max_length=12",
                                                                       "--max-length"]


CASES = [corrupt_image_in_data_folder, corrupt_image_file, missing_image_file, no_answer, letter_outside_choices, empty_choices, bad_test_record,
         bad_count, decompression_bomb, unknown_task, unknown_task_synth, unknown_method, unknown_backbone,
         unknown_hub_model, unknown_config_key, malformed_yaml, too_long, run_with_other_latent_count,
         run_with_other_tokenizer, eval_data_of_another_schema, predict_unreadable_image, predict_missing_image,
         predict_missing_model, predict_prompt_too_long]


# ----------------------------------------------------------------------------- shared inputs


class Shared:
    """Good inputs made once per module, on first use: a data folder and a finished run."""

    def __init__(self, root: Path):
        self.root = root
        self._data: str | None = None
        self._run: Path | None = None

    def data(self) -> str:
        if self._data is None:
            self._data = make_data(self.root / "good", ["localization"])
        return self._data

    def run(self, tmp: Path) -> Path:
        """A copy (to break at will) of a finished tiny LIVR run with K = 2."""
        from livr.training import load_config, train

        if self._run is None:
            self._run = self.root / "run"
            train(load_config(None, tiny(self.data(), self._run, num_latents=2)))
        copy = tmp / "run-copy"
        shutil.copytree(self._run, copy)
        return copy


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return Shared(tmp_path_factory.mktemp("shared"))


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_one_clear_error(case, shared, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv, words = case(tmp_path, shared)
    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith(f"livr {argv[0]}: error: "), err
    assert "\n\n" not in err.strip(), err  # one paragraph
    for word in words:
        assert word in err, f"{word!r} not in: {err}"
    if argv[0] == "train" and "--resume" not in argv:
        assert not (tmp_path / "run").exists()  # refused before the run folder was made
    assert not (tmp_path / "data").exists() or argv[0] != "data"  # nothing half written


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "qwen3_5", "llava_onevision"])
def test_image_beyond_the_pixel_limit_is_resized_whole(family):
    """A 4:1 image far beyond the processor's pixel limit is scaled down as a whole (aspect kept,
    area within the limit), never center-cropped to fit."""
    from livr.models.backbones import get_adapter

    adapter = get_adapter(family)
    image = Image.new("RGB", (4000, 1000), "white")
    if family == "llava_onevision":
        processor = adapter.tiny_processor()
        assert not processor.image_processor.do_center_crop
        out = processor.image_processor(images=[image], return_tensors="pt")
        assert out["image_sizes"].tolist() == [[1000, 4000]]  # anyres: the full image, resized and padded
        return
    max_pixels = 512 * 512  # at tiny limits the processor's rounding to whole patches distorts more
    processor = adapter.tiny_processor(max_pixels)
    assert not getattr(processor.image_processor, "do_center_crop", False)
    grid = processor.image_processor(images=[image], return_tensors="pt")["image_grid_thw"][0].tolist()
    _, h, w = grid
    area = h * w * adapter.patch_size ** 2
    assert max_pixels / 2 <= area <= max_pixels
    assert w / h == pytest.approx(4, rel=0.15)
