"""HPatches builder: 80/10/10 split by sequence, pairs j - i >= 2, labels from the homographies."""

from __future__ import annotations

import numpy as np
import pytest

from livr.data.build import build_task
from livr.data.build.hpatches import split_sequences
from livr.errors import DataError
from tests.data import fixtures as fx


@pytest.fixture(scope="module")
def hpatches(tmp_path_factory):
    root = tmp_path_factory.mktemp("hp")
    release = fx.write_hpatches(root)
    splits = build_task(
        "visual_correspondence", root, {"train": 24, "validation": 6, "test": 6}, seed=0
    )
    return release, splits


def test_sizes_schema_and_sequence_split(hpatches):
    release, splits = hpatches
    assert {s: len(r) for s, r in splits.items()} == {"train": 24, "validation": 6, "test": 6}
    fx.fits_features([r for recs in splits.values() for r in recs])
    seqs = {s: {fx.meta(r)["sequence"] for r in recs} for s, recs in splits.items()}
    assert not (
        seqs["train"] & seqs["validation"]
        or seqs["train"] & seqs["test"]
        or seqs["validation"] & seqs["test"]
    )
    fx.assert_disjoint(splits)
    parts = split_sequences(sorted(release.iterdir()), seed=0)
    for split, group in parts.items():  # 4 + 4 sequences: 2/1/1 of each kind per split
        kinds = sorted(p.name[0] for p in group)
        assert kinds == (["i", "i", "v", "v"] if split == "train" else ["i", "v"])


def test_pairs_and_true_point_follow_the_homography(hpatches):
    release, splits = hpatches
    for recs in splits.values():
        for rec in recs:
            m = fx.meta(rec)
            i, j = m["pair"]
            assert 1 <= i < j <= 6 and j - i >= 2
            seq = release / m["sequence"]
            h1 = {k: np.eye(3) if k == 1 else np.loadtxt(seq / f"H_1_{k}") for k in (i, j)}
            H = h1[j] @ np.linalg.inv(h1[i])
            p = H @ np.array([*m["ref_point"], 1.0])
            truth = p[:2] / p[2]
            answer = "ABCD".index(rec["answer"])
            cands = np.array(m["candidate_points"])
            assert np.hypot(*(cands[answer] - truth)) < 1.0
            w, h = rec["images"][1].size
            others = np.delete(cands, answer, axis=0)
            assert np.all(np.hypot(*(others - truth).T) >= 0.15 * min(w, h))
            assert rec["choices"] == ["Point A", "Point B", "Point C", "Point D"]


def test_answers_use_every_letter(hpatches):
    _, splits = hpatches
    assert {r["answer"] for r in splits["train"]} == set("ABCD")


def test_missing_homography_names_the_sequence(tmp_path):
    release = fx.write_hpatches(tmp_path, n_each=1, width=40, height=30)
    (release / "v_seq0" / "H_1_4").unlink()
    with pytest.raises(DataError, match=r"v_seq0.*H_1_4"):
        build_task("visual_correspondence", tmp_path, {"train": 1, "validation": 0, "test": 0})


def test_wrong_layout(tmp_path):
    (tmp_path / "sequences").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path}.*i_\*/ and v_\*/"):
        build_task("visual_correspondence", tmp_path)
