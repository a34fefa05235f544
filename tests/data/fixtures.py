"""Tiny copies of the official dataset layouts, written into a test's tmp_path.

Each `write_*` function lays out a handful of small images and annotations exactly as the real
release does (folder names, file names, columns, JSON fields), including entries that the
builders must filter out, and returns what the tests need to check the filters.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from livr.data.schema import FEATURES

# ---------------------------------------------------------------------------- helpers


def smooth_image(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A smooth random colour image (coarse noise upsampled), cheap to compress."""
    coarse = rng.integers(
        0, 256, size=(max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8
    )
    return Image.fromarray(coarse).resize((width, height), Image.BILINEAR)


def save(image: Image.Image, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kw)
    return path


def fits_features(records: list[dict]) -> datasets.Dataset:
    """Encode the records with the schema (fails if any field does not fit)."""
    return datasets.Dataset.from_list(records, features=FEATURES)


def meta(record: dict) -> dict:
    return json.loads(record["metadata"])


def source_images(records: list[dict]) -> set[str]:
    return {s for r in records for s in meta(r)["source_images"]}


def assert_disjoint(splits: dict[str, list[dict]]) -> None:
    names = [s for s in splits if splits[s]]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = source_images(splits[a]) & source_images(splits[b])
            assert not shared, f"{a} and {b} share source images {sorted(shared)[:3]}"


# ---------------------------------------------------------------------------- COCO 2017


def coco_rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE (column-major runs, starting with zeros)."""
    flat = mask.T.reshape(-1).astype(np.int8)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts.insert(0, 0)
    return {"counts": counts, "size": list(mask.shape)}


def coco_rle_string(counts: list[int]) -> str:
    """COCO compressed RLE string (pycocotools' rleToString), to test the decoder."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = not ((ch & 0x10) == 0 and x == 0 or (ch & 0x10) != 0 and x == -1)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def write_coco(root: Path, per_split: int = 6, width: int = 480, height: int = 300) -> dict:
    """train2017/, val2017/, annotations/instances_{train,val}2017.json.

    Every image has one good instance (a filled rectangle, 25% of the image) plus three that
    the filters must drop: a crowd instance, a box of 10% area and a triangle filling half its box.
    """
    rng = np.random.default_rng(0)
    good, bad = set(), set()
    ann_id = 1
    for split_i, split in enumerate(("train2017", "val2017")):
        images, anns = [], []
        for k in range(per_split):
            image_id = 1000 * (split_i + 1) + k
            name = f"{image_id:012d}.jpg"
            save(smooth_image(rng, width, height), root / split / name, quality=90)
            images.append({"id": image_id, "file_name": name, "width": width, "height": height})
            W, H = width, height
            bw, bh = 0.5 * W, 0.5 * H  # 25% of the image
            x0, y0 = 0.2 * W, 0.25 * H
            rect = [x0, y0, x0 + bw, y0, x0 + bw, y0 + bh, x0, y0 + bh]
            anns.append(
                {
                    "id": ann_id,
                    "image_id": image_id,
                    "category_id": 1,
                    "iscrowd": 0,
                    "bbox": [x0, y0, bw, bh],
                    "area": bw * bh,
                    "segmentation": [rect],
                }
            )
            good.add(ann_id)
            mask = np.zeros((H, W), dtype=bool)
            mask[int(0.1 * H) : int(0.7 * H), int(0.1 * W) : int(0.6 * W)] = True
            anns.append(
                {
                    "id": ann_id + 1,
                    "image_id": image_id,
                    "category_id": 2,
                    "iscrowd": 1,
                    "bbox": [0.1 * W, 0.1 * H, 0.5 * W, 0.6 * H],
                    "area": float(mask.sum()),
                    "segmentation": coco_rle(mask),
                }
            )
            sw, sh = 0.25 * W, 0.4 * H  # 10% of the image
            anns.append(
                {
                    "id": ann_id + 2,
                    "image_id": image_id,
                    "category_id": 1,
                    "iscrowd": 0,
                    "bbox": [5, 5, sw, sh],
                    "area": sw * sh,
                    "segmentation": [[5, 5, 5 + sw, 5, 5 + sw, 5 + sh, 5, 5 + sh]],
                }
            )
            tx, ty, tw, th = 0.3 * W, 0.3 * H, 0.6 * W, 0.6 * H  # 36% of the image, mask fills 50%
            anns.append(
                {
                    "id": ann_id + 3,
                    "image_id": image_id,
                    "category_id": 2,
                    "iscrowd": 0,
                    "bbox": [tx, ty, tw, th],
                    "area": tw * th / 2,
                    "segmentation": [[tx, ty, tx + tw, ty + th, tx, ty + th]],
                }
            )
            bad |= {ann_id + 1, ann_id + 2, ann_id + 3}
            ann_id += 4
        data = {
            "images": images,
            "annotations": anns,
            "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "bicycle"}],
        }
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    return {"good": good, "bad": bad}


# ---------------------------------------------------------------------------- HPatches


def write_hpatches(root: Path, n_each: int = 4, width: int = 120, height: int = 90) -> Path:
    """hpatches-sequences-release/{i_*,v_*}/1.ppm..6.ppm and H_1_2..H_1_6."""
    rng = np.random.default_rng(1)
    release = root / "hpatches-sequences-release"
    for kind in ("i", "v"):
        for s in range(n_each):
            seq = release / f"{kind}_seq{s}"
            for k in range(1, 7):
                save(smooth_image(rng, width, height), seq / f"{k}.ppm")
            for k in range(2, 7):
                if kind == "i":
                    H = np.eye(3)
                else:
                    a = 1 + 0.03 * (k - 1)
                    H = np.array(
                        [
                            [a, 0.02 * k, 2.0 * k],
                            [-0.01 * k, a, -1.5 * k],
                            [1e-4 * k, 5e-5 * k, 1.0],
                        ]
                    )
                np.savetxt(seq / f"H_1_{k}", H)
    return release


# ---------------------------------------------------------------------------- SPair-71k


def write_spair(root: Path, per_category: int = 6, width: int = 160, height: int = 120) -> dict:
    """SPair-71k/JPEGImages/<cat>/*.jpg and PairAnnotation/trn/*.json.

    Pairs between consecutive images have five well-separated keypoints; pairs (k, k+2) have
    only three valid ones (one null, one negative) and must be dropped.
    """
    rng = np.random.default_rng(2)
    base = root / "SPair-71k"
    short, pid = set(), 0
    for cat in ("cat", "car"):
        names = [f"{cat}_{k:03d}.jpg" for k in range(per_category)]
        for n in names:
            save(smooth_image(rng, width, height), base / "JPEGImages" / cat / n)
        kps = [[20 + 28 * j, 20 + 18 * j] for j in range(5)]
        pairs = [(k, k + 1, 5) for k in range(per_category - 1)] + [
            (k, k + 2, 3) for k in range(per_category - 2)
        ]
        for a, b, n_valid in pairs:
            src = [list(map(float, p)) for p in kps]
            trg = [[p[0] + 5.0, p[1] + 3.0] for p in src]
            if n_valid == 3:
                trg[3] = None
                src[4] = [-1.0, 12.0]
            pid += 1
            stem = f"{pid:06d}-{names[a][:-4]}-{names[b][:-4]}:{cat}"
            pair = {
                "pair_id": pid,
                "src_imname": names[a],
                "trg_imname": names[b],
                "category": cat,
                "src_imsize": [width, height, 3],
                "trg_imsize": [width, height, 3],
                "src_bndbox": [0, 0, width, height],
                "trg_bndbox": [0, 0, width, height],
                "src_kps": src,
                "trg_kps": trg,
                "kps_ids": list(range(5)),
                "mirror": 0,
                "viewpoint_variation": 0,
            }
            path = base / "PairAnnotation" / "trn" / f"{stem}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(pair))
            if n_valid < 4:
                short.add(path.name)
    return {"root": base, "short_pairs": short}


# ---------------------------------------------------------------------------- FunKPoint


def write_funkpoint(root: Path, per_action: int = 20, width: int = 96, height: int = 72) -> Path:
    """annotations.json + images/<action>/*.jpg (the layout livr.data.build.funkpoint reads)."""
    rng = np.random.default_rng(3)
    entries = []
    for action in ("pour", "mash_pound"):
        for k in range(per_action):
            rel = f"images/{action}/{action}_{k:03d}.jpg"
            save(smooth_image(rng, width, height), root / rel)
            kps = [[0.15 + 0.17 * j, 0.2 + 0.15 * j] for j in range(5)]
            entries.append({"image": rel, "action": action, "keypoints": kps})
    entries.append(
        {
            "image": "images/pour/pour_000.jpg",
            "action": "scoop",
            "keypoints": [[0.1, 0.1]] * 4 + [[1.5, 0.2]],
        }
    )  # out of range: skipped
    (root / "annotations.json").write_text(json.dumps(entries))
    return root


# ---------------------------------------------------------------------------- MID


def write_mid(
    root: Path, scenes: int = 5, dirs: int = 3, width: int = 120, height: int = 80
) -> Path:
    """<scene>/dir_<k>_mip2.jpg photographs and <scene>/albedo.png (quarters of set greys)."""
    rng = np.random.default_rng(4)
    for s in range(scenes):
        scene = root / f"scene_{s:02d}"
        for k in range(dirs):
            save(smooth_image(rng, width, height), scene / f"dir_{k}_mip2.jpg")
        albedo = np.zeros(
            (height // 2, width // 2, 3), dtype=np.uint8
        )  # a smaller albedo: coords scale
        h, w = albedo.shape[:2]
        albedo[: h // 2, : w // 2] = 60
        albedo[: h // 2, w // 2 :] = 200
        albedo[h // 2 :, : w // 2] = 62
        albedo[h // 2 :, w // 2 :] = 120
        save(Image.fromarray(albedo), scene / "albedo.png")
    (root / "scene_no_albedo").mkdir()
    save(smooth_image(rng, width, height), root / "scene_no_albedo" / "dir_0_mip2.jpg")
    return root


# ---------------------------------------------------------------------------- ArtBench-10


STYLES = ("baroque", "impressionism", "ukiyo_e")


def write_artbench(root: Path, per_style: int = 8, size: int = 32) -> Path:
    """artbench-10-imagefolder-split/{train,test}/<style>/*.jpg."""
    rng = np.random.default_rng(5)
    base = root / "artbench-10-imagefolder-split"
    for split in ("train", "test"):
        for style in STYLES:
            for k in range(per_style if split == "train" else 2):
                save(
                    smooth_image(rng, size, size),
                    base / split / style / f"{style}_{k:04d}.jpg",
                    quality=90,
                )
    return base


# ---------------------------------------------------------------------------- NIGHTS


def write_nights(root: Path, size: int = 32) -> dict:
    """nights/data.csv + ref/ and distort/ images; returns the ids the builder must drop."""
    rng = np.random.default_rng(6)
    base = root / "nights"
    rows, dropped = [], set()
    specs = [("train", 6, 1.0, 0.0)] * 6 + [("train", 4, 1.0, 0.0)] * 2 + [("train", 6, 0.5, 0.5)]
    specs += [("val", 7, 0.0, 1.0)] * 3 + [("val", 5, 0.0, 1.0)] + [("test", 6, 1.0, 0.0)]
    for i, (split, votes, left, right) in enumerate(specs):
        paths = [f"ref/000/{i:03d}.png", f"distort/000/{i:03d}_0.png", f"distort/000/{i:03d}_1.png"]
        for p in paths:
            save(smooth_image(rng, size, size), base / p)
        rows.append(
            {
                "id": i,
                "left_vote": left,
                "right_vote": right,
                "votes": votes,
                "ref_path": paths[0],
                "left_path": paths[1],
                "right_path": paths[2],
                "split": split,
                "is_imagenet": False,
            }
        )
        if votes < 6 or left == right or split == "test":
            dropped.add(str(i))
    with open(base / "data.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {"root": base, "dropped": dropped}


# ---------------------------------------------------------------------------- PixMo-Count


def _jpeg_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def write_pixmo(root: Path) -> dict:
    """data/{train,validation,test}-00000-of-00001.parquet and images/ named by sha256 or URL.

    Train has counts 0..12 (3 rows each); some images are missing (dead URLs), one is named by
    its URL's file name, one fails its sha256 check.
    """
    rng = np.random.default_rng(7)
    images = root / "images"
    images.mkdir(parents=True)
    info = {"missing": set(), "bad_sha": set()}
    for split, counts in (
        ("train", [c for c in range(13) for _ in range(3)]),
        ("validation", [2, 3, 4, 5, 6]),
        ("test", [3, 4, 5, 7, 9, 10]),
    ):
        rows = []
        for i, c in enumerate(counts):
            data = _jpeg_bytes(smooth_image(rng, 48, 40))
            sha = hashlib.sha256(data).hexdigest()
            url = f"https://example.org/{split}/{split}_img_{i}.jpg?size=large"
            if i % 5 == 4:
                info["missing"].add(url)
            elif i % 7 == 3:
                (images / f"{split}_img_{i}.jpg").write_bytes(data)
                info.setdefault("by_url", set()).add(url)
            elif i % 11 == 6:
                (images / f"{sha}.jpg").write_bytes(data[:-20] + b"\0" * 20)
                info["bad_sha"].add(url)
            else:
                (images / sha).write_bytes(data)
            row = {"image_url": url, "image_sha256": sha, "count": c, "label": "apples"}
            if split == "train":
                row["points"] = [{"x": 1.0, "y": 2.0}] * c
            rows.append(row)
        (root / "data").mkdir(exist_ok=True)
        pq.write_table(
            pa.Table.from_pylist(rows), root / "data" / f"{split}-00000-of-00001.parquet"
        )
    return info


# ---------------------------------------------------------------------------- BLINK


def write_blink(
    root: Path, config: str = "Jigsaw", n: int = 4, n_images: int = 3, n_choices: int = 2
) -> Path:
    """<root>/<config>/val-00000-of-00001.parquet written by `datasets` (Image structs)."""
    rng = np.random.default_rng(8)
    letters = "ABCD"
    columns: dict[str, list] = {
        k: [] for k in ("idx", "question", "sub_task", "choices", "answer", "prompt", "explanation")
    }
    for c in range(1, 5):
        columns[f"image_{c}"] = []
    for i in range(n):
        choices = [f"choice {j}" for j in range(n_choices)]
        columns["idx"].append(f"val_{config}_{i + 1}")
        columns["question"].append(f"Question {i}?")
        columns["sub_task"].append(config)
        columns["choices"].append(choices)
        columns["answer"].append(f"({letters[i % n_choices]})")
        columns["prompt"].append(
            f"Question {i}?\nSelect from the following choices.\n(A) choice 0\n(B) choice 1"
        )
        columns["explanation"].append("")
        for c in range(1, 5):
            columns[f"image_{c}"].append(smooth_image(rng, 40, 30) if c <= n_images else None)
    features = datasets.Features(
        {
            "idx": datasets.Value("string"),
            "question": datasets.Value("string"),
            "sub_task": datasets.Value("string"),
            **{f"image_{c}": datasets.Image() for c in range(1, 5)},
            "choices": datasets.List(datasets.Value("string")),
            "answer": datasets.Value("string"),
            "prompt": datasets.Value("string"),
            "explanation": datasets.Value("string"),
        }
    )
    folder = root / config
    folder.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns, features=features).to_parquet(
        str(folder / "val-00000-of-00001.parquet")
    )
    return root


# ---------------------------------------------------------------------------- V*Bench, MMVP

VSTAR_TEXT_SUFFIX = "Answer with the option's letter from the given choices directly."


def write_vstar(root: Path, n_attributes: int = 3, n_position: int = 2, seed: int = 0) -> list[dict]:
    """craigwu/vstar_bench: test_questions.jsonl ({image, text, category, question_id, label})
    and the images under direct_attributes/ and relative_position/. Returns the rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for category, n, options in (("direct_attributes", n_attributes, ["red", "blue", "green", "white"]),
                                 ("relative_position", n_position, ["left", "right"])):
        for i in range(n):
            image = f"{category}/sa_{100 + i}.jpg"
            save(smooth_image(rng, 160 + 8 * i, 120), root / image, quality=90)
            label = "ABCD"[i % len(options)]
            question = (f"What is the colour of the cup {i}?" if category == "direct_attributes"
                        else f"Is the dog {i} on the left or right side of the cat?")
            text = "\n".join([question, *[f"({'ABCD'[j]}) {o}" for j, o in enumerate(options)],
                              VSTAR_TEXT_SUFFIX])
            rows.append({"image": image, "text": text, "category": category,
                         "question_id": len(rows), "label": label})
    (root / "test_questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def write_mmvp(root: Path, pairs: int = 3, seed: int = 0) -> list[dict]:
    """MMVP/MMVP: Questions.csv (Index, Question, Options, Correct Answer) and
    'MMVP Images/<Index>.jpg'; consecutive rows are pairs with opposite answers."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(pairs):
        for k in range(2):
            index = 2 * p + k + 1
            save(smooth_image(rng, 96, 96), root / "MMVP Images" / f"{index}.jpg", quality=90)
            rows.append({"Index": index, "Question": f"Is the door in picture {p} open or closed?",
                         "Options": "(a) Open (b) Closed", "Correct Answer": "(a)" if k == 0 else "(b)"})
    with (root / "Questions.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["Index", "Question", "Options", "Correct Answer"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


# ---------------------------------------------------------------------------- Visual-CoT

VISCOT_PROMPT = " Please provide the bounding box coordinate of the region that can help you answer the question better."


def _viscot_item(dataset: str, rel: str, question: str, answer: str, box, size, with_pixel_box=True) -> dict:
    w, h = size
    x0, y0, x1, y1 = box
    pad = (max(w, h) - min(w, h)) // 2
    padded = [x0, y0 + pad, x1, y1 + pad] if w > h else [x0 + pad, y0, x1 + pad, y1]
    norm = "[%0.3f, %0.3f, %0.3f, %0.3f]" % tuple(v / max(w, h) for v in padded)
    images = [rel] + ([f"{rel}###[{x0}, {y0}, {x1}, {y1}]"] if with_pixel_box else [])
    return {"dataset": dataset, "split": "train", "question_id": 0, "image": images,
            "conversations": [{"from": "human", "value": "<image>\n" + question + VISCOT_PROMPT},
                              {"from": "gpt", "value": norm}, {"from": "human", "value": "<image>"},
                              {"from": "gpt", "value": answer}]}


def write_visual_cot(root: Path, seed: int = 0) -> dict:
    """deepcs233/Visual-CoT: viscot_363k.json plus images under cot/<dataset>/. Six usable items
    on five images (one image asked twice, one with only the normalised, square-padded box), and
    four to skip: a box outside its image, a missing image file, an item without a box turn, and
    an item without any box."""
    rng = np.random.default_rng(seed)
    items = []
    good = [("gqa", "cot/gqa/1.jpg", (200, 120), [(20, 30, 90, 100), (100, 10, 190, 60)]),
            ("textvqa", "cot/textvqa/2.jpg", (120, 200), [(10, 50, 60, 150)]),
            ("gqa", "cot/gqa/3.jpg", (160, 160), [(0, 0, 40, 40)]),
            ("flickr30k", "cot/flickr30k/4.jpg", (150, 100), [(50, 20, 120, 90)]),
            ("gqa", "cot/gqa/5.jpg", (100, 150), [(5, 5, 95, 60)])]
    for dataset, rel, size, boxes in good:
        save(smooth_image(rng, *size), root / rel, quality=90)
        for k, box in enumerate(boxes):
            items.append(_viscot_item(dataset, rel, f"What is in region {k} of {rel}?", f"answer {rel} {k}",
                                      box, size, with_pixel_box=rel != "cot/textvqa/2.jpg"))
    save(smooth_image(rng, 80, 60), root / "cot/gqa/6.jpg", quality=90)
    items.append(_viscot_item("gqa", "cot/gqa/6.jpg", "Outside?", "no", (90, 70, 120, 90), (80, 60)))
    items.append(_viscot_item("gqa", "cot/gqa/missing.jpg", "Missing?", "no", (1, 1, 5, 5), (80, 60)))
    items.append({"image": ["cot/gqa/1.jpg"], "conversations": [{"from": "human", "value": "<image>\nHi"},
                                                                 {"from": "gpt", "value": "Hello"}]})
    no_box = _viscot_item("gqa", "cot/gqa/3.jpg", "No box?", "none", (1, 1, 5, 5), (160, 160), False)
    no_box["conversations"][1]["value"] = "I cannot say."
    items.append(no_box)
    (root / "viscot_363k.json").write_text(json.dumps(items, indent=1))
    return {"root": root, "usable": 6, "good": good}


def write_mirage_vsp(root: Path, n_train: int = 6, n_test: int = 3, val: int = 0, seed: int = 0) -> dict:
    """Mirage's released VSP layout (docs/data.md, `livr.data.build.mirage_vsp`): train.jsonl and
    test.jsonl (val.jsonl if `val`), each line with text_input, text_output, image_input,
    image_output (the helper: the map a later step into the plan) and map_desc (0 ice, 1 start,
    2 goal, -1 hole). Maps from livr's generator (levels 3 and 4); half the answers as
    "Action plan: ...", half as \\boxed{...}. Returns {split: [line dicts plus `grid` (rows of
    S/F/H/G) and `plan` (the actions)]}."""
    from livr.data.synth import vsp

    codes = {"F": 0, "S": 1, "G": 2, "H": -1}
    rng = np.random.default_rng(seed)
    written = {}
    for split, n in (("train", n_train), ("val", val), ("test", n_test)):
        if not n:
            continue
        lines = []
        for i, rec in enumerate(vsp.generate("train", n, rng, levels=(3, 4), hole_prob=0.2)):
            grid = json.loads(rec["metadata"])["grid"]
            plan = vsp.parse_plan(rec["answer"])
            stem = f"level{len(grid)}/{split}_{i}.png"
            save(rec["images"][0], root / "images" / stem)
            save(rec["helper_image"], root / "helper" / stem)
            think = "The elf walks around the holes to the gift."
            output = f"{think} Action plan: {', '.join(plan)}" if i % 2 == 0 else f"{think} \\boxed{{{''.join(plan)}}}"
            line = {"text_input": f"Find a safe path on this {len(grid)}x{len(grid)} frozen lake.",
                    "text_output": output, "image_input": f"images/{stem}", "image_output": f"helper/{stem}",
                    "map_desc": [[codes[c] for c in row] for row in grid]}
            lines.append((line, grid, plan))
        root.mkdir(parents=True, exist_ok=True)
        (root / f"{split}.jsonl").write_text("".join(json.dumps(x) + "\n" for x, _, _ in lines))
        written[split] = [dict(x, grid=grid, plan=plan) for x, grid, plan in lines]
    return written
