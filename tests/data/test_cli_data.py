"""`livr data synth|build|dedup|show|info` end to end through `livr.cli.main.main`."""

from __future__ import annotations

import hashlib
import json
import types
from importlib.util import find_spec

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

import livr.data.synth
import livr.data.tasks
from livr.cli.main import main
from livr.data.loading import load_data
from livr.data.schema import choice_letter, make_record


def _fake_generate(task: str):
    """A fast stand-in for a task generator, honouring the contract (n records, split-local rng)."""

    def generate(split, n, rng, **knobs):
        kind = livr.data.tasks.get_task(task).answer_kind
        records = []
        for i in range(n):
            image = Image.new("RGB", (96, 80), tuple(int(c) for c in rng.integers(120, 256, 3)))
            draw = ImageDraw.Draw(image)
            for _ in range(4):
                x, y = (int(v) for v in rng.integers(0, 60, 2))
                draw.rectangle(
                    [x, y, x + 30, y + 25], fill=tuple(int(c) for c in rng.integers(0, 120, 3))
                )
            records.append(
                make_record(
                    id=f"{task}-{split}-{i:06d}",
                    task=task,
                    images=[image, image.rotate(90)],
                    question="Which?",
                    choices=["Box A", "Box B"] if kind == "choice" else [],
                    answer=choice_letter(i % 2) if kind == "choice" else str(2 + i % 3),
                    prompt="Which?\n(A) Box A\n(B) Box B",
                    source=f"synthetic:{task}",
                )
            )
        return records

    return generate


@pytest.fixture
def fake_generators(monkeypatch):
    def generator_module(task):
        livr.data.tasks.get_task(task)
        return types.SimpleNamespace(generate=_fake_generate(task))

    monkeypatch.setattr(livr.data.synth, "generator_module", generator_module)


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code, err, *needles):
    assert code == 2
    assert "Traceback" not in err
    message = err.strip()
    assert message.startswith("livr data: error:") and "\n" not in message  # one paragraph
    for needle in needles:
        assert needle in message


def _digests(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_synth_single_task(tmp_path, capsys, fake_generators):
    code, out, _ = run_cli(
        capsys,
        "data",
        "synth",
        "--task",
        "localization",
        "--train",
        5,
        "--val",
        2,
        "--test",
        3,
        "--seed",
        1,
        "--out",
        tmp_path / "d",
        "--no-progress",
    )
    assert code == 0
    dd = load_data(tmp_path / "d")
    assert {s: len(dd[s]) for s in dd} == {"train": 5, "validation": 2, "test": 3}
    assert out.count("\n") == 1 and "train 5, validation 2, test 3" in out and "localization" in out


def test_synth_mixture_is_unique_shuffled_and_deterministic(tmp_path, capsys, fake_generators):
    args = [
        "data",
        "synth",
        "--tasks",
        "jigsaw,counting",
        "--train",
        4,
        "--val",
        1,
        "--test",
        2,
        "--seed",
        3,
        "--no-progress",
    ]
    assert run_cli(capsys, *args, "--out", tmp_path / "a")[0] == 0
    assert run_cli(capsys, *args, "--out", tmp_path / "b")[0] == 0
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    dd = load_data(tmp_path / "a")
    ids = [i for s in dd for i in dd[s]["id"]]
    assert len(ids) == len(set(ids)) == 14
    tasks = list(dd["train"]["task"])
    assert sorted(tasks) == ["counting"] * 4 + ["jigsaw"] * 4
    assert tasks != sorted(tasks, key=["jigsaw", "counting"].index)  # mixed, not blocked by task


def test_synth_real_generator_tiny(tmp_path, capsys):
    """One real generator end to end (vsp: it draws sprites, so no photos need loading)."""
    code, out, _ = run_cli(
        capsys,
        "data",
        "synth",
        "--task",
        "vsp",
        "--train",
        2,
        "--val",
        1,
        "--test",
        1,
        "--out",
        tmp_path / "v",
        "--no-progress",
    )
    assert code == 0, out
    dd = load_data(tmp_path / "v")
    assert set(dd["train"]["task"]) == {"vsp"} and len(dd["test"]) == 1
    assert all("Action plan:" in a for a in dd["train"]["answer"])


def test_synth_same_bytes_for_any_number_of_workers(tmp_path, capsys, monkeypatch):
    """Real generators with photos, helper images and two images per record: every file of the
    folder (sha256) is the same whether this process or three worker processes draw the records
    (in parts of 2, so each worker draws parts of every split)."""
    import livr.data.drawing

    monkeypatch.setattr(livr.data.drawing, "PART_SIZE", 2)
    folders = []
    for workers in (1, 3):
        folders.append(tmp_path / f"w{workers}")
        code, out, _ = run_cli(capsys, "data", "synth", "--tasks", "counting,visual_correspondence",
                               "--train", 5, "--val", 2, "--test", 2, "--workers", workers,
                               "--out", folders[-1], "--no-progress")
        assert code == 0, out
    one, three = (_digests(f) for f in folders)
    assert len(one) > 3 and one == three
    dd = load_data(folders[0])
    assert dd["train"][0]["images"][0].mode == "RGB" and len(dd["train"]) == 10


def test_synth_image_size_shrinks_images_only(tmp_path, capsys, fake_generators):
    """--image-size: the same records, every image's longer side at most PX (aspect kept)."""
    args = ["data", "synth", "--task", "localization", "--train", 3, "--val", 1, "--test", 1, "--no-progress"]
    assert run_cli(capsys, *args, "--out", tmp_path / "full")[0] == 0
    assert run_cli(capsys, *args, "--image-size", 48, "--out", tmp_path / "small")[0] == 0
    full, small = load_data(tmp_path / "full"), load_data(tmp_path / "small")
    for split in full:
        assert full[split]["id"] == small[split]["id"] and full[split]["answer"] == small[split]["answer"]
        for a, b in zip(full[split]["images"], small[split]["images"]):
            assert [im.size for im in a] == [(96, 80)] * 2
            assert [im.size for im in b] == [(48, 40)] * 2


def test_synth_defaults_follow_the_paper():
    from livr.cli.main import build_parser

    args = build_parser().parse_args(["data", "synth", "--task", "jigsaw", "--out", "x"])
    assert (args.train, args.val, args.test, args.seed) == (1000, 250, 250, 0)


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["--task", "jigsawz"], ["--task", "unknown task 'jigsawz'", "known tasks: counting"]),
        (["--tasks", "jigsaw,nope"], ["--tasks", "'nope'"]),
        (["--task", "jigsaw", "--train", "-3"], ["--train must be >= 0", "-3"]),
        (["--task", "jigsaw", "--test", "-1"], ["--test must be >= 0"]),
        (["--task", "jigsaw", "--image-size", "0"], ["--image-size", "positive", "0"]),
        (["--task", "jigsaw", "--workers", "0"], ["--workers must be >= 1", "0"]),
    ],
)
def test_synth_bad_options(tmp_path, capsys, fake_generators, argv, needles):
    code, _, err = run_cli(capsys, "data", "synth", *argv, "--out", tmp_path / "d")
    assert_clean_error(code, err, *needles)
    assert not (tmp_path / "d").exists()


