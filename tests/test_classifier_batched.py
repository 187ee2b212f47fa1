"""Batched training of the classifier probe's nets (``mlp.train_many``) against one net at a time
(``mlp.train``, the plain autograd + ``torch.optim.Adam`` loop)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftprobe.api import ProbeData
from ftprobe.plugins.probes import mlp
from ftprobe.plugins.probes.classifier import make_classifier, torch_threads


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets: one thread, as the probe itself uses on small sets (and fast on a busy box)."""
    with torch_threads(1):
        yield


def data(n: int = 500, d: int = 12, classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, d))
    y = rng.integers(0, classes, n)
    X = centers[y] + 1.2 * rng.normal(size=(n, d))
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y)


def same_net(a: torch.nn.Module, b: torch.nn.Module, tol: float) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.allclose(p, q, rtol=tol, atol=tol) for p, q in pairs)


# one seed: one batch order for all nets (the grid; the first layer is one flat product);
# several: each net its own order (the final seeds). 150: orders wrap inside an iteration.
@pytest.mark.parametrize("iter_size", [0, 150])
@pytest.mark.parametrize("seeds", [[0, 0, 1, 2], [4, 4, 4, 4]])
def test_batched_nets_equal_each_trained_alone(seeds, iter_size):
    X, y = data()
    val, Xf, yf = (X[:80], y[:80]), X[80:], y[80:]
    l2s = [0.0, 1e-2, 1.0, 1e-4]
    kw = dict(max_iter=12, batch_size=32, lr=5e-3, val=val, patience=50, iter_size=iter_size)
    many = mlp.train_many(Xf, yf, 4, (16, 8), l2s, seeds, **kw)
    for l2, seed, got in zip(l2s, seeds, many, strict=True):
        alone = mlp.train(Xf, yf, 4, (16, 8), l2, seed=seed, **kw)
        assert got.iterations == alone.iterations
        assert got.val_accuracy == pytest.approx(alone.val_accuracy, abs=1e-9)
        assert got.val_loss == pytest.approx(alone.val_loss, rel=1e-5)
        assert same_net(got.model, alone.model, 1e-4)
    # and the nets did differ from each other (L2 and seed reached their own net)
    assert not same_net(many[0].model, many[1].model, 1e-4)
    assert not same_net(many[0].model, many[2].model, 1e-4)


def test_linear_nets_batched_equal_alone():
    X, y = data(300)
    kw = dict(max_iter=6, batch_size=32, lr=1e-2, val=(X[:50], y[:50]), patience=50)
    for seeds in ([1, 1, 1], [1, 2, 3]):
        many = mlp.train_many(X[50:], y[50:], 4, (), [0.0, 0.1, 10.0], seeds, **kw)
        for l2, seed, got in zip([0.0, 0.1, 10.0], seeds, many, strict=True):
            alone = mlp.train(X[50:], y[50:], 4, (), l2, seed=seed, **kw)
            assert got.iterations == alone.iterations
            assert same_net(got.model, alone.model, 1e-4)


def test_without_validation_runs_max_iter_like_alone():
    X, y = data(200)
    kw = dict(max_iter=5, batch_size=64, lr=1e-2)
    many = mlp.train_many(X, y, 4, (8,), [1e-3, 0.1], [3, 4], **kw)
    for l2, seed, got in zip([1e-3, 0.1], [3, 4], many, strict=True):
        alone = mlp.train(X, y, 4, (8,), l2, seed=seed, **kw)
        assert got.iterations == 5 and got.val_accuracy is None
        assert same_net(got.model, alone.model, 1e-5)


