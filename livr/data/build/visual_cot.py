"""Visual-CoT (Shao et al. 2024; hub dataset `deepcs233/Visual-CoT`): questions whose answer
lies in an annotated box, LVR's SFT data (the ROI its latent steps reconstruct).

Expected layout under `--source` (the hub repository with its image archives extracted):

    viscot_363k.json   a JSON list (a .jsonl of the same objects also works; the first
                       viscot*.json(l) found is read), each item
        {"dataset": "gqa", "split": "train", "question_id": 17,
         "image": ["cot/gqa/2370.jpg", "cot/gqa/2370.jpg###[12, 40, 180, 222]"],
         "conversations": [
             {"from": "human", "value": "<image>\\nWhat is on the table? Please provide the bounding box coordinate of the region that can help you answer the question better."},
             {"from": "gpt", "value": "[0.024, 0.199, 0.360, 0.565]"},
             {"from": "human", "value": "<image>"},
             {"from": "gpt", "value": "A laptop."}]}
    cot/<dataset>/...  the images (from the cot_images_*.tar archives)

The ROI box is the pixel box after `###` in the second image entry (Visual-CoT's union of the
annotated boxes); if that entry is missing, the normalised box of the first answer is used,
undoing Visual-CoT's padding of the image to a square. The question is the first human turn
without `<image>` and the box instruction; the answer (free text) is the last gpt turn. Items
without a box, with a box outside the image, or whose image file is absent (archives not
extracted) are skipped and counted. Images are split between train, validation and test (no
image in two splits); defaults: every remaining item for train, 500 each for validation and test.

Records: task `visual_cot`, no choices, the answer text, prompt = the question, metadata
`roi_boxes` (one pixel box on image 1), `image_size`, `dataset`, `question_id`, `source_images`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from livr.data.build.common import Report, image_from_file, image_size, record_id, require_dir, shuffled, task_rng
from livr.data.schema import make_record
from livr.errors import DataError

TASK = "visual_cot"
SOURCE = "visual_cot"
DEFAULT_HELD_OUT = 500
COT_PROMPTS = (
    " Please provide the bounding box coordinate of the region that can help you answer the question better.",
    " Please think step by step and provide the bounding box coordinate of the region that can help you "
    "answer the question better.",
)
_BOX = re.compile(r"\[\s*([-\d.]+)\s*,\s*([-\d.]+)\s*,\s*([-\d.]+)\s*,\s*([-\d.]+)\s*\]")


def find_annotations(source: Path) -> Path:
    if source.is_file():
        return source
    source = require_dir(source, "Visual-CoT: viscot_363k.json and the cot/ image folders")
    found = sorted(source.glob("viscot*.json")) + sorted(source.glob("viscot*.jsonl"))
    if not found:
        raise DataError(f"{source}: expected the Visual-CoT annotation file viscot_363k.json (a local copy "
                        "of the hub dataset deepcs233/Visual-CoT, image archives extracted under cot/)")
    return found[0]


def read_items(path: Path) -> list[dict]:
    text = path.read_text()
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(items, list):
        raise DataError(f"{path}: expected a JSON list of Visual-CoT items")
    return items


def question_text(value: str) -> str:
    text = value.replace("<image>", "").strip()
    for prompt in COT_PROMPTS:
        if text.endswith(prompt.strip()):
            text = text[: -len(prompt.strip())].strip()
    return text


def unpad_box(norm: list[float], width: int, height: int) -> list[float]:
    """A box normalised on the image padded to a square (Visual-CoT's answer format) in pixels."""
    side = max(width, height)
    x0, y0, x1, y1 = (v * side for v in norm)
    if width > height:
        y0, y1 = y0 - (width - height) // 2, y1 - (width - height) // 2
    else:
        x0, x1 = x0 - (height - width) // 2, x1 - (height - width) // 2
    return [x0, y0, x1, y1]


def parse_item(item: dict, root: Path, report: Report) -> dict | None:
    """The fields of one usable item, or None (counted in `report`)."""
    images, turns = item.get("image"), item.get("conversations")
    if not isinstance(images, list) or not images or not isinstance(turns, list) or len(turns) < 4:
        report.skip("visual-cot: item without an image and a box turn (not a Visual-CoT question)")
        return None
    rel = str(images[0]).split("###")[0]
    path = root / rel
    if not path.is_file():
        report.skip("visual-cot: image file missing (archive not extracted?)")
        return None
    width, height = image_size(path)
    box = None
    if len(images) > 1 and "###" in str(images[1]):
        m = _BOX.search(str(images[1]).split("###", 1)[1])
        box = [float(v) for v in m.groups()] if m else None
    if box is None:
        m = _BOX.search(str(turns[1].get("value", "")))
        box = unpad_box([float(v) for v in m.groups()], width, height) if m else None
    if box is None:
        report.skip("visual-cot: item without a bounding box")
        return None
    x0, y0, x1, y1 = max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3])
    if not (x0 < x1 and y0 < y1):
        report.skip("visual-cot: box empty or outside the image")
        return None
    question, answer = question_text(str(turns[0].get("value", ""))), str(turns[-1].get("value", "")).strip()
    if not question or not answer:
        report.skip("visual-cot: item without a question or an answer")
        return None
    return {"path": rel, "question": question, "answer": answer, "box": [x0, y0, x1, y1],
            "size": [width, height], "dataset": item.get("dataset"), "question_id": item.get("question_id")}


def build(source: Path, sizes: dict, seed: int, report: Report, **_) -> dict[str, list]:
    path = find_annotations(Path(source))
    root = path.parent
    by_image: dict[str, list[dict]] = {}
    for item in read_items(path):
        parsed = parse_item(item, root, report)
        if parsed is not None:
            by_image.setdefault(parsed["path"], []).append(parsed)
    order = shuffled(sorted(by_image), task_rng(TASK, "images", seed))
    wanted = {"test": sizes.get("test", DEFAULT_HELD_OUT), "validation": sizes.get("validation", DEFAULT_HELD_OUT),
              "train": sizes.get("train")}
    wanted = {s: (DEFAULT_HELD_OUT if n is None and s != "train" else n) for s, n in wanted.items()}
    chosen: dict[str, list[dict]] = {"test": [], "validation": [], "train": []}
    for image in order:  # whole images to the held-out splits first, so no image is in two splits
        for split in ("test", "validation", "train"):
            if wanted[split] is None or len(chosen[split]) < wanted[split]:
                room = None if wanted[split] is None else wanted[split] - len(chosen[split])
                chosen[split].extend(by_image[image][:room])
                break
    out = {}
    for split in ("train", "validation", "test"):
        out[split] = [_record(root, it, split, i) for i, it in enumerate(chosen[split])]
        report.short(split, wanted[split], len(out[split]), "Visual-CoT items with a box and an image")
    return out


def _record(root: Path, item: dict, split: str, index: int) -> dict:
    return make_record(
        id=record_id(TASK, split, index), task=TASK, images=[image_from_file(root / item["path"])],
        question=item["question"], choices=[], answer=item["answer"], prompt=item["question"], source=SOURCE,
        metadata={"source_images": [f"visual_cot:{item['path']}"], "dataset": item["dataset"],
                  "question_id": item["question_id"], "roi_boxes": [item["box"]], "image_size": item["size"]},
    )
