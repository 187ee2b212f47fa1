"""Statistics of the before/after comparison, on inputs whose answer is derivable by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.api import Accuracy, Geometry, ProbeData
from ftprobe.engine.probing import subsample
from ftprobe.engine.stats import min_distance_change, paired, pearson
from ftprobe.studies.compare import Space, compare_spaces, similarity


def test_pearson_matches_numpy_on_complete_vectors():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert pearson(a.tolist(), b.tolist()) == pytest.approx(np.corrcoef(a, b)[0, 1])


def test_pearson_removes_missing_pairs_instead_of_counting_zero():
    a = [1.0, 2.0, None, 4.0, float("nan")]
    b = [2.0, 4.0, 100.0, 8.0, 3.0]
    assert paired(a, b) == ([1.0, 2.0, 4.0], [2.0, 4.0, 8.0])
    assert pearson(a, b) == pytest.approx(1.0)
    # Counting the missing entry as 0 would change the answer: check we do not.
    zeroed = [1.0, 2.0, 0.0, 4.0]
    assert pearson(zeroed, [2.0, 4.0, 100.0, 8.0]) < 0


def test_pearson_undefined_cases_are_none():
    assert pearson([1.0], [2.0]) is None
    assert pearson([1.0, None, 3.0], [None, 2.0, 5.0]) is None  # one shared entry
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None  # constant side
    assert pearson([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="differ in length"):
        pearson([1.0, 2.0], [1.0])


def test_min_distance_change_counts_and_mean():
    before = {"A": 1.0, "B": 2.0, "C": 3.0, "D": 0.5, "E": None}
    after = {"A": 1.5, "B": 1.0, "C": 3.0, "E": 2.0, "F": 9.0}
    ch = min_distance_change(before, after)
    assert (ch["increased"], ch["decreased"], ch["unchanged"]) == (1, 1, 1)
    assert ch["n_compared"] == 3  # D, F missing on one side, E missing before
    assert ch["mean_change"] == pytest.approx((0.5 - 1.0 + 0.0) / 3)
    assert ch["per_label"]["B"] == {"before": 2.0, "after": 1.0, "change": -1.0}
    assert min_distance_change({}, {})["mean_change"] is None


def test_similarity_only_where_separable():
    sep = _geo(True, {"a": 1.0, "b": 2.0}, [1.0, 2.0, 3.0])
    sep2 = _geo(True, {"a": 1.0, "b": 2.0}, [2.0, 4.1, 6.0])
    not_sep = _geo(False, {"a": 1.0, "b": 2.0}, [1.0, 2.0, 3.0])
    r, why = similarity(sep, sep2)
    assert r == pytest.approx(np.corrcoef([1, 2, 3], [2, 4.1, 6])[0, 1]) and why == ""
    assert similarity(sep, not_sep) == (None, "not linearly separable")
    assert similarity(sep, None) == (None, "not linearly separable")


def test_subsample_is_seeded_and_keeps_labels():
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    data = ProbeData(X=X, y=np.arange(20) % 3, labels=["a", "b", "c"])
    a, b = subsample(data, 7, seed=3), subsample(data, 7, seed=3)
    assert len(a.y) == 7 and np.array_equal(a.X, b.X) and a.labels == data.labels
    assert np.array_equal(a.X[:, 0] // 2, np.flatnonzero(np.isin(X[:, 0], a.X[:, 0])))
    assert subsample(data, None) is data and subsample(data, 50) is data


def _geo(sep, outside, vec):
    n = len(outside)
    return Geometry(
        clusters=n if sep else n + 2,
        labels=n,
        train_labels=n,
        separable=sep,
        label_pairs=[["a", "b"]],
        pair_distances=vec,
        label_min_distance=outside,
    )


def test_compare_spaces_fields():
    pd = ProbeData(X=np.zeros((4, 2), np.float32), y=np.array([0, 1, 0, 1]), labels=["a", "b"])
    before = Space(
        pd,
        pd,
        Accuracy(mean=0.8, std=0.01),
        _geo(True, {"a": 1.0, "b": 2.0}, [1.0, 2.0, 4.0]),
        0.9,
        _geo(True, {"a": 1.0, "b": 2.0}, [1.1, None, 3.9]),
    )
    after = Space(
        pd,
        pd,
        Accuracy(mean=0.9, std=0.0),
        _geo(True, {"a": 3.0, "b": 1.0}, [2.0, 1.0, 5.0]),
        0.9,
        _geo(False, {"a": 1.0, "b": 2.0}, [1.0, 2.0, 3.0]),
    )
    row = compare_spaces(3, before, after)
    assert row["accuracy"]["change"] == pytest.approx(0.1)
    assert row["min_distance"]["increased"] == 1 and row["min_distance"]["decreased"] == 1
    assert row["min_distance"]["mean_change"] == pytest.approx(0.5)
    assert row["before_after_similarity"] == pytest.approx(np.corrcoef([1, 2, 4], [2, 1, 5])[0, 1])
    # train vs test before: the missing pair is dropped -> two points -> r = 1
    assert row["train_test_similarity"]["before"] == pytest.approx(1.0)
    assert row["train_test_similarity"]["after"] is None
    assert row["why_missing"] == {"train_test_similarity.after": "not linearly separable"}
    assert row["geometry"]["after"]["clusters"] == 2
    assert row["n_train"] == 4 and row["n_test"] == 4
