"""Classifier probes (``classifier``/``mlp``, ``linear``) on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.api import ProbeData
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import probes
from ftprobe.plugins.probes.classifier import (
    make_classifier,
    make_linear,
    stratified_sample,
    validation_split,
)
from ftprobe.plugins.probes.classifier_options import PAPER_L2, PAPER_SIZES

FAST = {"seeds": 2, "max_iter": 60, "patience": 8}


def blobs(n_per: int, centers: np.ndarray, noise: float, seed: int) -> ProbeData:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(centers)), n_per)
    X = centers[y] + noise * rng.normal(size=(len(y), centers.shape[1]))
    return ProbeData(X=X.astype(np.float32), y=y, labels=[f"c{i}" for i in range(len(centers))])


def xor(n: int, seed: int) -> ProbeData:
    """Four noisy clusters at (±1, ±1); label = sign(x0) xor sign(x1)."""
    rng = np.random.default_rng(seed)
    corners = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], np.float32)
    which = np.tile(np.arange(4), n // 4)
    X = corners[which] + 0.15 * rng.normal(size=(len(which), 2))
    y = (which >= 2).astype(np.int64)
    return ProbeData(X=X.astype(np.float32), y=y, labels=["same", "diff"])


# ------------------------------------------------------------------ learning
def test_linear_probe_separates_separable_blobs():
    centers = 4.0 * np.eye(5, 8)
    probe = make_linear(l2="1e-4", lr=0.01, **FAST)
    probe.fit(blobs(40, centers, 0.5, 0))
    m = probe.evaluate(blobs(20, centers, 0.5, 1)).metrics
    assert m["accuracy"] >= 0.99
    assert m["train_accuracy"] >= 0.99
    assert m["config"]["sizes"] == [] and m["config"]["hidden"] == "linear"
    assert m["majority_baseline"] == pytest.approx(0.2)


def test_mlp_solves_xor_where_linear_cannot():
    train, test = xor(200, 0), xor(200, 1)
    opts = {"l2": "1e-5", "lr": 0.02, "batch_size": 32, "max_iter": 60}
    mlp = make_classifier(sizes="32x32", patience=20, seeds=2, **opts)
    mlp.fit(train)
    lin = make_linear(patience=10, seeds=1, **opts)
    lin.fit(train)
    assert mlp.evaluate(test).metrics["accuracy"] >= 0.97
    # no line puts more than three of the four corner clusters on the right side
    assert lin.evaluate(test).metrics["accuracy"] <= 0.80


# ------------------------------------------------------------------- report
def test_metrics_files_and_grid():
    centers = 3.0 * np.eye(3, 6)
    train = blobs(30, centers, 1.0, 0)
    # test: labels c0 and c2 only (c1 absent), c0 more frequent
    test = blobs(10, centers, 1.0, 2)
    keep = np.flatnonzero(test.y != 1)[5:]
    test = ProbeData(test.X[keep], test.y[keep], test.labels)
    probe = make_classifier(sizes="8x8,16x16", l2="1e-4,1e-2", **FAST)
    probe.fit(train, seed=3)
    result = probe.evaluate(test)
    m = result.metrics
    for key in (
        "accuracy accuracy_std accuracies train_accuracy config grid per_label_accuracy "
        "majority_baseline n_train n_test"
    ).split():
        assert key in m
    assert result.main_metric == "accuracy"
    assert len(m["accuracies"]) == 2 and m["seeds"] == [3, 4]
    assert m["accuracy"] == pytest.approx(np.mean(m["accuracies"]))
    assert m["accuracy_std"] == pytest.approx(np.std(m["accuracies"]))
    assert len(m["grid"]) == 4
    assert {tuple(g["sizes"]) for g in m["grid"]} == {(8, 8), (16, 16)}
    best = max(g["val_accuracy"] for g in m["grid"])
    assert m["config"]["val_accuracy"] == best
    assert set(m["per_label_accuracy"]) == {"c0", "c2"}  # c1 has no test example
    # every training label is equally frequent: argmax picks c0 -> share of c0 in test
    assert m["majority_label"] == "c0"
    assert m["majority_baseline"] == pytest.approx(np.mean(test.y == 0))
    assert m["n_train"] == 90 and m["n_test"] == len(test.y) and m["n_val"] == 9
    lines = result.files["predictions.txt"].splitlines()
    assert len(lines) == len(test.y)
    golds = [line.split("\t")[0] for line in lines]
    assert golds == [test.labels[i] for i in test.y]
    preds = [line.split("\t")[1] for line in lines]
    acc0 = np.mean([g == p for g, p in zip(golds, preds, strict=True)])
    assert acc0 == pytest.approx(m["accuracies"][0])
    grid_rows = result.files["grid.tsv"].splitlines()
    assert grid_rows[0].split("\t")[:3] == ["sizes", "l2", "val_accuracy"]
    assert len(grid_rows) == 5 and sum(r.endswith("*") for r in grid_rows) == 1


def test_same_seed_same_predictions_readonly_memmap(tmp_path):
    centers = 1.5 * np.eye(4, 10)
    data = blobs(30, centers, 1.0, 0)
    path = tmp_path / "X.npy"
    np.save(path, data.X)
    X_ro = np.load(path, mmap_mode="r")  # read-only memmap, as the vector cache gives
    test = blobs(10, centers, 1.0, 5)
    results = []
    for X in (X_ro, data.X):
        probe = make_classifier(sizes="16x16", l2="1e-3", **FAST)
        probe.fit(ProbeData(X, data.y, data.labels), seed=7)
        results.append(probe.evaluate(test))
    assert results[0].files == results[1].files
    assert results[0].metrics["accuracies"] == results[1].metrics["accuracies"]


def test_single_example_labels_and_standardize():
    centers = 3.0 * np.eye(3, 4)
    data = blobs(20, centers, 0.5, 0)
    X = np.vstack([data.X, [[0, 0, 0, 9]]]).astype(np.float32)
    y = np.append(data.y, 3)
    train = ProbeData(X, y, [*data.labels, "lone"])
    probe = make_linear(standardize="true", **FAST)
    probe.fit(train)
    m = probe.evaluate(ProbeData(X, y, train.labels)).metrics
    assert m["n_val"] == 6  # round(20 * 0.1) of each of c0..c2; "lone" stays in training
    assert m["per_label_accuracy"]["c0"] == 1.0


def test_validation_split_is_stratified_seeded_and_keeps_rare_labels():
    y = np.array([0] * 50 + [1] * 20 + [2] * 3 + [3])
    fit, val = validation_split(y, 0.1, seed=1)
    assert sorted(np.concatenate([fit, val]).tolist()) == list(range(len(y)))
    assert np.bincount(y[val], minlength=4).tolist() == [5, 2, 0, 0]
    assert np.array_equal(val, validation_split(y, 0.1, seed=1)[1])
    assert not np.array_equal(val, validation_split(y, 0.1, seed=2)[1])
    assert len(validation_split(np.array([0, 1, 2]), 0.5, 0)[1]) == 0
    sample = stratified_sample(y, 37, seed=0)
    assert np.bincount(y[sample], minlength=4).tolist() == [25, 10, 2, 1]


# ------------------------------------------------------------------ options
def test_options_from_strings():
    probe = make_classifier(
        sizes="32x64,128x128", l2="1e-7,1", max_iter="50", seeds="3", val_fraction="0.2",
        standardize="yes", device="cpu", batch_size=128,
    )  # fmt: skip
    o = probe.options
    assert o.sizes == ((32, 64), (128, 128)) and o.l2 == (1e-7, 1.0)
    assert (o.max_iter, o.seeds, o.val_fraction, o.standardize, o.batch_size) == (
        50, 3, 0.2, True, 128,
    )  # fmt: skip
    paper = make_classifier(paper_grid="true").options
    assert paper.sizes == PAPER_SIZES and len(PAPER_SIZES) == 16
    assert paper.l2 == PAPER_L2 and PAPER_L2[0] == pytest.approx(1e-7) and PAPER_L2[-1] == 1.0
    assert paper.max_iter == 1000
    assert make_classifier(paper_grid=True, l2=0.5).options.l2 == (0.5,)
    assert make_linear().options.sizes == ((),)


@pytest.mark.parametrize(
    ("make", "options", "needle"),
    [
        (make_classifier, {"sizes": "64y64"}, "sizes="),
        (make_classifier, {"sizes": "0x64"}, "sizes="),
        (make_classifier, {"sizes": ""}, "sizes="),
        (make_classifier, {"l2": "-1"}, "l2="),
        (make_classifier, {"l2": "small"}, "l2="),
        (make_classifier, {"max_iter": "ten"}, "max_iter="),
        (make_classifier, {"seeds": 0}, "seeds="),
        (make_classifier, {"val_fraction": 1.5}, "val_fraction="),
        (make_classifier, {"paper_grid": "maybe"}, "paper_grid="),
        (make_classifier, {"device": "tpu"}, "device="),
        (make_classifier, {"hidden": "64"}, "unknown probe option 'hidden'"),
        (make_linear, {"sizes": "64x64"}, "no hidden layers"),
    ],
)
def test_bad_options_one_line_errors(make, options, needle):
    with pytest.raises(FtprobeError) as err:
        make(**options)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_bad_data_errors():
    probe = make_linear(**FAST)
    with pytest.raises(FtprobeError, match="NaN"):
        probe.fit(
            ProbeData(np.full((4, 2), np.nan, np.float32), np.array([0, 1, 0, 1]), ["a", "b"])
        )
    with pytest.raises(FtprobeError, match="fit"):
        probe.evaluate(ProbeData(np.zeros((2, 2), np.float32), np.array([0, 1]), ["a", "b"]))


def test_registered_with_alias():
    registry = probes()
    assert registry.get("mlp") is registry.get("classifier")
    assert registry.owner("linear") == "classifier"
    assert isinstance(registry.get("linear").factory(l2="1e-3"), type(make_linear()))
