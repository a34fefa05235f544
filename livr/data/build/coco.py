"""Jigsaw and object-localization questions from COCO 2017 (paper Appendix A.2 and A.3).

Expected layout under `--source` (the official COCO 2017 download, unpacked):

    train2017/*.jpg                        and/or  val2017/*.jpg
    annotations/instances_train2017.json   and/or  annotations/instances_val2017.json

Jigsaw needs only the image folders; localization needs an instances file and its image folder.
Both pool train2017 and val2017 and give every image (by file stem / image id) to at most one
of our splits. The test split of both tasks is BLINK's val split, added by the CLI.

Jigsaw (A.2): a 400 x h canvas (h in [170, 230], even) is cropped from the image; its
bottom-right quadrant is the true patch and is blacked out in the first image; the distractor
is a patch of the same size from the same image that intersects the canvas, does not overlap
the true patch, and whose centre is at least `JIGSAW_MIN_CENTRE_DIST` of the canvas diagonal
from the true patch's centre. Images narrower than 400 px or shorter than h are skipped.

Localization (A.3): non-crowd instances whose box covers 15-50% of the image and whose
segmentation mask fills at least 60% of the box (polygons rasterised with PIL; RLE decoded
here, so pycocotools is not needed). The distractor jitters the four box sides until its IoU
with the gold box is in [0.2, 0.5]. Both boxes are drawn (A red, B blue) with the gold box at a
random letter. One instance per image.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from livr.data.build.common import (
    Report,
    box_iou,
    draw_boxes,
    encode_image,
    list_images,
    load_rgb,
    mcq_record,
    place_answer,
    require_dir,
    shuffled,
    task_rng,
)
from livr.errors import DataError

COCO_SPLITS = ("train2017", "val2017")
CANVAS_WIDTH = 400
CANVAS_HEIGHTS = (170, 230)
JIGSAW_MIN_CENTRE_DIST = 0.3  # fraction of the canvas diagonal
AREA_RANGE = (0.15, 0.50)
MIN_MASK_FILL = 0.60
IOU_RANGE = (0.2, 0.5)
SOURCE = "coco"


# ---------------------------------------------------------------------------- layout


def image_folders(source: Path) -> list[Path]:
    source = require_dir(source, "COCO 2017: train2017/ and/or val2017/ with annotations/")
    found = [source / s for s in COCO_SPLITS if (source / s).is_dir()]
    if not found:
        raise DataError(
            f"{source}: expected the COCO 2017 image folder train2017/ or val2017/ "
            "(the official layout: <root>/train2017/*.jpg, <root>/val2017/*.jpg, "
            "<root>/annotations/instances_*2017.json)"
        )
    return found


def load_instances(source: Path) -> list[tuple[Path, dict]]:
    """(image folder, parsed instances json) for each COCO split that has both."""
    out = []
    for folder in image_folders(source):
        ann = source / "annotations" / f"instances_{folder.name}.json"
        if ann.is_file():
            try:
                out.append((folder, json.loads(ann.read_text())))
            except json.JSONDecodeError as err:
                raise DataError(f"{ann}: not valid JSON ({err})") from None
    if not out:
        names = " or ".join(f"instances_{f.name}.json" for f in image_folders(source))
        raise DataError(f"{source / 'annotations'}: expected {names} (COCO 2017 instances)")
    return out


# ---------------------------------------------------------------------------- jigsaw


def build_jigsaw(source: Path, sizes: dict, seed: int, report: Report, **_) -> dict[str, list]:
    pool = [p for folder in image_folders(source) for p in list_images(folder)]
    pool = shuffled(
        sorted(pool, key=lambda p: (p.stem, p.parent.name)), task_rng("jigsaw", "pool", seed)
    )
    used: set[str] = set()
    out: dict[str, list] = {}
    cursor = 0
    for split in ("train", "validation"):
        rng = task_rng("jigsaw", split, seed)
        want, records = sizes.get(split), []
        while (want is None or len(records) < want) and cursor < len(pool):
            path = pool[cursor]
            cursor += 1
            if path.stem in used:
                report.skip("jigsaw: duplicate image stem")
                continue
            used.add(path.stem)
            rec = jigsaw_example(load_rgb(path), rng, split, len(records), path.stem, report)
            if rec is not None:
                records.append(rec)
        report.short(split, want, len(records), "the COCO image pool")
        out[split] = records
    return out


def jigsaw_example(image: Image.Image, rng, split: str, index: int, stem: str, report: Report):
    w, h_img = image.size
    h = 2 * int(rng.integers(CANVAS_HEIGHTS[0] // 2, CANVAS_HEIGHTS[1] // 2 + 1))
    if w < CANVAS_WIDTH or h_img < h:
        report.skip("jigsaw: image smaller than the 400 x h canvas")
        return None
    cx = int(rng.integers(0, w - CANVAS_WIDTH + 1))
    cy = int(rng.integers(0, h_img - h + 1))
    pw, ph = CANVAS_WIDTH // 2, h // 2
    canvas = (cx, cy, cx + CANVAS_WIDTH, cy + h)
    truth = (cx + pw, cy + ph, cx + CANVAS_WIDTH, cy + h)
    distractor = _jigsaw_distractor(rng, (w, h_img), canvas, truth, pw, ph)
    if distractor is None:
        report.skip("jigsaw: no valid distractor patch in the image")
        return None
    arr = np.asarray(image)
    first = arr[canvas[1] : canvas[3], canvas[0] : canvas[2]].copy()
    first[ph:, pw:] = 0
    patches = [arr[b[1] : b[3], b[0] : b[2]] for b in (truth, distractor)]
    options, answer = place_answer(patches[0], [patches[1]], rng)
    images = [encode_image(first)] + [encode_image(p) for p in options]
    meta = {
        "source_images": [f"coco:{stem}"],
        "canvas": list(canvas),
        "truth_patch": list(truth),
        "distractor_patch": list(distractor),
    }
    rec = mcq_record("jigsaw", split, index, images, answer, SOURCE, meta)
    # Mirage's helper image: the completed picture (the canvas with the true piece in place)
    rec["helper_image"] = encode_image(arr[canvas[1] : canvas[3], canvas[0] : canvas[2]].copy())
    return rec


def _jigsaw_distractor(rng, size, canvas, truth, pw, ph, tries: int = 300):
    w, h = size
    diag = float(np.hypot(canvas[2] - canvas[0], canvas[3] - canvas[1]))
    tcx, tcy = (truth[0] + truth[2]) / 2, (truth[1] + truth[3]) / 2
    for _ in range(tries):
        x = int(rng.integers(0, w - pw + 1))
        y = int(rng.integers(0, h - ph + 1))
        box = (x, y, x + pw, y + ph)
        if _overlap(box, canvas) <= 0 or _overlap(box, truth) > 0:
            continue
        if np.hypot(x + pw / 2 - tcx, y + ph / 2 - tcy) >= JIGSAW_MIN_CENTRE_DIST * diag:
            return box
    return None


def _overlap(a, b) -> float:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


# ---------------------------------------------------------------------------- localization


def build_localization(
    source: Path, sizes: dict, seed: int, report: Report, **_
) -> dict[str, list]:
    images: list[tuple[Path, dict, list[dict], dict]] = []  # (folder, image info, anns, cats)
    for folder, data in load_instances(source):
        cats = {c["id"]: c["name"] for c in data.get("categories", [])}
        anns: dict[int, list[dict]] = {}
        for a in data.get("annotations", []):
            anns.setdefault(a["image_id"], []).append(a)
        for info in data.get("images", []):
            images.append(
                (folder, info, sorted(anns.get(info["id"], []), key=lambda a: a["id"]), cats)
            )
    images.sort(key=lambda t: t[1]["id"])
    pool = shuffled(images, task_rng("localization", "pool", seed))
    out: dict[str, list] = {}
    used: set[int] = set()
    cursor = 0
    for split in ("train", "validation"):
        rng = task_rng("localization", split, seed)
        want, records = sizes.get(split), []
        while (want is None or len(records) < want) and cursor < len(pool):
            folder, info, anns, cats = pool[cursor]
            cursor += 1
            if info["id"] in used:
                continue
            rec = localization_example(folder, info, anns, cats, rng, split, len(records), report)
            if rec is not None:
                used.add(info["id"])
                records.append(rec)
        report.short(split, want, len(records), "the filtered COCO instances")
        out[split] = records
    return out


def qualifying_instances(info: dict, anns: list[dict], report: Report) -> list[dict]:
    """Instances passing the appendix's filters: non-crowd, box 15-50% of image, mask >= 60%."""
    W, H = info["width"], info["height"]
    keep = []
    for a in anns:
        if a.get("iscrowd", 0):
            report.skip("localization: crowd instance")
            continue
        x, y, w, h = a["bbox"]
        frac = w * h / float(W * H)
        if not AREA_RANGE[0] <= frac <= AREA_RANGE[1]:
            report.skip("localization: box area outside 15-50% of the image")
            continue
        if mask_fill(a["segmentation"], a["bbox"], (H, W)) < MIN_MASK_FILL:
            report.skip("localization: mask fills < 60% of the box")
            continue
        keep.append(a)
    return keep


