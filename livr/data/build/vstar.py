"""V*Bench (Wu & Xie, "V*: Guided Visual Search as a Core Mechanism in Multimodal LLMs") as test
records for `livr eval --data vstar:PATH`.

Published layout (the hub dataset `craigwu/vstar_bench`; `vstar` or `vstar:hub` downloads it):

    <PATH>/test_questions.jsonl     one JSON object per line:
        {"image": "direct_attributes/sa_4690.jpg", "text": "What is the colour of the cup?\\n(A) white\\n(B) red\\n(C) black\\n(D) blue\\nAnswer with the option's letter from the given choices directly.",
         "category": "direct_attributes", "question_id": 0, "label": "A"}
    <PATH>/direct_attributes/*.jpg  (115 four-way questions: colour / material of a small object)
    <PATH>/relative_position/*.jpg  (76 two-way questions: is A left / right of, above / below B)

Each row becomes a record of task `vstar_<category>` (so `livr eval` reports the two categories
as its per-task accuracies and their micro average, the paper's "V*" column, as its accuracy).
The question is the text before the first "(A)" line, the choices are the option lines, the
answer is `label`; the prompt is re-formatted with `livr.data.prompts.format_mcq` like every other
livr prompt, and the original text kept in metadata. Scoring is the usual option-letter match
(`livr.evaluation.answers`, lmms-eval's convention).
"""

from __future__ import annotations

import re
from pathlib import Path

from livr.data.build.common import image_from_bytes, jsonl_rows, record_id
from livr.data.prompts import format_mcq
from livr.data.schema import make_record
from livr.errors import DataError

HUB_REPO = "craigwu/vstar_bench"
SOURCE = "vstar"
QUESTIONS_FILE = "test_questions.jsonl"
FIELDS = ("image", "text", "category", "question_id", "label")
#: category -> (task name, number of options)
CATEGORIES = {"direct_attributes": ("vstar_direct_attributes", 4),
              "relative_position": ("vstar_relative_position", 2)}
_OPTION = re.compile(r"^\(([A-Z])\)\s*(.*)$")


def split_question(text: str, where: str) -> tuple[str, list[str]]:
    """(question, choices) of a V*Bench `text`: the lines before '(A) ...', then the option lines
    in letter order; any instruction after the options is dropped."""
    lines = [line.strip() for line in text.strip().splitlines()]
    first = next((i for i, line in enumerate(lines) if _OPTION.match(line)), None)
    if first is None:
        raise DataError(f"{where}: no '(A) ...' option lines in text {text!r}")
    choices = []
    for line in lines[first:]:
        m = _OPTION.match(line)
        if not m:
            break
        if m.group(1) != "ABCDEFGH"[len(choices)]:
            raise DataError(f"{where}: options out of order at {line!r}")
        choices.append(m.group(2).strip())
    question = " ".join(line for line in lines[:first] if line)
    if not question:
        raise DataError(f"{where}: no question before the options in {text!r}")
    return question, choices


def load_vstar(source: str | Path) -> list[dict]:
    """Every V*Bench question as a record (see the module docstring); DataError naming the file
    and line of anything unusable."""
    root = resolve_source(source, HUB_REPO, QUESTIONS_FILE, "V*Bench")
    path = root / QUESTIONS_FILE
    records, counts = [], {}
    for n, where, row in jsonl_rows(path, FIELDS, "V*Bench"):
        if row["category"] not in CATEGORIES:
            raise DataError(f"{where}: unknown category {row['category']!r}; known: {', '.join(CATEGORIES)}")
        task, n_options = CATEGORIES[row["category"]]
        question, choices = split_question(row["text"], where)
        label = str(row["label"]).strip().strip("()")
        if len(choices) != n_options or label not in "ABCD"[:len(choices)] or len(label) != 1:
            raise DataError(f"{where}: a {row['category']} question has {n_options} options and a letter "
                            f"label; got {len(choices)} options and label {row['label']!r}")
        image_path = root / row["image"]
        if not image_path.is_file():
            raise DataError(f"{where}: image {row['image']} not found under {root}")
        image = image_from_bytes(image_path.read_bytes(), str(image_path))
        counts[task] = counts.get(task, 0) + 1
        records.append(make_record(
            id=record_id(task, "test", counts[task] - 1), task=task, images=[image], question=question,
            choices=choices, answer=label, prompt=format_mcq(question, choices), source=SOURCE,
            metadata={"question_id": row["question_id"], "category": row["category"], "image": row["image"],
                      "vstar_text": row["text"]},
        ))
    if not records:
        raise DataError(f"{path} holds no questions")
    return records


def resolve_source(source: str | Path, repo: str, marker: str, name: str) -> Path:
    """A local folder holding `marker`, or (for 'hub' or a repository id) a snapshot of the hub
    dataset `repo` downloaded with huggingface_hub (needs a network)."""
    path = Path(source)
    if path.is_dir():
        if not (path / marker).is_file():
            raise DataError(f"{path}: expected the {name} file {marker} here (the layout of the hub "
                            f"dataset {repo})")
        return path
    if str(source) == "hub" or re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)):
        from huggingface_hub import snapshot_download

        repo_id = repo if str(source) == "hub" else str(source)
        try:
            return resolve_source(snapshot_download(repo_id, repo_type="dataset"), repo, marker, name)
        except DataError:
            raise
        except Exception as err:  # offline, unknown repository, auth
            raise DataError(f"could not download the {name} dataset {repo_id} from the hub "
                            f"({type(err).__name__}: {err}); without a network, download it elsewhere "
                            f"and pass its folder") from None
    raise DataError(f"{source}: no such folder; give a local copy of the hub dataset {repo} "
                    f"(holding {marker}) or 'hub' to download it")
