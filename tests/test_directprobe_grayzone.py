"""DirectProbe's gray-zone rule: hulls whose L1 distance is at most ``touch`` (``run_touch``:
1e-7 times the run's scale) meet, and a plane separates only when the gap it certifies exceeds
it, whichever certificate, engine or order finds it. Pairs built with a known L1 distance: the
sets touch the points p* and q* that are exactly that far apart along the first axis."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.plugins.probes.directprobe.clustering import directprobe_clusters
from ftprobe.plugins.probes.directprobe.geometry import (
    TOUCH,
    GrayZone,
    LPStats,
    plane_gap,
    run_touch,
    separate,
    widest_separation,
)
from ftprobe.plugins.probes.directprobe.reference import reference_clusters


def gap_pair(n: int, gap: float, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """P with x0 >= gap/2, Q with x0 <= -gap/2, each holding the point on its face nearest the
    other (p* = (gap/2, 0, ...), q* = -p*): their hulls' L1 distance is exactly ``gap``."""
    rng = np.random.default_rng(seed)
    P, Q = rng.uniform(-1, 1, size=(n, d)), rng.uniform(-1, 1, size=(n, d))
    P[:, 0] = np.abs(P[:, 0]) + gap / 2
    Q[:, 0] = -np.abs(Q[:, 0]) - gap / 2
    P[0], Q[0] = 0.0, 0.0
    P[0, 0], Q[0, 0] = gap / 2, -gap / 2
    return P, Q


@pytest.mark.parametrize("n", [60, 400])  # the margin LP path and the hull-gap LP path
@pytest.mark.parametrize("engine", ["dense", "highs", "shadow"])
def test_separation_follows_the_distance_not_the_engine(n, engine):
    """Below the threshold the pair overlaps (the first axis separates it strictly, yet that
    is no certificate); above it, the plane found certifies a gap above the threshold."""
    touch = run_touch(np.r_[gap_pair(n, 0.0)])
    for factor, separable in ((0.3, False), (0.9, False), (3.0, True), (30.0, True)):
        P, Q = gap_pair(n, factor * touch)
        assert P[:, 0].min() > Q[:, 0].max()  # strictly apart along x0 in every case
        res = separate(P, Q, LPStats(), engine=engine, touch=touch)
        assert res.ok == separable, factor
        if separable:
            gap = plane_gap(res.lo, res.hi, res.plane[0])
            assert touch < gap <= factor * touch * (1 + 1e-6)


def test_widest_separation_decides_a_plane_within_the_threshold():
    """A pair whose first plane is too thin to count goes to the widest slab over all points."""
    P, Q = gap_pair(80, 0.0)
    touch = run_touch(np.r_[P, Q])
    for factor, separable in ((0.5, False), (5.0, True)):
        P, Q = gap_pair(80, factor * touch)
        stats = LPStats()
        res = widest_separation(P, Q, stats, touch)
        assert res.ok == separable
        assert stats.gray_zone == 0 or not res.ok


def test_gray_zone_keeps_the_smallest_certified_gap():
    rule = GrayZone(touch=1e-3)
    assert not rule.wide(1e-3) and rule.smallest == np.inf  # at the threshold: no
    assert rule.wide(5e-3) and rule.wide(2e-3) and rule.smallest == 2e-3
    mask = rule.passed(np.array([1e-4, 1.5e-3, 7.0]))
    assert mask.tolist() == [False, True, True] and rule.smallest == 1.5e-3


