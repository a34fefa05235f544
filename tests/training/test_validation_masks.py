"""Stage-aware validation: every epoch is validated under its stage's mask (and the standard mask
when that differs); the best epoch and the test accuracy come from `eval_mask`, the mask the final
model is used with (by default the mask of the run's last stage)."""

import json

import pytest
import torch

from livr.training import load_config, load_run, train
from tests.training.conftest import shrink, tiny


def run(values, **kwargs):
    return train(load_config(None, values), **kwargs)


@pytest.fixture(scope="module")
def memo_data(tmp_path_factory):
    """Localization, validation = the training records again (other ids), test = 2 other records.

    After `shrink` every prompt is the same text and every image gives the same number of image
    tokens, so under the `bottleneck` mask without latents (K = 0) the answer rows see only that
    text: one prediction for every record, right for at most half of them (answers A, B, A, B)."""
    from livr.data.synth import generate_split
    from livr.data.writer import write_dataset

    records = shrink(generate_split("localization", "train", 4, 0))
    assert len({r["prompt"] for r in records}) == 1 and len({r["answer"] for r in records}) == 2
    validation = [dict(r, id=f"{r['id']}-again") for r in records]
    test = shrink(generate_split("localization", "test", 2, 0))
    path = tmp_path_factory.mktemp("data") / "memo"
    write_dataset({"train": records, "validation": validation, "test": test}, path)
    return str(path)


def test_stage1_only_run_is_validated_selected_and_tested_under_its_mask(memo_data, tmp_path):
    """mask_only with the full bottleneck and no stage 2: both masks per epoch, in metrics.json,
    progress.json and the logs; they differ; the recorded numbers are those of `evaluate` under
    each mask; selection and test use the bottleneck."""
    from livr.evaluation.generate import evaluate
    from livr.training.data import load_run_data

    out = tmp_path / "stage1"
    metrics = run(tiny(memo_data, out, method="mask_only", num_latents=None, stage1_mask="bottleneck",
                       stage1_epochs=6, stage2_epochs=0, learning_rate=1e-2, leakage="off",
                       keep_checkpoints=True))
    history = metrics["history"]
    assert metrics["eval_mask"] == "bottleneck" and metrics["selection"] == "best"
    assert [h["mask"] for h in history] == ["bottleneck"] * 6
    assert all(list(h["val_accuracy_by_mask"]) == ["bottleneck", "standard"] for h in history)
    assert all(h["val_accuracy"] == h["val_accuracy_by_mask"]["bottleneck"] for h in history)
    # blind to the image, the bottleneck is right on at most half of the records
    assert all(h["val_accuracy_by_mask"]["bottleneck"] <= 0.5 for h in history)
    assert any(h["val_accuracy_by_mask"]["bottleneck"] != h["val_accuracy_by_mask"]["standard"] for h in history)
    assert json.loads((out / "progress.json").read_text())["history"] == history
    best = max(h["val_accuracy"] for h in history)
    assert metrics["best_val_accuracy"] == best
    assert metrics["selected_epoch"] == min(h["epoch"] for h in history if h["val_accuracy"] == best)

    # the Trainer's log (what tensorboard gets): the accuracy under each mask
    state = json.loads(next((out / "checkpoints" / "stage1").glob("checkpoint-*/trainer_state.json")).read_text())
    logged = [e for e in state["log_history"] if "livr/val_accuracy" in e]
    assert [(e["livr/val_accuracy"], e["livr/val_accuracy/bottleneck"], e["livr/val_accuracy/standard"])
            for e in logged] == [(h["val_accuracy"], h["val_accuracy_by_mask"]["bottleneck"],
                                  h["val_accuracy_by_mask"]["standard"]) for h in history]

    # the saved (selected) model gives the selected epoch's numbers under each mask, and the test
    # predictions are its bottleneck predictions
    lm, config = load_run(out)
    data = load_run_data(config)
    kept = next(h for h in history if h["epoch"] == metrics["selected_epoch"])
    for mask in ("bottleneck", "standard"):
        report = evaluate(lm, data.validation.records, max_new_tokens=config.max_new_tokens, mask_policy=mask)
        assert report["accuracy"] == kept["val_accuracy_by_mask"][mask], mask
    report = evaluate(lm, data.test.records, max_new_tokens=config.max_new_tokens, mask_policy="bottleneck")
    saved = json.loads((out / "test_predictions.json").read_text())
    assert [row["prediction"] for row in saved] == report["predictions"]
    assert metrics["test_accuracy"] == report["accuracy"]


# Scripted validation accuracies per mask and epoch: the two masks disagree on the best epoch.
SCRIPT = {"bottleneck": [0.0, 1.0, 0.5], "standard": [1.0, 0.0, 0.5]}


@pytest.mark.parametrize("eval_mask,selected", [("auto", 2), ("standard", 1)])
def test_best_epoch_and_test_under_the_eval_mask(eval_mask, selected, loc_data, tmp_path, monkeypatch):
    """A stage-1-only livr run whose validation accuracies are scripted per mask (the real
    generation still runs): the best epoch is the eval mask's, the kept weights are that epoch's,
    and the test split is evaluated under the eval mask."""
    import livr.evaluation.generate as generate
    from livr.training.trainer import trainable_state

    real = generate.evaluate
    calls, snapshots = [], []

    def scripted(lm, records, examples=None, *, mask_policy="standard", desc="", **kwargs):
        report = real(lm, records, examples, mask_policy=mask_policy, desc=desc, **kwargs)
        calls.append((desc.split(" ", 1)[0], mask_policy))
        if desc.startswith("validation"):
            n = sum(1 for c in calls if c == ("validation", mask_policy)) - 1
            report["accuracy"] = SCRIPT[mask_policy][n]
            if mask_policy == "standard":  # once per epoch
                snapshots.append(trainable_state(lm.model))
        return report

    monkeypatch.setattr(generate, "evaluate", scripted)
    out = tmp_path / "run"
    metrics = run(tiny(loc_data, out, stage1_epochs=3, stage2_epochs=0, eval_mask=eval_mask))
    mask = "bottleneck" if eval_mask == "auto" else eval_mask
    history = metrics["history"]
    assert [h["val_accuracy_by_mask"] for h in history] == [
        {"bottleneck": b, "standard": s} for b, s in zip(SCRIPT["bottleneck"], SCRIPT["standard"])]
    assert [h["val_accuracy"] for h in history] == SCRIPT[mask]
    assert metrics["eval_mask"] == mask and metrics["selection"] == "best"
    assert metrics["selected_epoch"] == metrics["best_epoch"] == selected
    assert metrics["best_val_accuracy"] == 1.0 and metrics["final_val_accuracy"] == 0.5
    assert calls[-1] == ("test", mask) and calls.count(("test", mask)) == 1

    lm, _ = load_run(out)
    kept = trainable_state(lm.model)
    assert len(snapshots) == 3 and set(kept) == set(snapshots[0])
    for epoch, snapshot in enumerate(snapshots, 1):
        same = all(torch.equal(kept[k], snapshot[k]) for k in kept)
        assert same == (epoch == selected), epoch