def localization_example(folder, info, anns, cats, rng, split, index, report):
    candidates = qualifying_instances(info, anns, report)
    if not candidates:
        return None
    ann = candidates[int(rng.integers(0, len(candidates)))]
    W, H = info["width"], info["height"]
    x, y, w, h = ann["bbox"]
    gold = (x, y, x + w, y + h)
    other = jitter_box(gold, (W, H), rng)
    if other is None:
        report.skip("localization: no jittered box with IoU in [0.2, 0.5]")
        return None
    boxes, answer = place_answer(gold, [other], rng)
    image = load_rgb(folder / info["file_name"])
    if image.size != (W, H):
        raise DataError(
            f"{folder / info['file_name']}: size {image.size} differs from the annotation's "
            f"{(W, H)}"
        )
    drawn = draw_boxes(image, boxes, ["A", "B"])
    name = cats.get(ann["category_id"], "object")
    meta = {
        "source_images": [f"coco:{info['id']}"],
        "coco_image_id": info["id"],
        "annotation_id": ann["id"],
        "category": name,
        "boxes": [list(map(float, b)) for b in boxes],
        "iou": box_iou(gold, other),
    }
    return mcq_record(
        "localization", split, index, [encode_image(drawn)], answer, SOURCE, meta, object=name
    )