def flat_blobs(delta: float, n: int = 16, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Label 0: two blobs around (-1, 0, 0) and (1, 0, 0), all with y <= 0 and each holding
    its centre, so the union's hull has the segment between the centres on its top face.
    Label 1: a blob above, y >= delta, holding (0, delta, 0). The union of label 0 is
    ``delta`` from label 1 (L1), each blob alone much further. Every set is symmetric under
    (x, z) -> (-x, -z), so the labels' centroid difference is the y axis (up to rounding) and
    its plane separates them strictly, by ``delta``."""
    rng = np.random.default_rng(seed)

    def mirrored(B: np.ndarray) -> np.ndarray:
        return np.r_[B, B * [-1.0, 1.0, -1.0]]

    left = np.c_[
        -1.0 + 0.2 * rng.uniform(-1, 1, n), -0.3 * rng.random(n), 0.2 * rng.uniform(-1, 1, n)
    ]
    left[0] = (-1.0, 0.0, 0.0)
    A = mirrored(left)  # both blobs (the right one is the left one mirrored)
    top = np.c_[
        0.2 * rng.uniform(-1, 1, n), delta + 0.3 * rng.random(n), 0.2 * rng.uniform(-1, 1, n)
    ]
    top[0] = (0.0, delta, 0.0)
    X = np.r_[A, mirrored(top)]
    y = np.r_[np.zeros(2 * n, dtype=np.int64), np.ones(2 * n, dtype=np.int64)]
    return X, y


@pytest.mark.parametrize("factor", [0.5, 20.0])
def test_clusters_follow_the_rule_like_the_reference(factor):
    """Label 0's two blobs merge only when their union stays more than ``touch`` from label 1;
    at half of it they stay two clusters (the first axis of a centroid plane separates the
    labels strictly there, and no longer counts). The reference applies the same rule."""
    X, y = flat_blobs(0.0)
    touch = run_touch(X)
    X, y = flat_blobs(factor * touch)
    fast = directprobe_clusters(X, y, show_progress=False)
    ref = reference_clusters(X, y)
    assert np.array_equal(fast.assign, ref.assign)
    label0 = len(np.unique(fast.assign[y == 0]))
    assert label0 == (1 if factor > 1 else 2)
    assert fast.touch == TOUCH
    if factor > 1:  # the gap that decided is at most the true distance, above the threshold
        assert TOUCH < fast.smallest_gap <= factor * TOUCH * (1 + 1e-6)


@pytest.mark.parametrize("d", [3, 97, 384])
def test_merge_order_distances_are_the_same_bits_in_every_path(d):
    """The distances that order the merges are computed in one summation order: a pair's
    distance is bit for bit the same in a batch (the fast path's scans), alone (the
    reference's heap), from either side, and from a Fortran-ordered or strided copy; the
    centroid of a cluster is too, whether its rows come gathered or as a strided view."""
    from ftprobe.plugins.probes.directprobe.geometry import (
        canonical_centroid,
        canonical_dist,
        centroid_radius,
    )

    rng = np.random.default_rng(d)
    C = rng.normal(size=(301, d)) * rng.uniform(0.1, 10.0, size=d)
    c = rng.normal(size=d)
    batch = canonical_dist(C, c)
    alone = np.array([canonical_dist(C[i][None], c)[0] for i in range(len(C))])
    assert np.array_equal(batch.view(np.int64), alone.view(np.int64))
    back = np.array([canonical_dist(c[None], C[i])[0] for i in range(len(C))])
    assert np.array_equal(batch.view(np.int64), back.view(np.int64))
    assert np.array_equal(canonical_dist(np.asfortranarray(C), c), batch)
    wide = np.zeros((len(C), 2 * d))
    wide[:, ::2] = C
    assert np.array_equal(canonical_dist(wide[:, ::2], c), batch)
    rows = np.sort(rng.choice(len(C), 120, replace=False))
    want = canonical_centroid(C[rows])
    assert np.array_equal(canonical_centroid(np.asfortranarray(C[rows])), want)
    assert np.array_equal(centroid_radius(C[rows])[0], want)
    assert np.array_equal(canonical_centroid(wide[rows][:, ::2]), want)


@pytest.mark.parametrize("engine", ["dense", "highs"])
def test_kept_model_whose_side_left_is_started_again(engine):
    """A kept model whose columns of one side all belonged to a part that left (a rejected
    merge drops that part's columns) starts that side again from the points nearest the
    other set: the next test decides as a fresh one does (it used to solve an LP with no
    columns on that side, fail, and crash in the fallback)."""
    from ftprobe.plugins.probes.directprobe.geometry import hull_gap_model, lp_direct

    rng = np.random.default_rng(2)
    near = rng.normal(size=(300, 8)) + np.r_[9.0, np.zeros(7)]  # the part that will leave
    rest = rng.normal(size=(400, 8)) + np.r_[13.0, np.zeros(7)]
    Q = rng.normal(size=(500, 8))
    gN, gR, gQ = np.arange(300), np.arange(300, 700), np.arange(1000, 1500)
    lp = hull_gap_model(near, Q, engine)
    assert separate(near, Q, LPStats(), lp=lp, ids=(gN, gQ)).ok
    lp.drop(gN)  # all of P's columns go
    assert not len(lp.live_ids[lp.live_ids >= 0])
    for P, gP in ((rest, gR), (np.r_[rest, [[0.1] + [0.0] * 7]], np.r_[gR, 5000])):
        res = separate(P, Q, LPStats(), lp=lp, ids=(gP, gQ))
        assert res.ok == lp_direct(P, Q)[0] and not lp.broken
        lp.drop(gP[:0])


def test_labels_with_the_same_centroid_are_still_checked():
    """Two labels with exactly the same centroid give zero label-pair directions (centroid
    difference, LDA): such a direction separates nothing and must exclude no cluster; it
    stays zero when the directions are scaled to max-norm one (not NaN, whose comparisons
    decide by accident). The clusters are the reference's, with no RuntimeWarning."""
    import warnings

    ring = np.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
    inner = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    X = np.r_[ring, 3 * ring, inner, 0.25 * inner]
    y = np.r_[np.zeros(8, dtype=np.int64), np.ones(8, dtype=np.int64)]
    assert np.array_equal(X[y == 0].mean(axis=0), X[y == 1].mean(axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fast = directprobe_clusters(X, y, show_progress=False)
    assert np.array_equal(fast.assign, reference_clusters(X, y).assign)