def test_synth_refuses_existing_folder(tmp_path, capsys, fake_generators):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("mine")
    code, _, err = run_cli(
        capsys, "data", "synth", "--task", "jigsaw", "--train", 1, "--out", tmp_path / "d"
    )
    assert_clean_error(code, err, "--out", str(tmp_path / "d"), "--overwrite")
    assert (tmp_path / "d" / "keep.txt").read_text() == "mine"


def test_synth_names_a_missing_generator(tmp_path, capsys, monkeypatch):
    def generator_module(task):
        raise ModuleNotFoundError(
            f"No module named 'livr.data.synth.{task}'", name=f"livr.data.synth.{task}"
        )

    monkeypatch.setattr(livr.data.synth, "generator_module", generator_module)
    code, _, err = run_cli(
        capsys, "data", "synth", "--task", "vsp", "--train", 1, "--out", tmp_path / "d"
    )
    assert_clean_error(code, err, "'vsp'", "livr/data/synth/vsp.py")


@pytest.fixture
def small_folder(tmp_path, capsys, fake_generators):
    path = tmp_path / "data"
    assert (
        run_cli(
            capsys,
            "data",
            "synth",
            "--tasks",
            "localization,jigsaw",
            "--train",
            4,
            "--val",
            2,
            "--test",
            3,
            "--out",
            path,
            "--no-progress",
        )[0]
        == 0
    )
    return path


def test_info_counts_and_answers(small_folder, capsys):
    code, out, _ = run_cli(capsys, "data", "info", small_folder)
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert ["train", "(all)", "8"] in lines
    assert ["train", "jigsaw", "4", "A:2", "B:2"] in lines
    assert ["test", "localization", "3", "A:2", "B:1"] in lines


def test_show_writes_a_readable_sheet(small_folder, tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "data",
        "show",
        small_folder,
        "--out",
        tmp_path / "s.png",
        "--split",
        "train",
        "--n",
        3,
        "--task",
        "jigsaw",
    )
    assert code == 0 and "3 examples" in out
    sheet = Image.open(tmp_path / "s.png")
    assert sheet.width == 1400 and sheet.height > 3 * 150
    grey = np.asarray(sheet.convert("L"))
    assert (grey < 100).mean() > 0.005  # text and images were drawn, not a blank page
    code, _, err = run_cli(
        capsys, "data", "show", small_folder, "--out", tmp_path / "t.png", "--task", "counting"
    )
    assert_clean_error(code, err, "no examples of task 'counting'", "jigsaw, localization")
    code, _, err = run_cli(
        capsys, "data", "show", small_folder, "--out", tmp_path / "t.png", "--split", "val"
    )
    assert_clean_error(code, err, "no split 'val'")


