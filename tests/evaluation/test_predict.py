"""`livr predict` and `livr.predict`: one prompt about your own image files, answered by a run,
its export or a zero-shot model exactly as `livr eval` answers the same record."""

from __future__ import annotations

import json

import pytest

import livr
from livr.cli.main import main


@pytest.fixture(scope="module")
def test_records(eval_data, tmp_path_factory):
    """The test records of the evaluation data, each with its image saved as a PNG file."""
    from livr.data.loading import load_split

    folder = tmp_path_factory.mktemp("images")
    records = []
    for i, record in enumerate(load_split(eval_data, "test")):
        paths = []
        for j, image in enumerate(record["images"]):
            paths.append(folder / f"{i}-{j}.png")
            image.save(paths[-1])
        records.append({**record, "files": [str(p) for p in paths]})
    return records


def _predict(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["predict", *map(str, args)])
    return code, capsys.readouterr().out


def test_predict_prints_the_answer_livr_eval_records(livr_run, exported, test_records, capsys):
    """For every test record: the run's answer printed alone, equal to the run's own test pass
    (`livr eval` reproduces those too); the export answers the same."""
    trained = {r["id"]: r["prediction"] for r in json.loads((livr_run / "test_predictions.json").read_text())}
    for record in test_records[:2] + test_records[-1:]:  # both tasks
        images = [a for f in record["files"] for a in ("--image", f)]
        for model in (livr_run, exported):
            code, out = _predict(capsys, "--model", model, *images, "--prompt", record["prompt"],
                                 "--max-new-tokens", 4)
            assert code == 0
            assert out == trained[record["id"]] + "\n", (model, record["id"])


def test_probe_answers_are_livr_probes(exported, test_records, capsys):
    """--probe: one line per probe, each the answer `livr probe` gives that record under it."""
    from livr.evaluation.models import load_eval_model
    from livr.evaluation.probes import LIVR_PROBES
    from livr.evaluation.run import Evaluator

    record = test_records[0]
    code, out = _predict(capsys, "--model", exported, "--image", record["files"][0], "--prompt", record["prompt"],
                         "--max-new-tokens", 4, "--probe")
    assert code == 0
    lines = out.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == list(LIVR_PROBES)
    evaluator = Evaluator(load_eval_model(str(exported)), [record], max_new_tokens=4)
    for line in lines:
        name, answer = line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
        assert answer == evaluator.run(name)[1][0]["output"], name


def test_python_call_is_the_cli(exported, test_records, capsys):
    """`livr.predict` takes paths or PIL images and a loaded model; `livr.predict_probes` the probes."""
    from livr.evaluation.models import load_eval_model

    record = test_records[-1]
    _, out = _predict(capsys, "--model", exported, "--image", record["files"][0], "--prompt", record["prompt"],
                      "--max-new-tokens", 4)
    assert livr.predict(str(exported), record["files"], record["prompt"], max_new_tokens=4) + "\n" == out
    model = load_eval_model(str(exported))
    assert livr.predict(model, record["images"], record["prompt"], max_new_tokens=4) + "\n" == out
    answers = livr.predict_probes(model, record["images"], record["prompt"], max_new_tokens=4,
                                  probes=["none", "bottleneck"])
    assert list(answers) == ["none", "bottleneck"] and answers["none"] + "\n" == out


def test_zero_shot_model_gets_only_the_probes_that_apply(test_records, capsys):
    record = test_records[0]
    code, out = _predict(capsys, "--model", "tiny:qwen2_5_vl", "--image", record["files"][0],
                         "--prompt", record["prompt"], "--max-new-tokens", 2, "--probe")
    assert code == 0
    assert [line.split(":", 1)[0] for line in out.splitlines()] == ["none", "bottleneck"]
