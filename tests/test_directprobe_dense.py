"""The dense warm-started simplex of the hull-gap LP (dense_simplex.py) against answers worked
out by hand and against HiGHS, and its shadow mode (both engines on every solve)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog
from test_directprobe_lp import thin_margin_pair

from ftprobe.plugins.probes.directprobe import geometry
from ftprobe.plugins.probes.directprobe.dense_simplex import DenseSimplex
from ftprobe.plugins.probes.directprobe.geometry import (
    DenseHullGapLP,
    LPShadowMismatch,
    LPStats,
    ShadowHullGapLP,
    lp_direct,
    separate,
    separates,
)


def engine(P: np.ndarray, Q: np.ndarray) -> DenseSimplex:
    """An engine holding the columns of P (as p) and Q (as -q), as given (no frame)."""
    lp = DenseSimplex(P.shape[1])
    lp.add(np.r_[P, -Q], np.r_[np.zeros(len(P), np.int64), np.ones(len(Q), np.int64)])
    return lp


def highs_gap(P: np.ndarray, Q: np.ndarray) -> float:
    """min |P'a - Q'b|_1 over simplex weights, by HiGHS in one solve."""
    nP, nQ, d = len(P), len(Q), P.shape[1]
    A = np.zeros((d + 2, nP + nQ + 2 * d))
    A[:d, :nP], A[:d, nP : nP + nQ] = P.T, -Q.T
    A[:d, nP + nQ : nP + nQ + d], A[:d, nP + nQ + d :] = np.eye(d), -np.eye(d)
    A[d, :nP], A[d + 1, nP : nP + nQ] = 1.0, 1.0
    res = linprog(
        np.r_[np.zeros(nP + nQ), np.ones(2 * d)],
        A_eq=A,
        b_eq=np.r_[np.zeros(d), 1.0, 1.0],
        method="highs",
    )
    assert res.status == 0
    return float(res.fun)


def check_optimal(lp: DenseSimplex, P: np.ndarray, Q: np.ndarray, tol: float = 1e-8) -> float:
    """The engine's solution is feasible, its duals are dual feasible, and the two objectives
    agree (so both are optimal); returns the objective."""
    objective, x, y = lp.solution()
    full_y = lp.y
    d = P.shape[1]
    a, b = x[: len(P)], x[len(P) :]
    assert (x >= 0).all() and abs(a.sum() - 1) < tol and abs(b.sum() - 1) < tol
    assert abs(np.abs(a @ P - b @ Q).sum() - objective) < tol
    assert np.abs(y).max() <= 1 + tol  # reduced costs of the slacks
    assert (P @ y + full_y[d] <= tol).all() and (-Q @ y + full_y[d + 1] <= tol).all()
    assert abs(full_y[d] + full_y[d + 1] - objective) < tol  # strong duality
    return objective


@pytest.mark.parametrize(
    ("P", "Q", "gap"),
    [
        ([[2.0, 0.0]], [[0.0, 0.0]], 2.0),  # two points: their L1 distance
        ([[1.0, 1.0], [1.0, -1.0]], [[0.0, 0.0]], 1.0),  # a segment and a point
        ([[1.0, 1.0], [-1.0, -1.0]], [[1.0, -1.0], [-1.0, 1.0]], 0.0),  # XOR: meet at 0
        ([[3.0, 0.5, 0.0], [3.0, -0.5, 1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], 3.0),
    ],
)
def test_gap_of_small_sets_worked_out_by_hand(P, Q, gap):
    P, Q = np.asarray(P), np.asarray(Q)
    lp = engine(P, Q)
    assert lp.solve()
    assert check_optimal(lp, P, Q) == pytest.approx(gap, abs=1e-12)


@pytest.mark.parametrize(("d", "n", "shift"), [(5, 40, 4.0), (30, 200, 1.5), (60, 300, 0.0)])
def test_engine_agrees_with_highs_from_a_crash_basis(d, n, shift):
    rng = np.random.default_rng(d)
    P, Q = rng.uniform(-1, 1, size=(n, d)), rng.uniform(-1, 1, size=(n + 7, d))
    P[:, 0] += shift
    lp = engine(P / 6, Q / 6)
    assert lp.solve()
    assert check_optimal(lp, P / 6, Q / 6) == pytest.approx(highs_gap(P / 6, Q / 6), abs=1e-9)


def test_warm_start_from_the_last_optimum_and_rewind():
    """Columns join nonbasic: each solve starts from the last optimum and ends at the grown
    set's optimum; a saved basis comes back with its optimum (no pivot needed)."""
    rng = np.random.default_rng(3)
    d = 20
    P = rng.uniform(-1, 1, size=(300, d)) / 4
    Q = rng.uniform(-1, 1, size=(300, d)) / 4
    P[:, 0] += 0.3
    lp = DenseSimplex(d)
    saved = objective = None
    lo = 0
    for k in (20, 60, 150, 300):
        side = np.r_[np.zeros(k - lo, np.int64), np.ones(k - lo, np.int64)]
        lp.add(np.r_[P[lo:k], -Q[lo:k]], side)
        assert lp.solve()
        assert lp.solution()[0] == pytest.approx(highs_gap(P[:k], Q[:k]), abs=1e-9)
        if k == 60:
            saved, objective = lp.save(), lp.solution()[0]
        lo = k
    lp.restore(saved)
    before = lp.pivots
    lp.fixed[120:] = True  # the columns added after the save fixed at zero: that optimum again
    assert lp.solve() and lp.pivots == before
    assert lp.solution()[0] == pytest.approx(objective, abs=1e-12)