def test_dedup_cli_writes_report_and_cleaned_folder(small_folder, tmp_path, capsys):
    dd = load_data(small_folder)
    leaked_id = dd["train"][2]["id"]
    test_row = dd["test"][1]
    # Rewrite the folder with a blurred copy of a test image inside one train example.
    from livr.data.writer import write_dataset

    splits = {s: [dict(r) for r in dd[s]] for s in dd}
    splits["train"][2]["images"] = [
        splits["train"][2]["images"][0],
        test_row["images"][0].filter(ImageFilter.GaussianBlur(1)),
    ]
    write_dataset(splits, small_folder, overwrite=True)

    report, clean = tmp_path / "r.json", tmp_path / "clean"
    code, out, _ = run_cli(
        capsys,
        "data",
        "dedup",
        "--data",
        small_folder,
        "--out",
        report,
        "--out-data",
        clean,
        "--no-progress",
    )
    assert code == 0 and "train 1/8" in out
    rep = json.loads(report.read_text())
    assert [(r["id"], r["matches"][0]["test_id"]) for r in rep["removed"]] == [
        (leaked_id, test_row["id"])
    ]
    cleaned = load_data(clean)
    assert leaked_id not in set(cleaned["train"]["id"]) and len(cleaned["train"]) == 7
    assert list(cleaned["test"]["id"]) == list(dd["test"]["id"])

    # Against another folder (its test split): the same leak is found; existing --out-data refused.
    code, out, _ = run_cli(
        capsys,
        "data",
        "dedup",
        "--data",
        small_folder,
        "--against",
        small_folder,
        "--splits",
        "train",
        "--out",
        report,
    )
    assert code == 0 and "no --out-data" in out
    code, _, err = run_cli(
        capsys, "data", "dedup", "--data", small_folder, "--out", report, "--out-data", clean
    )
    assert_clean_error(code, err, "--out-data", "--overwrite")
    code, _, err = run_cli(
        capsys,
        "data",
        "dedup",
        "--data",
        small_folder,
        "--against",
        tmp_path / "nope",
        "--out",
        report,
    )
    assert_clean_error(code, err, "--against")
    code, _, err = run_cli(
        capsys, "data", "dedup", "--data", small_folder, "--out", report, "--phash-max", 99
    )
    assert_clean_error(code, err, "--phash-max")


def test_build_is_registered_or_reports_its_absence(tmp_path, capsys, monkeypatch, fake_generators):
    import importlib

    real_import = importlib.import_module
    if find_spec("livr.data.build") is not None:
        with pytest.raises(SystemExit) as exit_:
            main(["data", "build", "--help"])
        assert exit_.value.code == 0 and "--source" in capsys.readouterr().out

    def no_build(name, *a, **k):
        if name == "livr.data.build":
            raise ModuleNotFoundError("No module named 'livr.data.build'", name="livr.data.build")
        return real_import(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", no_build)
    code, _, err = run_cli(capsys, "data", "build", "--task", "jigsaw")
    assert_clean_error(code, err, "livr data build", "not available")
    assert (
        run_cli(
            capsys,
            "data",
            "synth",
            "--task",
            "jigsaw",
            "--train",
            1,
            "--val",
            0,
            "--test",
            0,
            "--out",
            tmp_path / "d",
            "--no-progress",
        )[0]
        == 0
    )


def test_show_draws_the_helper_image_beside_the_question(tmp_path, capsys):
    """A record with a helper image (Mirage): the sheet shows it right of the question image, on
    the same row, at the same scale; a record without one shows the question image alone."""
    from livr.data.writer import write_dataset

    cyan, magenta = (0, 255, 255), (255, 0, 255)

    def record(i, helper):
        return make_record(id=f"jigsaw-test-{i:06d}", task="jigsaw", images=[Image.new("RGB", (120, 90), cyan)],
                           question="Which?", choices=["Box A", "Box B"], answer="A",
                           prompt="Which?\n(A) Box A\n(B) Box B", source="synthetic:jigsaw",
                           helper_image=Image.new("RGB", (120, 90), magenta) if helper else None)

    write_dataset({"train": [record(0, True)], "test": [record(1, True), record(2, False)]}, tmp_path / "d")
    sheets = {}
    for n in (1, 2):
        code, out, _ = run_cli(capsys, "data", "show", tmp_path / "d", "--out", tmp_path / f"{n}.png", "--n", n)
        assert code == 0, out
        sheets[n] = np.asarray(Image.open(tmp_path / f"{n}.png").convert("RGB")).astype(int)

    def where(sheet, colour):
        ys, xs = np.nonzero((np.abs(sheet - colour).sum(-1) < 30))
        return ys, xs

    (cy, cx), (my, mx) = where(sheets[1], cyan), where(sheets[1], magenta)
    assert len(cx) > 1000 and len(mx) > 1000
    assert mx.min() > cx.max()  # beside, to the right
    assert (my.min(), my.max()) == (cy.min(), cy.max())  # the same row band: same height, same scale
    assert abs((mx.max() - mx.min()) - (cx.max() - cx.min())) <= 1
    # the second panel (no helper) adds question-image pixels but no helper pixels
    assert len(where(sheets[2], magenta)[0]) == len(my)
    assert len(where(sheets[2], cyan)[0]) > 1.9 * len(cy)
