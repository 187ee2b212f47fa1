"""DirectProbe's whole-set separability LP (``_lp_direct``) on thin margins: an "infeasible"
answer counts as an overlap only with a verified common point of the two hulls."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.plugins.probes.directprobe import geometry
from ftprobe.plugins.probes.directprobe.geometry import LPStats, separates


def thin_margin_pair(
    seed: int, n: int = 600, d: int = 30, margin: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two sets of n points each side of the hyperplane w·x = 0 (w a random unit normal), half
    of each within margin / 2 of it (the slab between the sets is ``margin`` wide, near HiGHS's
    tolerances in the LP's units), the rest spread beyond. Returns P, Q and w."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    w /= np.linalg.norm(w)
    X = rng.normal(size=(2 * n, d))
    X -= np.outer(X @ w, w)  # into the plane
    h = rng.exponential(size=2 * n)
    h[::2] = 0.0
    side = np.r_[np.ones(n), -np.ones(n)]
    X += np.outer(side * (margin / 2 + h), w)
    return X[:n], X[n:], w


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_thin_margin_pair_is_separable(seed):
    """Over 1,000 points separated by a margin near the tolerance: the interior-point method
    called seeds 1-3 infeasible (before dual simplex came first); the answer
    must be the verified plane's."""
    P, Q, w = thin_margin_pair(seed)
    assert len(P) + len(Q) > 1000
    assert separates(w, 0.0, P, Q)  # the construction's own plane, checked in float64
    stats = LPStats()
    ok, plane = geometry._lp_direct(P, Q, stats)
    assert ok
    assert separates(*plane, P, Q)
    assert stats.unresolved == 0


def test_infeasible_needs_a_verified_common_point(monkeypatch):
    """A solver that says "infeasible" on a separable pair is overruled by the hull-gap LP's
    plane; on an overlapping pair its common point confirms the overlap."""
    from scipy import optimize

    real = optimize.linprog

    def always_infeasible(*args, **kw):
        res = real(*args, **kw)
        if kw.get("A_ub") is not None:  # the margin LP (the hull-gap LP has equalities only)
            res.status, res.x = geometry._INFEASIBLE, None
        return res

    monkeypatch.setattr(optimize, "linprog", always_infeasible)
    rng = np.random.default_rng(5)
    P = rng.normal(size=(200, 5))
    Q = rng.normal(size=(150, 5)) + [6.0, 0, 0, 0, 0]
    ok, plane = geometry._lp_direct(P, Q, LPStats())
    assert ok and separates(*plane, P, Q)
    ok, plane = geometry._lp_direct(P, Q - [6.0, 0, 0, 0, 0], LPStats())
    assert not ok and plane is None