@pytest.mark.parametrize("seeds", [[0, 0, 5], [0, 0, 0]])
def test_each_net_stops_on_its_own(seeds):
    """A net whose L2 weight freezes it stops after ``patience`` stale iterations and leaves
    the batch; the others train on, exactly as they would alone."""
    X, y = data(400)
    val, Xf, yf = (X[:60], y[:60]), X[60:], y[60:]
    l2s = [1e-4, 1e3, 0.0]
    kw = dict(max_iter=40, batch_size=32, lr=1e-2, val=val, patience=3)
    nets: list[tuple[int, int]] = []
    many = mlp.train_many(
        Xf, yf, 4, (16, 16), l2s, seeds, on_iter=lambda it, k, acc: nets.append((it, k)), **kw
    )
    counts = [k for _, k in nets]
    assert counts[0] == 3 and counts == sorted(counts, reverse=True) and len(set(counts)) > 1
    stopped_at = []
    for l2, seed, got in zip(l2s, seeds, many, strict=True):
        seen: list[int] = []
        alone = mlp.train(Xf, yf, 4, (16, 16), l2, seed=seed,
                          on_iter=lambda it, acc, s=seen: s.append(it), **kw)  # fmt: skip
        stopped_at.append(len(seen))
        assert got.iterations == alone.iterations
        assert got.val_accuracy == pytest.approx(alone.val_accuracy, abs=1e-9)
        assert same_net(got.model, alone.model, 1e-4)
    assert len(set(stopped_at)) > 1  # the nets really stopped at different iterations
    assert len(nets) == max(stopped_at)  # the batch ran until its last net stopped
    assert counts.count(3) == min(stopped_at)


def test_same_data_grid_and_seed_same_result():
    rng = np.random.default_rng(0)
    centers = 1.5 * rng.normal(size=(5, 20))
    y = np.repeat(np.arange(5), 40)
    X = (centers[y] + rng.normal(size=(len(y), 20))).astype(np.float32)
    train = ProbeData(X, y, [f"c{i}" for i in range(5)])
    options = dict(sizes="8x8,16x16", l2="1e-4,1e-1", seeds=3, max_iter=25, patience=4)
    results = []
    for _ in range(2):
        probe = make_classifier(**options)
        probe.fit(train, seed=11)
        results.append(probe.evaluate(train))
    a, b = (r.metrics for r in results)
    assert a["accuracies"] == b["accuracies"] and a["grid"] == b["grid"]
    assert a["iterations"] == b["iterations"] and results[0].files == results[1].files
    # the grid saw the whole training part: its run of the best config is the first seed's model
    best = min(a["grid"], key=lambda g: (-g["val_accuracy"], g["val_loss"]))
    assert a["iterations"][0] == best["iterations"]


def test_train_many_rejects_mismatched_lists():
    X, y = data(50)
    with pytest.raises(ValueError, match="one seed per L2"):
        mlp.train_many(X, y, 4, (8,), [0.1, 0.2], [0], max_iter=1, batch_size=8)


def test_grid_on_a_sample_retrains_every_seed(monkeypatch):
    """With ``grid_max_train`` below the training part, the grid's nets saw other data: all the
    seeds are trained anew on the whole training part (nothing reused)."""
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 60)
    X = (2.0 * np.eye(3, 6)[y] + rng.normal(size=(len(y), 6))).astype(np.float32)
    train = ProbeData(X, y, ["a", "b", "c"])
    calls: list[list[int]] = []
    train_many = mlp.train_many

    def spy(*args, **kwargs):
        calls.append(list(args[5]))  # the seeds of each batched model
        return train_many(*args, **kwargs)

    monkeypatch.setattr(mlp, "train_many", spy)
    for cap, reused in ((60, False), (0, True)):
        calls.clear()
        probe = make_classifier(sizes="8", l2="1e-3,1e-1", seeds=3, max_iter=8, grid_max_train=cap)
        probe.fit(train, seed=2)
        m = probe.evaluate(train).metrics
        assert calls[0] == [2, 2]  # the grid: both L2 weights, one seed, one batch
        assert calls[1] == ([3, 4] if reused else [2, 3, 4])
        assert m["seeds"] == [2, 3, 4] and len(m["accuracies"]) == 3
        assert (m["n_grid_train"] < m["n_train"] - m["n_val"]) is not reused