CASES = {
    "separable blobs": lambda rng: (
        rng.normal(size=(400, 40)) + np.r_[3.0, np.zeros(39)],
        rng.normal(size=(350, 40)),
    ),
    "overlapping blobs": lambda rng: (rng.normal(size=(400, 40)) + 0.2, rng.normal(size=(350, 40))),
    "xor in high dimension": lambda rng: xor(rng),
    "thin margin": lambda rng: thin_margin_pair(int(rng.integers(4)), n=300, d=30)[:2],
}


def xor(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Four blobs at (±4, ±4, 0, ...), P the diagonal ones: the hulls cross at the origin."""
    corners = np.array([[4.0, 4.0], [-4.0, -4.0], [4.0, -4.0], [-4.0, 4.0]])
    X = rng.normal(size=(600, 30)) * 0.5
    X[:, :2] += np.repeat(corners, 150, axis=0)
    return X[:300], X[300:]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("engine_name", ["dense", "shadow"])
def test_separate_on_each_engine_agrees_with_highs(case, engine_name):
    """More than ``WORKING_SET_MIN`` points: the hull-gap LP's column generation decides, on
    the dense engine (or both) as on HiGHS and as one margin LP on all points."""
    P, Q = CASES[case](np.random.default_rng(7))
    stats = LPStats()
    res = separate(P, Q, stats, engine=engine_name)
    assert res.ok == separate(P, Q, engine="highs").ok == lp_direct(P, Q)[0]
    if res.ok:
        assert separates(*res.plane, P, Q)
    assert stats.engine_fallbacks == 0
    assert (stats.shadow_solves > 0) == (engine_name == "shadow")


def test_kept_dense_model_follows_growing_and_shrinking_sets(monkeypatch):
    """As the HiGHS model's test: a kept dense model decides grown sets, rewinds to its mark
    when a basic column leaves, deletes dead columns and prunes to its basis (shadow mode
    checks every solve against HiGHS)."""
    monkeypatch.setattr(geometry, "LP_DEAD_MAX", 1)
    rng = np.random.default_rng(9)
    P = rng.normal(size=(700, 10)) + np.r_[5.0, np.zeros(9)]
    Q = rng.normal(size=(600, 10))
    gP, gQ = np.arange(700), np.arange(1000, 1600)
    lp = ShadowHullGapLP(P[:400], Q[:300])

    def check(nP: int, nQ: int) -> bool:
        res = separate(P[:nP], Q[:nQ], LPStats(), lp=lp, ids=(gP[:nP], gQ[:nQ]))
        assert res.ok == lp_direct(P[:nP], Q[:nQ])[0] and not lp.broken
        return res.ok

    assert check(400, 300) and check(550, 450)
    Px, gPx = np.r_[P[:550], [[0.2] + [0.0] * 9]], np.r_[gP[:550], 5000]
    assert not separate(Px, Q[:450], LPStats(), lp=lp, ids=(gPx, gQ[:450])).ok
    lp.drop(np.array([5000]))
    assert 5000 not in lp.ids and 5000 not in lp.highs.ids  # deleted in both
    assert check(550, 450)
    lp.prune()
    assert np.array_equal(lp.ids, lp.highs.ids)
    assert check(550, 450) and not check(700, 600)


def test_model_that_lost_its_basis_gets_one_before_its_next_mark(monkeypatch):
    """A new model's first test has no mark: when the rejected point it leaves with was
    basic, the basis goes. The next test's mark starts it again (one cold start, on the
    columns the model has), so that test's rejected point rewinds to a real basis and the
    test after it starts warm (before, every later rejection dropped the basis again and
    each next test started cold)."""
    rng = np.random.default_rng(4)
    P = rng.normal(size=(400, 10)) + np.r_[12.0, np.zeros(9)]
    Q = rng.normal(size=(300, 10))
    gP, gQ = np.arange(400), np.arange(1000, 1300)
    colds = []
    real = DenseHullGapLP._cold_start

    def counted(self):
        colds.append(self.solves)
        real(self)

    monkeypatch.setattr(DenseHullGapLP, "_cold_start", counted)
    lp = DenseHullGapLP(P, Q)

    def rejected(point_id: int) -> None:
        x = Q.mean(axis=0) + 0.01 * rng.normal(size=10)  # inside Q: the hulls meet through it
        res = separate(np.r_[P, [x]], Q, LPStats(), lp=lp, ids=(np.r_[gP, point_id], gQ))
        assert not res.ok
        lp.drop(np.array([point_id]))

    rejected(5000)
    assert not lp.lp.has_basis and colds == [0]  # (no mark to rewind to)
    rejected(5001)
    assert colds == [0, 1]  # the mark's
    assert lp.lp.has_basis  # rewound to it
    res = separate(P, Q, LPStats(), lp=lp, ids=(gP, gQ))
    assert res.ok and separates(*res.plane, P, Q)
    assert colds == [0, 1]  # warm


def test_shadow_mode_raises_when_the_engines_disagree(monkeypatch):
    rng = np.random.default_rng(1)
    P = rng.normal(size=(300, 20)) + np.r_[6.0, np.zeros(19)]
    Q = rng.normal(size=(300, 20))

    def meets(self, P, gP, Q, gQ):
        return geometry._Gap(None, np.arange(1), np.arange(1))

    monkeypatch.setattr(DenseHullGapLP, "solve", meets)
    with pytest.raises(
        LPShadowMismatch, match="dense engine certified the hulls meet, HiGHS a gap"
    ):
        separate(P, Q, engine="shadow")


def test_failed_engine_falls_back_to_highs(monkeypatch):
    """An engine that cannot reach the optimum leaves the test to HiGHS (counted)."""
    rng = np.random.default_rng(2)
    P = rng.normal(size=(300, 20)) + np.r_[6.0, np.zeros(19)]
    Q = rng.normal(size=(300, 20))
    monkeypatch.setattr(DenseSimplex, "solve", lambda self, tol=0, max_pivots=0: False)
    stats = LPStats()
    res = separate(P, Q, stats, engine="dense")
    assert res.ok and separates(*res.plane, P, Q) and stats.engine_fallbacks > 0


def test_unknown_engine_is_an_error(monkeypatch):
    from ftprobe.errors import FtprobeError
    from ftprobe.plugins.probes.directprobe import DirectProbe

    with pytest.raises(FtprobeError, match="lp_engine='simplex'"):
        DirectProbe(lp_engine="simplex")
    monkeypatch.setenv("FTPROBE_LP_ENGINE", "glpk")
    with pytest.raises(ValueError, match="FTPROBE_LP_ENGINE='glpk'"):
        geometry.default_engine()