def jitter_box(gold, size, rng, tries: int = 200):
    """Move each side of `gold` by up to half the box size until the IoU lands in IOU_RANGE."""
    W, H = size
    x0, y0, x1, y1 = gold
    w, h = x1 - x0, y1 - y0
    for _ in range(tries):
        d = rng.uniform(-0.5, 0.5, size=4) * np.array([w, h, w, h])
        b = (
            float(np.clip(x0 + d[0], 0, W)),
            float(np.clip(y0 + d[1], 0, H)),
            float(np.clip(x1 + d[2], 0, W)),
            float(np.clip(y1 + d[3], 0, H)),
        )
        if b[2] - b[0] < 0.2 * w or b[3] - b[1] < 0.2 * h:
            continue
        if IOU_RANGE[0] <= box_iou(gold, b) <= IOU_RANGE[1]:
            return b
    return None


# ---------------------------------------------------------------------------- masks


def mask_fill(segmentation, bbox, shape: tuple[int, int]) -> float:
    """Fraction of the (x, y, w, h) box covered by the instance mask."""
    mask = decode_segmentation(segmentation, shape)
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        return 0.0
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = int(np.ceil(x + w)), int(np.ceil(y + h))
    return float(mask[y0:y1, x0:x1].sum()) / float((x1 - x0) * (y1 - y0))


def decode_segmentation(segmentation, shape: tuple[int, int]) -> np.ndarray:
    """A boolean (H, W) mask from COCO polygons, uncompressed RLE or compressed RLE."""
    H, W = shape
    if isinstance(segmentation, list):
        canvas = Image.new("L", (W, H), 0)
        draw = ImageDraw.Draw(canvas)
        for poly in segmentation:
            if len(poly) >= 6:
                draw.polygon([float(v) for v in poly], fill=1, outline=1)
        return np.asarray(canvas, dtype=bool)
    counts = segmentation["counts"]
    h, w = segmentation["size"]
    if isinstance(counts, (str, bytes)):
        counts = rle_string_to_counts(counts if isinstance(counts, str) else counts.decode())
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    if flat.size != h * w:
        raise DataError(f"COCO RLE mask: counts sum to {flat.size}, expected {h} x {w}")
    return flat.reshape(w, h).T  # RLE runs go down the columns


def rle_string_to_counts(s: str) -> list[int]:
    """Decode COCO's compressed RLE string (pycocotools' rleFrString) to run lengths."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts
