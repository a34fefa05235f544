"""A tiny two-task data folder, one finished LIVR run on it and its export, shared by the
evaluation tests (trained once per session: about 10 s)."""

from __future__ import annotations

import pytest

from tests.training.conftest import make_data, tiny
from tests.training.conftest import one_thread_and_frozen_heap  # noqa: F401  (autouse here too)

TASKS = ["localization", "counting"]


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory):
    """localization + counting; train 4 / validation 1 / test 3 of each."""
    return make_data(tmp_path_factory.mktemp("data") / "two-tasks", TASKS,
                     {"train": 4, "validation": 1, "test": 3})


@pytest.fixture(scope="session")
def livr_run(eval_data, tmp_path_factory):
    from livr.training.config import load_config
    from livr.training.run import train

    out = tmp_path_factory.mktemp("runs") / "livr"
    train(load_config(None, tiny(eval_data, out, max_new_tokens=4)))
    return out


@pytest.fixture(scope="session")
def exported(livr_run, tmp_path_factory):
    from livr.training.export import export_run

    return export_run(livr_run, tmp_path_factory.mktemp("exports") / "livr", merge=True)
