"""DirectProbe: synthetic geometry with known answers, exactness against brute force and the
reference algorithm, determinism, and the plugin contract."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ftprobe.api import ProbeData
from ftprobe.plugins.probes.directprobe import DirectProbe, distance_stats
from ftprobe.plugins.probes.directprobe.clustering import directprobe_clusters
from ftprobe.plugins.probes.directprobe.geometry import (
    LPStats,
    hull_distance,
    lp_separable,
    lsq_plane,
    point_hull_distance,
    separates,
)
from ftprobe.plugins.probes.directprobe.reference import reference_clusters

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def _segment_distance(p, q, a, b) -> float:
    """Distance between segments pq and ab in 2-D (0 when they cross)."""

    def cross(o, u, v):
        return (u[0] - o[0]) * (v[1] - o[1]) - (u[1] - o[1]) * (v[0] - o[0])

    d1, d2 = cross(a, b, p), cross(a, b, q)
    d3, d4 = cross(p, q, a), cross(p, q, b)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return 0.0

    def point_seg(x, u, v):
        uv = v - u
        t = 0.0 if not uv.any() else np.clip((x - u) @ uv / (uv @ uv), 0.0, 1.0)
        return float(np.linalg.norm(x - (u + t * uv)))

    return min(point_seg(p, a, b), point_seg(q, a, b), point_seg(a, p, q), point_seg(b, p, q))


def _inside(P: np.ndarray, x: np.ndarray) -> bool:
    return not lp_separable(P, x[None, :])[0]


def _brute_hull_distance(P: np.ndarray, Q: np.ndarray) -> float:
    """2-D brute force: the hulls meet (a vertex inside the other) or the distance is attained
    between two edges (or vertices)."""
    if any(_inside(P, q) for q in Q) or any(_inside(Q, p) for p in P):
        return 0.0
    segs_p = list(itertools.combinations(range(len(P)), 2)) or [(0, 0)]
    segs_q = list(itertools.combinations(range(len(Q)), 2)) or [(0, 0)]
    return min(_segment_distance(P[i], P[j], Q[k], Q[m]) for i, j in segs_p for k, m in segs_q)


def test_hull_distance_of_two_squares_is_the_gap():
    assert hull_distance(SQUARE, SQUARE + [3.0, 0.5]) == pytest.approx(2.0, abs=1e-7)
    assert hull_distance(SQUARE, SQUARE + [0.5, 0.5]) == 0.0  # overlapping: exactly zero


@pytest.mark.parametrize("seed", range(6))
def test_hull_distance_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(int(rng.integers(1, 7)), 2))
    Q = rng.normal(size=(int(rng.integers(2, 7)), 2)) + rng.normal(size=2) * 2
    assert hull_distance(P, Q) == pytest.approx(_brute_hull_distance(P, Q), abs=1e-6)


def test_hull_distance_in_high_dimension_uses_the_affine_span():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.normal(size=(50, 2)))  # embed the 2-D problem isometrically
    P, Q = SQUARE, SQUARE + [3.0, 0.5]
    assert hull_distance(P @ basis.T, Q @ basis.T) == pytest.approx(2.0, abs=1e-7)


def test_point_inside_and_outside_a_hull():
    assert point_hull_distance(SQUARE, np.array([0.5, 0.5])) == 0.0
    assert point_hull_distance(SQUARE, np.array([2.0, 2.0])) == pytest.approx(np.sqrt(2), 1e-7)
    assert point_hull_distance(SQUARE, np.array([0.5, 3.0])) == pytest.approx(2.0, abs=1e-7)


def test_lp_separability_and_certificate():
    ok, (w, b) = lp_separable(SQUARE, SQUARE + [2.5, 0.0])
    assert ok and (SQUARE @ w + b).min() > 0 and ((SQUARE + [2.5, 0]) @ w + b).max() < 0
    assert lp_separable(SQUARE, SQUARE + [1.0, 0.0])[0] is False  # touching edges overlap
    assert lp_separable(SQUARE, np.array([[0.5, 0.5]]))[0] is False


def test_least_squares_certificate_separates_or_abstains():
    rng = np.random.default_rng(3)
    P = rng.normal(size=(300, 5))
    Q = rng.normal(size=(40, 5)) + [6.0, 0, 0, 0, 0]
    w, b = lsq_plane(P, Q)
    assert separates(w, b, P, Q)
    # fewer points than dimensions: the interpolating plane separates any labelling
    A = rng.normal(size=(30, 50))
    assert lsq_plane(A[:13], A[13:]) is not None
    # an overlapping pair never gets a certificate
    assert lsq_plane(SQUARE, np.array([[0.5, 0.5], [3.0, 3.0]])) is None


def test_least_squares_from_kept_moments():
    """Moments add over unions; a fit started from them decides like a fresh one, and a
    certificate is never given for overlapping sets."""
    from ftprobe.plugins.probes.directprobe.geometry import Moments

    rng = np.random.default_rng(5)
    P = rng.normal(size=(500, 8)) + 4.0
    Q = rng.normal(size=(300, 8)) + 4.0 + np.r_[9.0, np.zeros(7)]
    whole, parts = Moments.of(P), Moments.of(P[:123]) + Moments.of(P[123:])
    assert whole.n == parts.n == 500
    assert np.allclose(whole.s, parts.s)
    assert np.allclose(np.triu(whole.M), np.triu(parts.M))
    hp = lsq_plane(P, Q, 20, moments=(parts, Moments.of(Q)))
    assert hp is not None and separates(*hp, P, Q)
    R = np.r_[Q, P[:1]]  # one point of P inside Q's side: no plane can exist
    R[-1] = P.mean(axis=0)
    assert lsq_plane(P, R, 20, moments=(whole, Moments.of(R))) is None


def test_failed_least_squares_fit_gives_a_normal_towards_p():
    """A fit that cannot separate (a point of P at Q's centre) still returns its last normal,
    P on the high side: the LP's first working set is ordered along it. Both forms."""
    from ftprobe.plugins.probes.directprobe.geometry import lsq_fit

    rng = np.random.default_rng(4)
    for n in (300, 8):  # the normal form and the Gram form (fewer points than dimensions)
        d = 20
        P = rng.normal(size=(n, d)) + np.r_[6.0, np.zeros(d - 1)]
        Q = rng.normal(size=(n, d))
        P[0] = Q.mean(axis=0)
        fit = lsq_fit(P, Q, 20)
        assert fit.plane is None and fit.normal is not None
        assert (P @ fit.normal).mean() > (Q @ fit.normal).mean() + 1.0
        assert lsq_fit(P[1:], Q, 20).plane is not None


def _lsq_fit_plain(P, Q, iters, moments):
    """The least-squares fit as first written (scipy's cho_factor, fresh arrays each
    refit): the reference the lean loop must match bit for bit."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve
    from scipy.linalg.blas import dsyrk

    from ftprobe.plugins.probes.directprobe.geometry import LSQ_GROWTH, LSQ_MARGIN, LsqFit

    nP, nQ, d = len(P), len(Q), P.shape[1]
    n, k = nP + nQ, d + 1
    best, fewest = None, n + 1
    mP, mQ = moments
    o = (mP.s + mQ.s) / n
    H = np.zeros((k, k))
    H[:d, :d] = mP.M + mQ.M - n * np.outer(o, o)
    H[d, d] = n
    rhs = np.r_[mP.s - nP * o - (mQ.s - nQ * o), nP - nQ]
    c = np.ones(n)
    for _ in range(iters):
        try:
            Hr = H.copy()
            Hr[np.diag_indices(k)] += 1e-8 * np.trace(H) / k
            z = cho_solve(cho_factor(Hr, lower=False, check_finite=False), rhs, check_finite=False)
        except LinAlgError:
            return LsqFit(None, best)
        w, b = z[:d], float(z[d] - o @ z[:d])
        pw, qw = P @ w, Q @ w
        m = np.r_[pw + b, -(qw + b)]
        if m.min() > 0.0:
            return LsqFit((w, b), w, float(pw.min()), float(qw.max()))
        wrong = int(np.count_nonzero(m <= 0.0))
        if wrong < fewest:
            best, fewest = w, wrong
        up = np.flatnonzero(m < LSQ_MARGIN)
        sign = np.where(up < nP, 1.0, -1.0)
        rows = np.concatenate([P[up[up < nP]], Q[up[up >= nP] - nP]])
        A = np.c_[rows - o, np.ones(len(up))]
        g = (LSQ_GROWTH - 1.0) * c[up]
        H = dsyrk(1.0, A * np.sqrt(g)[:, None], beta=1.0, c=H, trans=1, overwrite_c=1)
        rhs = rhs + (g * sign) @ A
        c[up] *= LSQ_GROWTH
    return LsqFit(None, best)


def test_least_squares_fit_is_bit_identical_to_the_plain_loop():
    """The lean least-squares loop (Fortran-order buffers, LAPACK called directly) returns
    the plain loop's planes, normals and slabs bit for bit, separating or not, with and
    without refits: the merger's stored planes and so its clusters cannot change."""
    from ftprobe.plugins.probes.directprobe.geometry import Moments, lsq_fit

    rng = np.random.default_rng(11)
    d, outcomes = 24, []
    for shift, inside in ((8.0, False), (4.0, False), (1.2, False), (4.0, True)):
        P = rng.normal(size=(180, d)) + np.r_[shift, np.zeros(d - 1)]
        Q = rng.normal(size=(150, d))
        if inside:
            P[0] = Q.mean(axis=0)
        mo = (Moments.of(P), Moments.of(Q))
        for iters in (1, 20):
            got, want = lsq_fit(P, Q, iters, mo), _lsq_fit_plain(P, Q, iters, mo)
            assert (got.plane is None) == (want.plane is None)
            if want.plane is not None:
                assert np.array_equal(got.plane[0], want.plane[0])
                assert got.plane[1] == want.plane[1]
                assert (got.lo, got.hi) == (want.lo, want.hi)
            assert np.array_equal(got.normal, want.normal)
            outcomes.append(got.plane is not None)
    # separating at once; only after refits; never (overlapping sets; a point inside Q)
    assert outcomes == [True, True, False, True, False, False, False, False]


def test_grown_least_squares_equations_are_those_of_the_union():
    """A fit of grown sets starts from the equations of an earlier fit of subsets
    (``lsq_grow``): with unit weights they are the union's own normal equations (same plane
    as a cold fit, up to rounding), and a point that joined on the wrong side is weighted
    up until a plane separates everything."""
    from ftprobe.plugins.probes.directprobe.geometry import Moments, lsq_fit, lsq_grow

    rng = np.random.default_rng(5)
    d = 16
    P = rng.normal(size=(200, d)) + np.r_[12.0, np.zeros(d - 1)]
    Q = rng.normal(size=(160, d))
    first = lsq_fit(P[:190], Q[:150], 1)
    assert first.state is not None and np.all(first.state.c == 1.0)
    new_p, new_q = np.arange(190, 200), np.arange(150, 160)
    grown = lsq_grow(first.state, P, Q, new_p, new_q, np.ones(200), np.ones(160))
    warm = lsq_fit(P, Q, 1, start=grown)
    cold = lsq_fit(P, Q, 1, moments=(Moments.of(P), Moments.of(Q)))
    assert warm.plane is not None and cold.plane is not None
    assert np.allclose(warm.plane[0], cold.plane[0], rtol=1e-6, atol=1e-9)
    assert np.isclose(warm.plane[1], cold.plane[1], rtol=1e-6, atol=1e-9)
    # the earlier state's arrays are left as they were
    assert np.all(first.state.c == 1.0) and first.state.H.shape == (d + 1, d + 1)
    # a joining point past the old plane, still separable: refits weight it up
    w, b = first.plane
    x = P[0] - (P[0] @ w + b + 0.45) * w / (w @ w)
    assert x @ w + b < 0.0 and (Q @ w + b).max() < x @ w + b - 0.05
    P2 = np.r_[P[:190], x[None]]
    grown = lsq_grow(first.state, P2, Q[:150], np.array([190]), np.zeros(0, int),
                     np.r_[first.state.c[:190], 1.0], first.state.c[190:])  # fmt: skip
    fit = lsq_fit(P2, Q[:150], 20, start=grown)
    assert fit.plane is not None and fit.state is not None and fit.state.c[190] > 1.0
    assert (
        (P2 @ fit.plane[0] + fit.plane[1]).min() > 0 > (Q[:150] @ fit.plane[0]).max() + fit.plane[1]
    )


def test_cholesky_rank_one_updates_match_a_refactorisation():
    """The numba update of an upper factor by a few rows is LAPACK's factor of the updated
    matrix (to rounding), in place; a factor it cannot update (not positive) says so."""
    from scipy.linalg.lapack import dpotrf

    from ftprobe.plugins.probes.directprobe.cholesky_update import cholesky_add_rows

    rng = np.random.default_rng(3)
    k = 40
    A = rng.normal(size=(120, k))
    H = A.T @ A
    R = np.ascontiguousarray(dpotrf(np.asfortranarray(H), lower=0, clean=1)[0])
    rows = 3.0 * rng.normal(size=(4, k))
    assert cholesky_add_rows(R, rows)
    want = dpotrf(np.asfortranarray(H + rows.T @ rows), lower=0, clean=1)[0]
    assert np.allclose(np.triu(R), want, rtol=0.0, atol=1e-12 * np.abs(want).max())
    assert cholesky_add_rows(R, rows[:0])  # no rows: nothing to do
    bad = np.zeros((k, k))
    assert not cholesky_add_rows(bad, rows[:1])
    with pytest.raises(ValueError, match="C-ordered"):
        cholesky_add_rows(np.asfortranarray(R), rows)


def test_warm_fit_with_an_updated_factor_gives_the_refactorised_plane():
    """A warm fit whose start carries the earlier fit's factor (``lsq_grow`` updates it by a
    joining row) separates with the plane of the same fit without the factor, to rounding,
    through refits that update the factor in turn; more joining rows than
    ``LSQ_UPDATE_ROWS`` drop it (a refactorisation)."""
    from ftprobe.plugins.probes.directprobe.geometry import LSQ_UPDATE_ROWS, lsq_fit, lsq_grow

    rng = np.random.default_rng(5)
    d = 16
    P = rng.normal(size=(200, d)) + np.r_[12.0, np.zeros(d - 1)]
    Q = rng.normal(size=(160, d))
    first = lsq_fit(P[:190], Q[:150], 1)
    assert first.state is not None and first.state.R is not None
    w, b = first.plane
    x = P[0] - (P[0] @ w + b + 0.45) * w / (w @ w)  # joins past the old plane
    P2 = np.r_[P[:190], x[None]]
    weights = (np.r_[first.state.c[:190], 1.0], first.state.c[190:])

    def grown():  # (a fit updates its start's arrays: one start each)
        return lsq_grow(first.state, P2, Q[:150], np.array([190]), np.zeros(0, int), *weights)

    assert grown().R is not None
    with_factor = lsq_fit(P2, Q[:150], 20, start=grown())
    without = lsq_fit(P2, Q[:150], 20, start=grown()._replace(R=None))
    for fit in (with_factor, without):
        assert fit.plane is not None and fit.state.c[190] > 1.0
    assert np.allclose(with_factor.plane[0], without.plane[0], rtol=1e-6, atol=1e-9)
    assert np.array_equal(with_factor.state.c, without.state.c)  # the same refits
    many = np.arange(190 - LSQ_UPDATE_ROWS - 1, 190)
    ones = (np.ones(190), np.ones(150))
    assert lsq_grow(first.state, P[:190], Q[:150], many, np.zeros(0, int), *ones).R is None


def test_least_squares_products_shared_with_a_helper_thread():
    """From ``LSQ_SPLIT_ROWS`` rows a fit hands half of each round's projections to a helper
    thread: the same refits and the same plane (to rounding) as computing them alone."""
    from concurrent.futures import ThreadPoolExecutor

    from ftprobe.plugins.probes.directprobe.geometry import LSQ_SPLIT_ROWS, lsq_fit

    rng = np.random.default_rng(8)
    d = 12
    P = rng.normal(size=(LSQ_SPLIT_ROWS, d)) + np.r_[8.0, np.zeros(d - 1)]
    P[:10, 0], P[:10, 1] = 2.0 + 0.1 * rng.normal(size=10), 14.0  # separable, after refits
    Q = rng.normal(size=(LSQ_SPLIT_ROWS // 2 + 1, d))
    alone = lsq_fit(P, Q, 20)
    with ThreadPoolExecutor(1) as helper:
        shared = lsq_fit(P, Q, 20, helper=helper)
    assert alone.plane is not None and shared.plane is not None
    assert np.array_equal(alone.state.c, shared.state.c) and alone.state.c.max() > 1.0
    assert np.allclose(alone.plane[0], shared.plane[0], rtol=1e-9, atol=1e-12)
    assert np.isclose(alone.lo, shared.lo) and np.isclose(alone.hi, shared.hi)


def test_stored_slab_certifies_a_point_inside_it():
    """A plane found earlier between two clusters keeps its slab: a new point of one of them
    inside the slab (even past the mid-plane) is certified with the union's slab; a point past
    the other cluster's side is not."""
    from collections import Counter

    from ftprobe.plugins.probes.directprobe.merger import Merger

    X = np.array([[1.0, 0.0], [0.4, 0.0], [-0.1, 5.0], [0.0, 0.0], [0.0, 1.0]])
    y = np.array([0, 0, 0, 1, 1])
    dirs = {(0, 1): np.array([[0.0, 1.0]])}  # a kept direction that separates nothing here
    m = Merger(X, y, np.arange(5), np.zeros(5, bool), {0: [1], 1: [0]}, dirs, LPStats(), Counter())
    slot = {int(k): i for i, k in enumerate(m.key)}
    a, inside, beyond, c = slot[0], slot[1], slot[2], slot[3]
    w = np.array([1.0, 0.0])

    def planes(u: int, v: int) -> list:
        return m._cached_planes(u, v, [c], X[np.sort(np.r_[m.members[u], m.members[v]])])

    m.hyper[a] = {c: (int(m.cver[c]), w, 1.0, 0.0, None, None)}  # a's lowest 1, c's highest 0
    (plane,) = planes(a, inside)
    assert plane is not None and plane[1] == pytest.approx(0.4) and plane[2] == 0.0
    assert planes(a, beyond) == [None]
    # a plane stored for the other part (the first has none) is checked on the union's points
    m.hyper = {inside: {c: (int(m.cver[c]), w, 0.4, 0.0, None, None)}}
    (plane,) = planes(a, inside)
    assert plane is not None and plane[1] == pytest.approx(0.4)
    assert planes(beyond, inside) == [None]
    m.cver[c] += 1  # c changed since: the plane is no longer known
    assert planes(a, inside) == [None]


@pytest.mark.parametrize("shift", [0.0, 0.8, 6.0])
def test_working_set_lp_agrees_with_one_solve(shift):
    from ftprobe.plugins.probes.directprobe.geometry import _lp_direct

    rng = np.random.default_rng(int(shift * 10))
    P = rng.normal(size=(900, 6))
    Q = rng.normal(size=(30, 6)) * 0.3 + [shift, 0, 0, 0, 0, 0]
    stats = LPStats()
    ok, plane = lp_separable(P, Q, stats)
    assert ok == _lp_direct(P, Q, LPStats())[0]
    assert stats.rounds >= 1  # the working-set path ran
    if ok:
        assert separates(*plane, P, Q)


@pytest.mark.parametrize("shift", [0.0, 0.9, 6.0])
def test_column_generation_lp_agrees_with_one_solve(shift):
    """The hull-gap column generation (seeded, or too many points for one solve) decides as the
    margin LP on all points does, and its plane separates every point."""
    from ftprobe.plugins.probes.directprobe import geometry
    from ftprobe.plugins.probes.directprobe.geometry import lp_direct, separate

    rng = np.random.default_rng(7 + int(shift * 10))
    P = rng.normal(size=(3200, 8))
    Q = rng.normal(size=(60, 8)) * 0.4 + [shift, 0, 0, 0, 0, 0, 0, 0]
    assert len(P) + len(Q) > geometry.WORKING_SET_FULL
    expected = lp_direct(P, Q)[0]
    for seed in (None, (np.arange(5), np.arange(3))):
        stats = LPStats()
        res = separate(P, Q, stats, seed=seed)
        assert res.ok == expected
        assert stats.rounds >= 1
        if res.ok:
            assert separates(*res.plane, P, Q)
            # the support points are where the widest slab touches: indices into P and Q
            assert len(res.support_p) and res.support_p.max() < len(P)
            assert len(res.support_q) and res.support_q.max() < len(Q)
    assert expected == (shift == 6.0)


def test_overlapping_hulls_are_certified_by_a_common_point(monkeypatch):
    """Above the direct-solve size, overlapping sets are decided by the hull-gap LP's common
    point (checked in float64), without the margin LP."""
    from ftprobe.plugins.probes.directprobe import geometry

    rng = np.random.default_rng(3)
    P, Q = rng.normal(size=(400, 30)), rng.normal(size=(300, 30))

    def no_margin_lp(*args):
        raise AssertionError("the margin LP ran")

    monkeypatch.setattr(geometry, "_lp_direct", no_margin_lp)
    stats = LPStats()
    assert not geometry.separate(P, Q, stats).ok
    assert stats.rounds == 1


def test_working_set_plane_is_oriented_by_its_support(monkeypatch):
    """The working set's plane keeps P on its high side even when the whole sets' means lie
    the other way round (most of P beyond Q): the hull-gap rounds decide, without the
    full-set margin LP."""
    from ftprobe.plugins.probes.directprobe import geometry

    rng = np.random.default_rng(0)
    Q = rng.normal(size=(300, 6))
    Q[:, 1] = -np.abs(Q[:, 1])
    P = rng.normal(size=(4300, 6))
    P[:300, 0] += 4.0  # a few of P on one side of Q, most far on the other
    P[300:, 0] -= 30.0
    P[:, 1] = 0.5 + np.abs(P[:, 1])  # separable along the second axis

    def no_full_lp(*args):
        raise AssertionError("the full-set margin LP ran")

    monkeypatch.setattr(geometry, "_direct_separation", no_full_lp)
    res = geometry.separate(P, Q, LPStats())
    assert res.ok and separates(*res.plane, P, Q)


def test_common_point_check_needs_a_real_common_point():
    from ftprobe.plugins.probes.directprobe.geometry import _meet

    P = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    Q = np.array([[0.5, 0.5], [5.0, 5.0]])
    assert _meet(P, Q, np.array([0.5, 0.25, 0.25]), np.array([1.0, 0.0]))
    # weights slightly off are re-solved exactly on their support
    assert _meet(P, Q, np.array([0.5, 0.25 + 1e-7, 0.25]), np.array([1.0, 0.0]))
    # disjoint hulls: no weights make a common point
    assert not _meet(P, Q + 0.6, np.array([0.5, 0.25, 0.25]), np.array([1.0, 0.0]))


def test_hulls_closer_than_touch_meet():
    """A hull-gap solution whose gap is below ``TOUCH`` (but above the solver's zero) with
    points that close is read as meeting hulls, not as a plane; a wider gap is a plane."""
    from ftprobe.plugins.probes.directprobe.geometry import TOUCH, _outcome

    P = np.array([[0.0, 0.0], [2.0, 0.0]])
    Q = np.array([[1.0, TOUCH / 2], [1.0, 5.0]])
    a, b, w, o = np.array([0.5, 0.5]), np.array([1.0, 0.0]), np.array([0.0, -1.0]), np.zeros(2)
    assert _outcome(P, Q, o, 1.0, a, b, TOUCH / 2, w).plane is None
    Q[0, 1] = 4 * TOUCH
    gap = _outcome(P, Q, o, 1.0, a, b, 4 * TOUCH, w)
    assert gap.plane is not None and separates(*gap.plane, P, Q)


def test_working_set_plane_when_the_solution_plane_fails():
    """The fallback for a hull-gap plane that fails on its own working set: the kept model
    solved again with tight tolerances, else the margin LP on the working set only; no plane
    when the working set's hulls meet."""
    from ftprobe.plugins.probes.directprobe.geometry import HullGapLP, _working_set_plane

    rng = np.random.default_rng(8)
    P = rng.uniform(-1, 1, size=(300, 8))
    Q = rng.uniform(-1, 1, size=(200, 8))
    P[:, 0] = np.abs(P[:, 0]) + 1e-6
    Q[:, 0] = -np.abs(Q[:, 0]) - 1e-6
    iP, iQ = np.arange(0, 300, 3), np.arange(0, 200, 2)
    model = HullGapLP(P, Q)
    model.add(P[iP], iP, Q[iQ], iQ)
    assert model.solve(P, np.arange(300), Q, np.arange(200)) is not None
    for live in (model, None):
        plane, sp, sq, widest = _working_set_plane(live, P, np.arange(300), Q, np.arange(200),
                                                   iP, iQ, LPStats())  # fmt: skip
        assert (P[iP] @ plane[0]).min() > (Q[iQ] @ plane[0]).max()
        assert widest == (live is not None)  # (the margin LP's plane is not the widest)
    Q[0] = P[0]  # a shared point: the working set's hulls meet
    assert _working_set_plane(None, P, np.arange(300), Q, np.arange(200), iP, iQ, LPStats()) is None


def test_narrowly_separated_sets_are_separable():
    """A gap far below the data's scale but above the touching tolerance is still found."""
    rng = np.random.default_rng(11)
    P, Q = rng.uniform(-1, 1, size=(400, 10)), rng.uniform(-1, 1, size=(300, 10))
    P[:, 0] = np.abs(P[:, 0]) + 1e-5
    Q[:, 0] = -np.abs(Q[:, 0]) - 1e-5
    ok, plane = lp_separable(P, Q)
    assert ok and separates(*plane, P, Q)


def test_warm_started_hull_gap_rounds():
    """Columns added to the kept HiGHS model give the gap of the grown set: a plane that
    separates every column so far, support among the added points."""
    from ftprobe.plugins.probes.directprobe.geometry import HullGapLP

    rng = np.random.default_rng(5)
    P = rng.normal(size=(500, 12)) + np.r_[8.0, np.zeros(11)]
    Q = rng.normal(size=(500, 12))
    ids = np.arange(500)
    model = HullGapLP(P, Q)
    for part in (slice(0, 50), slice(50, 500)):
        model.add(P[part], ids[part], Q[part], ids[part])
        gap = model.solve(P, ids, Q, ids)
        seen = np.arange(part.stop)
        assert gap is not None and gap.plane is not None
        assert separates(*gap.plane, P[seen], Q[seen])
        assert set(gap.support_p) <= set(seen) and set(gap.support_q) <= set(seen)


@pytest.mark.parametrize("dead_max", [1, 512])
def test_kept_model_follows_growing_and_shrinking_sets(monkeypatch, dead_max):
    """A model kept across tests decides each grown pair of sets as a fresh test does, also
    after columns of points that left are fixed at zero (or deleted, once enough are dead)
    and after pruning to its basis. Dropping the points a test added returns the model to
    the basis it had before that test."""
    from ftprobe.plugins.probes.directprobe import geometry
    from ftprobe.plugins.probes.directprobe.geometry import HullGapLP, lp_direct, separate

    monkeypatch.setattr(geometry, "LP_DEAD_MAX", dead_max)

    rng = np.random.default_rng(9)
    P = rng.normal(size=(700, 10)) + np.r_[5.0, np.zeros(9)]
    Q = rng.normal(size=(600, 10))
    gP, gQ = np.arange(700), np.arange(1000, 1600)
    lp = HullGapLP(P[:400], Q[:300])

    def check(nP: int, nQ: int) -> bool:
        res = separate(P[:nP], Q[:nQ], LPStats(), lp=lp, ids=(gP[:nP], gQ[:nQ]))
        assert res.ok == lp_direct(P[:nP], Q[:nQ])[0] and not lp.broken
        if res.ok:
            assert separates(*res.plane, P[:nP], Q[:nQ])
        return res.ok

    assert check(400, 300) and check(550, 450)
    before, n_before = list(lp.h.getBasis().col_status), len(lp.ids)
    # a point inside Q's hull joins P, then leaves again
    Px, gPx = np.r_[P[:550], [[0.2] + [0.0] * 9]], np.r_[gP[:550], 5000]
    assert not separate(Px, Q[:450], LPStats(), lp=lp, ids=(gPx, gQ[:450])).ok
    assert 5000 in lp.live_ids
    moved = list(lp.h.getBasis().col_status)[: len(before)] != before
    lp.drop(np.array([5000]))
    assert 5000 not in lp.live_ids
    if dead_max > 1:  # (no deletion: the columns are where they were)
        assert moved and list(lp.h.getBasis().col_status)[: len(before)] == before
        assert len(lp.ids) > n_before
    assert (5000 in lp.ids) == (dead_max > 1)  # fixed at zero, or deleted
    q_col = ~lp.live_ids[lp.live_ids < 0][:1]
    lp.drop(gP[:0], q_col)  # a Q column goes too (the model stays a working set)
    assert ~q_col[0] not in lp.live_ids and len(lp.live_ids[lp.live_ids < 0])
    assert check(550, 450)
    lp.prune()
    assert 5000 not in lp.ids  # dead columns go with pruning
    assert check(550, 450) and not check(700, 600)
    with pytest.raises(ValueError, match="outside the sets"):
        separate(P[:10], Q, LPStats(), lp=lp, ids=(gP[:10], gQ))


def test_block_lower_bounds_never_exceed_distances():
    """The nearest-neighbour scans' projected bounds stay below every exact squared distance
    (dead rows read inf)."""
    from ftprobe.plugins.probes.directprobe.merger import _Block

    rng = np.random.default_rng(3)
    pts = rng.normal(size=(500, 90)) * rng.uniform(0.1, 3.0, size=90) + 5.0
    row = np.full(500, -1, dtype=np.int64)
    blk = _Block(np.arange(500), pts, row, pts)
    blk.kill(7, pts)
    queries = pts[:20] + rng.normal(size=(20, 90)) * 0.01
    lb = blk.lower(queries)
    exact = ((queries[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    assert np.isinf(lb[:, 7]).all()
    alive = np.arange(500) != 7
    assert (lb[:, alive] <= exact[:, alive]).all()
    assert (lb[:, alive] >= 0.5 * exact[:, alive]).mean() > 0.5  # and they are not vacuous


def _blobs(centres, n, scale, seed):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(n, 2)) * scale + c for c in centres])
    return X


def test_two_separable_blobs_give_two_clusters_without_merging_lps():
    X = _blobs([[0, 0], [4, 0]], 40, 0.4, 0)
    y = np.repeat([0, 1], 40)
    r = directprobe_clusters(X, y, show_progress=False)
    assert r.n_clusters == 2
    assert np.array_equal(r.assign, y)
    assert r.lp_calls == 0


def test_xor_layout_gives_three_clusters():
    X = _blobs([[0, 0], [4, 4], [0, 4], [4, 0]], 15, 0.3, 1)
    y = np.repeat([0, 0, 1, 1], 15)
    r = directprobe_clusters(X, y, show_progress=False)
    assert r.n_clusters == 3
    # one label is whole, the other stays split into its two blobs
    sizes = sorted(np.bincount(r.assign).tolist())
    assert sizes == [15, 15, 30]
    assert r.rejected >= 1


def test_duplicate_points_with_different_labels_stay_singletons():
    X = _blobs([[0, 0], [4, 0]], 10, 0.4, 2)
    y = np.repeat([0, 1], 10)
    X = np.r_[X, [[2.0, 0.0], [2.0, 0.0]]]
    y = np.r_[y, [0, 1]]
    r = directprobe_clusters(X, y, show_progress=False)
    a, b = r.assign[-2], r.assign[-1]
    assert a != b
    assert (r.assign == a).sum() == 1 and (r.assign == b).sum() == 1


@pytest.mark.parametrize("seed", range(8))
def test_fast_clustering_equals_the_reference_algorithm(seed):
    rng = np.random.default_rng(seed)
    n, d, k = int(rng.integers(25, 60)), int(rng.choice([2, 3, 6])), int(rng.integers(2, 5))
    X = rng.normal(size=(n, d))
    y = rng.integers(0, k, n)
    X[: n // 3] += y[: n // 3, None] * 1.5
    if seed % 2:
        X[-1] = X[0]
    fast = directprobe_clusters(X, y, show_progress=False)
    ref = reference_clusters(X, y)
    assert np.array_equal(fast.assign, ref.assign)
    assert fast.lp_calls <= ref.lp_calls


@pytest.mark.parametrize("seed", range(4))
def test_fast_clustering_equals_the_reference_with_ties_and_duplicates(seed):
    """Integer grid points: many equal centroid distances and same-label duplicates, so the
    float32 scans and the lazy neighbour entries must break ties exactly as the reference."""
    rng = np.random.default_rng(100 + seed)
    n, d = int(rng.integers(60, 140)), int(rng.choice([2, 3, 4]))
    X = rng.integers(0, 4, size=(n, d)).astype(float) * 2.0**-3
    y = rng.integers(0, 3, n)
    fast = directprobe_clusters(X, y, show_progress=False)
    ref = reference_clusters(X, y)
    assert np.array_equal(fast.assign, ref.assign)


def test_fast_clustering_equals_the_reference_in_high_dimension():
    """d = 100, random labels: many LPs, planes from direct solves (no support points) next to
    working-set ones (with support points) as seeds for later LPs."""
    rng = np.random.default_rng(0)
    n, d, k = int(rng.integers(200, 420)), int(rng.choice([70, 100, 150])), int(rng.integers(2, 6))
    X = rng.normal(size=(n, d))
    y = rng.integers(0, k, n)
    fast = directprobe_clusters(X, y, show_progress=False)
    ref = reference_clusters(X, y)
    assert np.array_equal(fast.assign, ref.assign)
    assert fast.lp_calls < ref.lp_calls
    assert fast.gray_zone == 0 and 1e-7 < fast.smallest_gap < 1.0


def test_clusters_do_not_depend_on_the_lp_threads(monkeypatch):
    """LP tests run on worker threads give the clusters and counters of inline runs (which
    tests run depends on their outcomes only), and the reference's clusters."""
    import threading

    from ftprobe.plugins.probes.directprobe import merger

    rng = np.random.default_rng(1)
    X = rng.normal(size=(360, 80))
    y = rng.integers(0, 4, 360)
    names = []
    real = merger._run_lp_task

    def spy(*args):
        names.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(merger, "_run_lp_task", spy)
    runs = []
    for threads in (1, 2):
        monkeypatch.setattr(merger, "LP_THREADS", threads)
        names.clear()
        runs.append(directprobe_clusters(X, y, show_progress=False))
        on_workers = sum(name.startswith("directprobe-lp") for name in names)
        assert on_workers == (len(names) if threads == 2 else 0) and names
    one, two = runs
    assert np.array_equal(one.assign, two.assign)
    assert (one.lp_calls, one.merges, one.rejected) == (two.lp_calls, two.merges, two.rejected)
    assert np.array_equal(two.assign, reference_clusters(X, y).assign)


def _fit(X, y, labels, **opts):
    p = DirectProbe(**opts)
    p.fit(ProbeData(X=X.astype(np.float32), y=y, labels=labels))
    return p


def test_probe_contract_and_files():
    X = _blobs([[0, 0], [4, 4], [0, 4], [4, 0]], 12, 0.3, 3)
    y = np.repeat([0, 0, 1, 1], 12)
    labels = ["a", "b"]
    p = _fit(X, y, labels, top_k="2")
    Xt = np.array([[0.0, 0.0], [4.0, 0.1], [2.0, 2.0]], dtype=np.float32)
    res = p.evaluate(ProbeData(X=Xt, y=np.array([0, 1, 0]), labels=labels))
    m = res.metrics
    assert m["n_clusters"] == 3 and m["n_labels"] == 2 and m["linearly_separable"] is False
    assert m["label_pairs"] == [["a", "b"]] and len(m["vec"]) == 1
    assert m["outside_min"]["a"] == m["outside_min"]["b"] == pytest.approx(m["vec"][0])
    assert m["inside_max"]["a"] >= m["inside_mean"]["a"] > 0
    assert res.main_metric == "accuracy" and 0.0 <= m["accuracy"] <= 1.0
    # the gray-zone rule in the result: threshold, a lower bound of the gaps the separations
    # relied on (blobs 4 apart: far above the threshold), no pair in the gray zone
    gz = m["gray_zone"]
    assert gz["touch"] == 1e-7 and 1e-5 < gz["smallest_gap"] < 1.0 and gz["pairs"] == 0
    for name in (
        "clusters.txt",
        "predictions.txt",
        "dis.txt",
        "vec.txt",
        "outside_min.txt",
        "inside_mean.txt",
        "inside_max.txt",
        "log.txt",
    ):
        assert res.files[name], name
    assert len(res.files["clusters.txt"].splitlines()) == len(X)
    assert res.files["predictions.txt"].splitlines()[0].count("\t") == 2  # top_k=2


def test_test_point_inside_a_hull_is_predicted_with_distance_zero():
    X = _blobs([[0, 0], [5, 0]], 20, 0.5, 4)
    y = np.repeat([0, 1], 20)
    p = _fit(X, y, ["a", "b"])
    inside = X[:20].mean(axis=0, keepdims=True).astype(np.float32)
    res = p.evaluate(ProbeData(X=inside, y=np.array([0]), labels=["a", "b"]))
    assert res.metrics["accuracy"] == 1.0
    first = res.files["predictions.txt"].split("\t")[1]
    assert first.startswith("0-a,") and float(first.split(",")[1]) == 0.0


def test_results_are_deterministic_byte_for_byte():
    X = _blobs([[0, 0], [3, 3], [0, 3], [3, 0]], 10, 0.6, 5)
    y = np.repeat([0, 1, 1, 0], 10)
    files = []
    for _ in range(2):
        p = _fit(X, y, ["a", "b"])
        res = p.evaluate(ProbeData(X=X[:5].astype(np.float32), y=y[:5], labels=["a", "b"]))
        files.append({k: v for k, v in res.files.items() if k != "log.txt"})
    assert files[0] == files[1]


def test_distance_stats_on_a_given_clustering():
    X = np.r_[SQUARE, SQUARE + [3.0, 0.0]]
    y = np.repeat([0, 1], 4)
    s = distance_stats(X, y, ["a", "b"], assign=y)
    assert s["vec"][0] == pytest.approx(2.0, abs=1e-7)
    assert s["inside_max"]["a"] == pytest.approx(np.sqrt(2))
    mean = (4 * 1 + 2 * np.sqrt(2)) / 6
    assert s["inside_mean"]["b"] == pytest.approx(mean)
    refit = distance_stats(X, y, ["a", "b"])  # clusters first
    assert refit["vec"] == pytest.approx(s["vec"])


def test_bad_options_are_user_errors():
    from ftprobe.errors import FtprobeError

    with pytest.raises(FtprobeError, match="top_k"):
        DirectProbe(top_k="many")
    with pytest.raises(FtprobeError, match="unknown directprobe option"):
        DirectProbe(depth=3)


def test_registered_through_the_entry_point():
    from ftprobe.pluginmanager import probes

    spec = probes().get("directprobe")
    assert isinstance(spec.factory(), DirectProbe)


def test_clusters_do_not_depend_on_the_kept_blocks_of_members(monkeypatch):
    """Members' vectors kept in contiguous blocks (spliced for a union with a few points,
    read for the certificates and LPs, the least recently used dropped) are the gathered
    rows exactly: the same unions, clusters and LP calls as without blocks, and the
    reference's clusters."""
    from ftprobe.plugins.probes.directprobe import merger

    rng = np.random.default_rng(1)
    X = rng.normal(size=(360, 80))
    y = rng.integers(0, 4, 360)
    real, spliced = merger.Merger._union, []

    def check(self, s, t):
        out = real(self, s, t)
        Mi, XM = out[0], out[1]
        assert np.array_equal(XM, self.X[Mi])
        spliced.append(self.xblocks.get(self._by_size(s, t)[0]) is not None)
        return out

    monkeypatch.setattr(merger.Merger, "_union", check)
    runs = []
    for least, rows in ((10**9, 1 << 16), (2, 1 << 16), (2, 64)):
        monkeypatch.setattr(merger, "BLOCK_MIN", least)
        monkeypatch.setattr(merger, "BLOCK_BYTES", rows * X[0].nbytes)
        spliced.clear()
        runs.append(directprobe_clusters(X, y, show_progress=False))
        assert any(spliced) == (least == 2)
    for run in runs[1:]:
        assert np.array_equal(run.assign, runs[0].assign)
        assert (run.lp_calls, run.merges, run.rejected) == (
            runs[0].lp_calls, runs[0].merges, runs[0].rejected,
        )  # fmt: skip
    assert np.array_equal(runs[0].assign, reference_clusters(X, y).assign)
