"""DirectProbe's analysis phase: the active-set hull-distance QP against Clarabel, the bounds
that skip point-to-hull solves, and nearest-hull predictions against solving every cluster."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.plugins.probes.directprobe import geometry, report


def _sets(seed: int, n1: int, n2: int, d: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n1, d))
    Q = rng.normal(size=(n2, d)) * 0.7
    Q[:, 0] += shift
    return P, Q


@pytest.mark.parametrize(
    "seed,n1,n2,d,shift",
    [(0, 30, 20, 10, 4.0), (1, 60, 1, 40, 3.0), (2, 25, 35, 384, 1.0), (3, 8, 9, 3, 5.0)],
)
def test_active_set_qp_matches_clarabel(seed, n1, n2, d, shift):
    """Same optimum as the interior-point QP, and the weights satisfy the optimality
    condition on every point (KKT)."""
    P, Q = _sets(seed, n1, n2, d, shift)
    s = P[0]
    A = np.concatenate([P - s, s - Q])
    x = geometry._active_set_weights(A @ A.T, n1)
    a, b = x[:n1], x[n1:]
    assert (x >= 0).all() and a.sum() == pytest.approx(1.0) and b.sum() == pytest.approx(1.0)
    z = a @ P - b @ Q
    ca, cb = geometry._min_norm_weights(P, Q)
    assert np.linalg.norm(z) == pytest.approx(np.linalg.norm(ca @ P - cb @ Q), abs=1e-8)
    tol = 1e-9 * max(1.0, float(np.abs(A).max())) ** 2
    assert (P @ z >= (a @ P) @ z - tol).all()
    assert (Q @ z <= (b @ Q) @ z + tol).all()


def test_active_set_qp_with_duplicate_points():
    """Duplicated rows (singular systems when freed together) still give the optimum."""
    P, Q = _sets(4, 20, 15, 6, 3.0)
    P = np.concatenate([P, P[:10]])
    s = P[0]
    A = np.concatenate([P - s, s - Q])
    x = geometry._active_set_weights(A @ A.T, len(P))
    z = x[: len(P)] @ P - x[len(P) :] @ Q
    ca, cb = geometry._min_norm_weights(P, Q)
    assert np.linalg.norm(z) == pytest.approx(np.linalg.norm(ca @ P - cb @ Q), abs=1e-8)


def test_hull_distance_above_returns_a_bound_only_when_beyond():
    P, Q = _sets(5, 300, 1, 20, 6.0)
    exact = geometry.hull_distance(P, Q)
    assert geometry.hull_distance(P, Q, above=exact + 1.0) == exact  # below the bar: exact
    bound = geometry.hull_distance(P, Q, above=exact / 4)
    assert exact / 4 < bound <= exact + 1e-12


def test_frank_wolfe_bounds_bracket_the_exact_distance():
    rng = np.random.default_rng(6)
    S = rng.normal(size=(200, 30))
    T = rng.normal(size=(25, 30)) * 2.0
    T[:3] = S[:3].mean(axis=0)  # inside the hull
    H = S[np.argmin(((S[:, None, :] - T[None]) ** 2).sum(axis=2), axis=0)]  # nearest points
    lo, hi = report._frank_wolfe_bounds(S, T, S @ T.T, H.copy(), steps=20)
    exact = np.array([geometry.point_hull_distance(S, x) for x in T])
    assert (lo <= exact + 1e-9).all() and (exact <= hi + 1e-9).all()
    assert (lo[3:] > 0).all()  # bounds that say something


@pytest.mark.parametrize("block", [report.BOUND_BLOCK, 1])
def test_nearest_hulls_equal_solving_every_cluster(monkeypatch, block):
    """The pruned search (sphere and Frank-Wolfe bounds, early stops; test points bounded all
    at once or in blocks of 8) ranks the clusters exactly as solving every point-to-hull
    distance does."""
    monkeypatch.setattr(report, "BOUND_BLOCK", block)
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(12, 16)) * 3.0
    X = np.concatenate([c + rng.normal(size=(40, 16)) for c in centres])
    members = [np.arange(40 * i, 40 * (i + 1)) for i in range(12)]
    T = np.concatenate([centres[:4] + rng.normal(size=(4, 16)) * 2.0, rng.normal(size=(26, 16))])
    got = report.nearest_hulls(X, members, T, top_k=3)
    for x, ranked in zip(T, got, strict=True):
        every = sorted((geometry.hull_distance(X[m], x[None, :]), c) for c, m in enumerate(members))
        assert [c for c, _ in ranked] == [c for _, c in every[:3]]
        assert [d for _, d in ranked] == pytest.approx([d for d, _ in every[:3]], abs=1e-9)
