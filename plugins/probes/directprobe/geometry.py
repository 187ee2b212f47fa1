"""Exact convex-hull geometry: separability LP (HiGHS), hull-to-hull and point-to-hull distance
(QP). Every routine works in float64 and in the affine span of its inputs when that is
smaller than the ambient dimension (an isometry, so answers are unchanged).

Own numerics, and why: the hull-distance QPs of a DirectProbe report are solved on working sets
of tens to hundreds of points, thousands of them per report; an interior-point solve of each
from scratch (Clarabel, plus building its sparse matrices) was most of the report's time. They
are solved here by a primal active-set method (``_active_set_weights``, Wolfe's minimum-norm-point
algorithm on two simplices) warm-started from the previous working set's optimum, exact up to
rounding, with the optimality condition still checked on all points; Clarabel remains the
fallback when it stalls and the solver of the whole-set QP."""

from __future__ import annotations

import os
import sys
import time
import warnings
from concurrent.futures import Executor
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

# HiGHS linprog status codes (scipy.optimize.linprog)
_OPTIMAL, _ITER_LIMIT, _INFEASIBLE, _UNBOUNDED, _NUMERICAL = 0, 1, 2, 3, 4


@dataclass
class LPStats:
    """Counters of the separability tests, shared by one clustering run."""

    calls: int = 0
    retries: int = 0  # extra solves after HiGHS reported numerical difficulties
    unresolved: int = 0  # still undecided after every retry: read as overlap, with a warning
    rounds: int = 0  # working-set LPs solved inside large tests
    # seconds inside the kept HiGHS models (summed over worker threads): simplex runs (they
    # include the refactorisation a new basis needs), reading solutions back, and basis
    # handling (getBasis / setBasis / deleting columns)
    lp_run_s: float = 0.0
    lp_read_back_s: float = 0.0
    lp_basis_s: float = 0.0
    lp_cpu_s: float = 0.0  # CPU seconds (thread time) of the same calls, comparable when shared
    lp_cold_cpu_s: float = 0.0  # of which: the dense engine's first bases, by HiGHS
    engine_pivots: int = 0  # simplex pivots of the dense engine
    engine_fallbacks: int = 0  # dense-engine solves that failed (HiGHS took over)
    gray_zone: int = 0  # pairs a plane separated by at most the gray-zone threshold: overlaps
    shadow_solves: int = 0  # solves checked against HiGHS in shadow mode

    def add(self, other: LPStats) -> None:
        """Count another run's tests (e.g. one made on a worker thread) in these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def canonical_dist(C: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Centroid distances as every implementation computes them: each row's squared
    differences summed in one fixed order (numpy's pairwise sum over a contiguous row), so a
    pair's distance is the same bits whichever batch, memory layout or side it is computed in;
    the merge order (ties included) depends on it."""
    return np.sqrt((np.ascontiguousarray(C - c) ** 2).sum(axis=1))


def canonical_centroid(Xm: np.ndarray) -> np.ndarray:
    """A cluster's centroid as every implementation computes it: the mean of its rows in
    point order, summed row after row (a C-ordered copy when Xm is laid out otherwise)."""
    return np.ascontiguousarray(Xm).mean(axis=0)


def centroid_radius(Xm: np.ndarray) -> tuple[np.ndarray, float]:
    """Canonical centroid (mean of the rows in point order) and bounding radius."""
    c = canonical_centroid(Xm)
    return c, float(np.sqrt(((Xm - c) ** 2).sum(axis=1).max()))


def affine_coords(*sets: np.ndarray) -> list[np.ndarray]:
    """Coordinates of the stacked point sets in an orthonormal basis of (a superset of) their
    affine span, when that basis is smaller than the dimension; else the sets centred.

    Distances and linear separability are preserved exactly (up to rounding).
    """
    stacked = np.concatenate(sets, axis=0).astype(np.float64, copy=False)
    origin = stacked[0].copy()
    z = stacked - origin
    n, d = z.shape
    if n - 1 < d:
        basis, _ = np.linalg.qr(z[1:].T)  # d x (n-1), spans every z row
        z = z @ basis
    out, start = [], 0
    for s in sets:
        out.append(z[start : start + len(s)])
        start += len(s)
    return out


def separates(w: np.ndarray, b: float, P: np.ndarray, Q: np.ndarray) -> bool:
    """Whether the hyperplane w·x + b = 0 strictly separates P (positive) from Q (negative)."""
    return bool((P @ w + b).min() > 0.0 and (Q @ w + b).max() < 0.0)


def slab(w: np.ndarray, P: np.ndarray, Q: np.ndarray) -> tuple[float, float]:
    """P's lowest and Q's highest projection on w: w separates them strictly when the first
    is above the second, by any plane in between."""
    return float((P @ w).min()), float((Q @ w).max())


class Moments(NamedTuple):
    """Count, sum and sum of outer products (upper triangle) of a set of rows: what a
    least-squares fit needs of them, additive over unions."""

    n: int
    s: np.ndarray
    M: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray) -> Moments:
        from scipy.linalg.blas import dsyrk

        return cls(len(X), X.sum(axis=0), dsyrk(1.0, X, trans=1))

    def __add__(self, other: object) -> Moments:
        if not isinstance(other, Moments):
            return NotImplemented
        return Moments(self.n + other.n, self.s + other.s, self.M + other.M)


LSQ_MARGIN = 0.5  # least squares: rows whose margin (target 1) is below this are weighted up
LSQ_GROWTH = 8.0  # by this factor per refit


LSQ_UPDATE_ROWS = 4  # a warm fit updates its Cholesky factor (not refactorises) for this few rows


class LsqState(NamedTuple):
    """The weighted normal equations of a least-squares fit: centre o, the matrix H and
    right-hand side of the rows (x - o, 1) with targets +1 (P) and -1 (Q), and the row
    weights c (P's rows, then Q's). A fit of grown sets starts from it (``lsq_grow``).
    ``R``: the upper Cholesky factor of H + ``lam`` I that solved it (None: unknown)."""

    o: np.ndarray
    H: np.ndarray
    rhs: np.ndarray
    c: np.ndarray
    R: np.ndarray | None = None
    lam: float = 0.0


class LsqFit(NamedTuple):
    """A least-squares fit: the plane when it strictly separates (else None) with its slab
    (as ``slab``), and the normal of the refit that misplaced the fewest points, P on its high
    side (None when the normal matrix was singular): a good direction to start an LP's
    working set from. ``state``: with a plane, the equations that gave it."""

    plane: tuple[np.ndarray, float] | None
    normal: np.ndarray | None
    lo: float = 0.0
    hi: float = 0.0
    state: LsqState | None = None


def lsq_plane(
    P: np.ndarray,
    Q: np.ndarray,
    iters: int = 6,
    moments: tuple[Moments, Moments] | None = None,
) -> tuple[np.ndarray, float] | None:
    """A cheap certificate: the least-squares fit of +1 on P and -1 on Q (lightly ridged; the
    Gram form when there are fewer points than dimensions), refitted a few times with the
    violated points weighted up. Returns a hyperplane that strictly separates, or None.
    ``moments`` (of P and of Q) spare the first normal matrix when they are known."""
    return lsq_fit(P, Q, iters, moments).plane


LSQ_SPLIT_ROWS = 4096  # a fit of this many rows or more can share its products with a helper


def _projections(
    P: np.ndarray, Q: np.ndarray, w: np.ndarray, pw: np.ndarray, qw: np.ndarray,
    helper: Executor | None,
) -> None:  # fmt: skip
    """pw = P @ w and qw = Q @ w; with a helper thread (BLAS on one thread: the caller's
    cores are otherwise idle) the second halves of both run on it meanwhile."""
    if helper is None or len(P) + len(Q) < LSQ_SPLIT_ROWS:
        np.dot(P, w, out=pw)
        np.dot(Q, w, out=qw)
        return
    hp, hq = len(P) // 2, len(Q) // 2

    def rest() -> None:
        np.dot(P[hp:], w, out=pw[hp:])
        np.dot(Q[hq:], w, out=qw[hq:])

    job = helper.submit(rest)
    np.dot(P[:hp], w, out=pw[:hp])
    np.dot(Q[:hq], w, out=qw[:hq])
    job.result()


def lsq_fit(
    P: np.ndarray,
    Q: np.ndarray,
    iters: int = 6,
    moments: tuple[Moments, Moments] | None = None,
    start: LsqState | None = None,
    helper: Executor | None = None,
) -> LsqFit:
    """``lsq_plane`` that also returns a normal when no plane separates (see ``LsqFit``).
    ``start``: the equations of these rows to start from (``lsq_grow``: those of an earlier
    fit of subsets, with the new rows at weight one), in place of unit weights; the fit
    updates its arrays in place (``lsq_grow`` gives each fit arrays of its own).

    The arithmetic is fixed (the same LAPACK and BLAS calls on the same values in every
    version, so the planes are bit-reproducible); the matrices are kept in Fortran order and
    the buffers reused, so no call copies them. A warm fit whose start carries a factor
    (``LsqState.R``) solves with it, and keeps it current by rank-one updates while a refit
    weights up at most ``LSQ_UPDATE_ROWS`` rows (O(k^2) a row instead of an O(k^3)
    refactorisation, same ridge ``lam``); a cold fit always refactorises. ``helper``: a
    thread that computes half of each round's projections (``_projections``; from
    ``LSQ_SPLIT_ROWS`` rows)."""
    from scipy.linalg.blas import dsyrk
    from scipy.linalg.lapack import dpotrf, dpotrs

    from .cholesky_update import cholesky_add_rows

    nP, nQ, d = len(P), len(Q), P.shape[1]
    n, k = nP + nQ, d + 1
    if n <= k:
        return _lsq_gram(P, Q, iters)
    best, fewest = None, n + 1
    R, lam = None, 0.0  # a C-ordered factor of H + lam I, kept current by updates
    if start is not None:
        o, H, rhs, c, R, lam = start
    else:
        mP, mQ = moments if moments is not None else (Moments.of(P), Moments.of(Q))
        o = (mP.s + mQ.s) / n
        # normal matrix of the rows (x - o, 1), upper triangle: the centred scatter and count
        H = np.zeros((k, k), order="F")
        H[:d, :d] = mP.M + mQ.M - n * np.outer(o, o)
        H[d, d] = n
        rhs = np.r_[mP.s - nP * o - (mQ.s - nQ * o), nP - nQ]  # sum of the rows' targets
        c = np.ones(n)  # row weights
    Hr = np.empty_like(H)
    diag = Hr.reshape(-1, order="F")[:: k + 1]  # (a view)
    m, pw, qw = np.empty(n), np.empty(nP), np.empty(nQ)
    for _ in range(iters):
        # (A1^T C A1 + lam) z = A1^T C t, with H = A1^T C A1 and rhs kept up to date
        if R is None:
            Hr[...] = H
            lam = 1e-8 * np.trace(H) / k
            diag += lam
            L, info = dpotrf(Hr, lower=0, clean=0, overwrite_a=1)
            if info > 0:  # (not positive definite)
                return LsqFit(None, best)
            z, info = dpotrs(L, rhs, lower=0)
        else:  # (R^T is the lower factor, in Fortran order)
            L = R
            z, info = dpotrs(R.T, rhs, lower=1)
        if info != 0:
            raise ValueError(f"illegal value in {-info}th argument of potrs")
        w, b = z[:d], float(z[d] - o @ z[:d])
        _projections(P, Q, w, pw, qw, helper)
        np.add(pw, b, out=m[:nP])
        np.add(qw, b, out=m[nP:])
        np.negative(m[nP:], out=m[nP:])
        if m.min() > 0.0:  # (the strict separation test itself, on these same products)
            state = LsqState(o, H, rhs, c, L, lam)
            return LsqFit((w, b), w, float(pw.min()), float(qw.max()), state)
        wrong = int(np.count_nonzero(m <= 0.0))
        if wrong < fewest:
            best, fewest = w, wrong
        up = np.flatnonzero(m < LSQ_MARGIN)  # these rows' weights grow: rank updates
        cut = int(np.searchsorted(up, nP))  # (up is sorted: P's rows first)
        sign = np.ones(len(up))
        sign[cut:] = -1.0
        A = _augmented(P, Q, up[:cut], up[cut:] - nP, o)
        g = (LSQ_GROWTH - 1.0) * c[up]
        As = np.multiply(A, np.sqrt(g)[:, None], out=np.empty_like(A, order="F"))
        H = dsyrk(1.0, As, beta=1.0, c=H, trans=1, overwrite_c=1)
        rhs = rhs + (g * sign) @ A
        c[up] *= LSQ_GROWTH
        if start is None or len(up) > LSQ_UPDATE_ROWS:
            R = None
        else:
            R = np.array(L, order="C") if R is None else R
            if not cholesky_add_rows(R, As):
                R = None
    return LsqFit(None, best)


def _augmented(
    P: np.ndarray, Q: np.ndarray, iP: np.ndarray, iQ: np.ndarray, o: np.ndarray, order: str = "C"
) -> np.ndarray:
    """The rows (x - o, 1) of P[iP], then of Q[iQ] (the least-squares fits' rows)."""
    d = P.shape[1]
    A = np.empty((len(iP) + len(iQ), d + 1), order=order)
    A[: len(iP), :d] = P[iP]
    A[len(iP) :, :d] = Q[iQ]
    A[:, :d] -= o
    A[:, d] = 1.0
    return A


def lsq_grow(
    state: LsqState, P: np.ndarray, Q: np.ndarray, newP: np.ndarray, newQ: np.ndarray,
    cP: np.ndarray, cQ: np.ndarray,
) -> LsqState:  # fmt: skip
    """The equations of ``state`` (a fit of subsets of P and Q) with the rows ``newP`` of P
    and ``newQ`` of Q added at weight one; cP and cQ: the weights of all rows (the earlier
    ones carried over). The state's factor is updated by the new rows when they are at most
    ``LSQ_UPDATE_ROWS`` (else dropped). The state's arrays are left as they are."""
    from scipy.linalg.blas import dsyrk

    from .cholesky_update import cholesky_add_rows

    o = state.o
    A = _augmented(P, Q, newP, newQ, o, order="F")
    H = dsyrk(1.0, A, beta=1.0, c=np.array(state.H, order="F"), trans=1, overwrite_c=1)
    rhs = state.rhs + A[: len(newP)].sum(axis=0) - A[len(newP) :].sum(axis=0)
    R = None
    if state.R is not None and len(A) <= LSQ_UPDATE_ROWS:
        R = np.array(state.R, order="C")  # (a copy: the state's factor stays as it is)
        if not cholesky_add_rows(R, A):
            R = None
    return LsqState(o, H, rhs, np.concatenate([cP, cQ]), R, state.lam)


def _lsq_gram(P: np.ndarray, Q: np.ndarray, iters: int) -> LsqFit:
    """``lsq_fit`` for fewer points than dimensions: z = A1^T (G + lam C^-1)^-1 t with the
    Gram matrix G of the rows (x - o, 1)."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    o = (P.sum(axis=0) + Q.sum(axis=0)) / (len(P) + len(Q))
    A1 = np.c_[np.concatenate([P - o, Q - o]), np.ones(len(P) + len(Q))]
    n = len(A1)
    t = np.r_[np.ones(len(P)), -np.ones(len(Q))]
    c = np.ones(n)
    G = A1 @ A1.T
    best, fewest = None, n + 1
    for _ in range(iters):
        try:
            Gc = G.copy()
            Gc[np.diag_indices(n)] += 1e-8 * np.trace(G) / n / c
            z = A1.T @ cho_solve(cho_factor(Gc, check_finite=False), t, check_finite=False)
        except LinAlgError:
            return LsqFit(None, best)
        w = z[:-1]
        m = (A1 @ z) * t
        if m.min() > 0.0:
            b = float(z[-1] - o @ w)
            lo, hi = slab(w, P, Q)
            if lo + b > 0.0 and hi + b < 0.0:  # (the strict separation test, in float64)
                return LsqFit((w, b), w, lo, hi)
            return LsqFit(None, w)
        wrong = int(np.count_nonzero(m <= 0.0))
        if wrong < fewest:
            best, fewest = w, wrong
        c = np.where(m < LSQ_MARGIN, c * LSQ_GROWTH, c)
    return LsqFit(None, best)


WORKING_SET_MIN = 256  # above this many points the LP is solved on a growing working set
WORKING_SET_FULL = 3000  # up to this many points (and no seed) all are in the first set
WORKING_SET_STEP = 128  # points of each side in the first working set
WORKING_SET_WIDE = 256  # the same when the hint is a least-squares normal (a better order)
WORKING_SET_ADD = 16  # points of each side (at most) added per round
HULL_GAP_MAXITER = 2000  # simplex iterations (at least; twice the columns) before IPM is tried
# iterations of a warm restart before it counts as stalled: WARM_MAXITER or WARM_ROWS per row,
# whichever is more (most need < 400, but grown sets of thousands of points can need well over
# 1000, and a restart from scratch then costs more than going on)
WARM_MAXITER = 1000
WARM_ROWS = 10
LP_COLUMNS_MAX = 2000  # a kept model with more point columns drops those out of its basis
# points that leave a kept model's sets are fixed at zero (a bound change keeps the basis
# factor; deleting columns costs a fresh factorisation, ~0.1 s on a dense 386-row basis) and
# deleted when this many have gathered
LP_DEAD_MAX = 512
GAP_TINY = 1e-9  # a working-set gap at or below this (scaled units) needs a touching certificate
# hulls with points this close (L1, scaled units, checked in float64) meet: HiGHS's own primal
# feasibility tolerance, so a gap the solver cannot tell from zero is read as none (a separating
# plane would need a normal above 2 / TOUCH in the margin LP's units, far past its tolerances)
TOUCH = 1e-7


def run_touch(X: np.ndarray) -> float:
    """The gray-zone rule's threshold for a clustering run of the rows of X: ``TOUCH`` times
    the run's scale, the largest deviation of a coordinate from its mean (the max-norm of
    x - mean(X) over the rows, computed without a copy of X). Two hulls whose L1 distance is at
    most this count as meeting: a plane separates them only when its margin, divided by the
    max-norm of its normal (a lower bound of that distance), exceeds it."""
    if not len(X):
        return 0.0
    mu = X.mean(axis=0)
    scale = max(float((X.max(axis=0) - mu).max()), float((mu - X.min(axis=0)).max()))
    return TOUCH * (scale or 1.0)


@dataclass
class GrayZone:
    """The gray-zone rule of one clustering run: hulls within ``touch`` (L1, ``run_touch``)
    meet, so a certificate separates only when the gap it certifies exceeds ``touch``; the
    smallest gap that did is kept (``smallest``, in the run's units). Read in one thread."""

    touch: float
    smallest: float = float("inf")

    def wide(self, gap: float) -> bool:
        """Whether a certified L1 gap separates (and keep it if it is the smallest)."""
        if gap > self.touch:
            self.smallest = min(self.smallest, gap)
            return True
        return False

    def passed(self, gap: np.ndarray) -> np.ndarray:
        """``wide`` for an array of gaps: the mask of those that separate."""
        ok = gap > self.touch
        if ok.any():
            self.smallest = min(self.smallest, float(gap[ok].min()))
        return ok


def plane_gap(lo: float, hi: float, w: np.ndarray) -> float:
    """The L1 distance between two sets that a plane with normal w certifies: P's lowest
    projection lo above Q's highest hi, over the max-norm of w (|w.(p - q)| <= |w|_inf
    |p - q|_1)."""
    return (lo - hi) / float(np.abs(w).max())


@dataclass
class Separation:
    """Outcome of a separability test: the plane (P on its positive side) and, when an LP
    found it, the points that pin it down (indices into P and Q), a good start for a later
    test of grown sets."""

    ok: bool
    plane: tuple[np.ndarray, float] | None = None
    support_p: np.ndarray | None = None
    support_q: np.ndarray | None = None
    lo: float = 0.0  # with a plane: P's lowest projection on its normal
    hi: float = 0.0  # and Q's highest (lo > hi)
    gray: bool = False  # an overlap by the gray-zone rule: the widest slab is within ``touch``


def lp_separable(
    P: np.ndarray,
    Q: np.ndarray,
    stats: LPStats | None = None,
    hint: np.ndarray | None = None,
) -> tuple[bool, tuple[np.ndarray, float] | None]:
    """Exact test: do w, b exist with P·w + b >= 1 and Q·w + b <= -1?  Returns (separable,
    hyperplane with P on the positive side, or None); see ``separate``."""
    res = separate(P, Q, stats, hint)
    return res.ok, res.plane


def separate(
    P: np.ndarray,
    Q: np.ndarray,
    stats: LPStats | None = None,
    hint: np.ndarray | None = None,
    seed: tuple[np.ndarray, np.ndarray] | None = None,
    lp: HullGapModel | None = None,
    ids: tuple[np.ndarray, np.ndarray] | None = None,
    first: int = WORKING_SET_STEP,
    engine: str | None = None,
    touch: float | None = None,
) -> Separation:
    """Exact separability test (HiGHS LPs), counted as one call.

    Small sets: one solve of the margin LP (``lp_direct``). Larger sets, or whenever a kept
    model ``lp`` is given: the hull-gap LP (``_hull_gap``), whose dual is the widest
    separating slab, solved by column generation in one HiGHS model warm-started round to
    round (``HullGapLP``; the interior-point method on the working set when its simplex
    stalls). A new model starts from the ``seed`` points (indices into P and Q, e.g. the
    support of an earlier test) and the points nearest the other set along ``hint`` (a
    direction with P on the high side; default the centroid difference; ``first`` of each
    side, more when the hint is good, e.g. a least-squares normal); a kept one (made for
    subsets of P and Q, its columns named by ``ids``: sorted ids of P's and Q's rows) starts
    from its columns and basis. A plane that strictly separates every point (checked in
    float64) is a certificate, otherwise the points beyond the slab join and it is solved
    again. Working sets whose hulls meet (a certified common point) mean all hulls meet; one
    the hull-gap LP cannot decide is decided by the margin LP on that set (infeasible there
    means infeasible for all). A model whose simplex stalled is marked ``broken``. A new model
    runs on ``engine`` (``hull_gap_model``: the dense simplex by default, HiGHS, or both in
    shadow mode).

    ``touch``: the gray-zone rule's threshold (``run_touch``, in the units of P and Q): hulls
    whose L1 distance is at most this meet, the LPs' common points are checked against it, and
    a plane separates only when its certified gap (``plane_gap``) exceeds it; when the widest
    slab over all points does not, the pair overlaps (``gray``). None: each LP's own scaled
    ``TOUCH``, and any strictly separating plane counts.
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    stats = stats if stats is not None else LPStats()
    stats.calls += 1
    if lp is None and len(P) + len(Q) <= WORKING_SET_MIN:
        return _direct_separation(P, Q, stats, touch)
    gP, gQ = ids if ids is not None else (np.arange(len(P)), np.arange(len(Q)))
    model = lp if lp is not None else hull_gap_model(P, Q, engine, touch)
    model.charge = stats
    if model.size:
        if len(model.ids) > LP_COLUMNS_MAX:
            model.prune()
        model.mark()
        iP, iQ = model.positions(gP, gQ)
        new_p, new_q = iP[:0], iQ[:0]
        if not len(iP) or not len(iQ):  # a side whose columns all left with a rejected part:
            w = hint if hint is not None else P.mean(axis=0) - Q.mean(axis=0)  # start it again
            if not len(iP):
                iP = new_p = np.sort(np.argsort(P @ w, kind="stable")[:first])
            if not len(iQ):
                iQ = new_q = np.sort(np.argsort(-(Q @ w), kind="stable")[:first])
    else:
        if len(P) + len(Q) <= WORKING_SET_FULL and seed is None:
            iP, iQ = np.arange(len(P)), np.arange(len(Q))
        else:
            w = hint if hint is not None else P.mean(axis=0) - Q.mean(axis=0)
            iP = np.argsort(P @ w, kind="stable")[:first]
            iQ = np.argsort(-(Q @ w), kind="stable")[:first]
            if seed is not None:
                iP, iQ = np.union1d(iP, seed[0]), np.union1d(iQ, seed[1])
        new_p, new_q = iP, iQ
    live: HullGapModel | None = model
    plane = None  # a plane still to be checked (found again for the same working set)
    refined = False
    widest = True  # the plane is the working set's widest slab (not a margin LP's)
    while True:
        if plane is None:
            stats.rounds += 1
            gap = None
            if live is not None:
                live.add(P[new_p], gP[new_p], Q[new_q], gQ[new_q])
                gap = live.solve(P, gP, Q, gQ)
            if gap is None:  # stalled or unverified: the interior-point method on this set
                model.broken = True  # (and on the later ones)
                live = None
                gap = _hull_gap(P[iP], Q[iQ], touch)
                if gap is not None:
                    gap = _Gap(gap.plane, iP[gap.support_p], iQ[gap.support_q])
            if gap is not None and gap.plane is None:  # the working sets' hulls meet: so do all
                return Separation(False)
            if gap is None:  # undecided by the hull-gap LP: the margin LP decides
                ok, plane = _lp_direct(P[iP], Q[iQ], stats, touch)
                if not ok:
                    return Separation(False)
                sp, sq = iP, iQ
                widest = False
            else:
                plane, sp, sq = gap.plane, gap.support_p, gap.support_q
                widest = True
            refined = False
        w, b = plane  # type: ignore[misc]
        pw, qw = P @ w, Q @ w
        mp, mq = pw + b, qw + b
        apart = bool(mp.min() > 0.0 and mq.max() < 0.0)
        if apart:
            lo, hi = float(pw.min()), float(qw.max())
            if touch is None or plane_gap(lo, hi, w) > touch:
                return Separation(True, (w, b), sp, sq, lo, hi)
        # points beyond the working set's own extent along w: those that move the slab
        addP = np.setdiff1d(np.flatnonzero(mp < mp[iP].min()), iP)
        addQ = np.setdiff1d(np.flatnonzero(mq > mq[iQ].max()), iQ)
        if apart and not len(addP) and not len(addQ):  # (gray zone: a gap within touch)
            if widest:  # the working set's widest slab is that of all points
                return _gray(stats)
            return widest_separation(P, Q, stats, touch)  # type: ignore[arg-type]
        if not len(addP) and not len(addQ):  # the plane fails on the working set itself
            if refined:  # pragma: no cover - solver tolerance: decide on all points
                return _direct_separation(P, Q, stats, touch)
            found = _working_set_plane(live, P, gP, Q, gQ, iP, iQ, stats, touch)
            if found is None:
                return Separation(False)
            plane, sp, sq, widest = found
            refined = True
            continue
        addP = addP[np.argsort(mp[addP], kind="stable")][:WORKING_SET_ADD]
        addQ = addQ[np.argsort(-mq[addQ], kind="stable")][:WORKING_SET_ADD]
        new_p, new_q = addP, addQ
        iP, iQ = np.union1d(iP, addP), np.union1d(iQ, addQ)
        plane = None


def _working_set_plane(
    live: HullGapModel | None,
    P: np.ndarray,
    gP: np.ndarray,
    Q: np.ndarray,
    gQ: np.ndarray,
    iP: np.ndarray,
    iQ: np.ndarray,
    stats: LPStats,
    touch: float | None = None,
) -> tuple[tuple[np.ndarray, float], np.ndarray, np.ndarray, bool] | None:
    """A plane (and support) that separates the working set (rows iP of P, iQ of Q) when the
    hull-gap solution's does not, its gap being below the solver's tolerances: the kept model
    solved again with tight tolerances, else the margin LP on the working set. None when the
    working set's hulls meet (so do all). The flag: whether the plane is the working set's
    widest slab (the hull-gap LP's, not the margin LP's)."""
    if live is not None:
        gap = live.refine(P, gP, Q, gQ)
        if gap is not None:
            if gap.plane is None:
                return None
            lo, hi = slab(gap.plane[0], P[iP], Q[iQ])
            if lo > hi:
                return gap.plane, gap.support_p, gap.support_q, True
    ok, plane = _lp_direct(P[iP], Q[iQ], stats, touch)
    return (plane, iP, iQ, False) if ok else None  # type: ignore[return-value]


def _direct_separation(
    P: np.ndarray, Q: np.ndarray, stats: LPStats, touch: float | None = None
) -> Separation:
    """One solve of the margin LP on all points, as a ``Separation`` (no support points);
    a plane within ``touch`` leaves the decision to the widest slab (``widest_separation``)."""
    ok, plane = _lp_direct(P, Q, stats, touch)
    if not ok:
        return Separation(False)
    lo, hi = slab(plane[0], P, Q)  # type: ignore[index]
    if touch is not None and plane_gap(lo, hi, plane[0]) <= touch:  # type: ignore[index]
        return widest_separation(P, Q, stats, touch)
    return Separation(True, plane, None, None, lo, hi)


def _gray(stats: LPStats) -> Separation:
    """An overlap by the gray-zone rule (counted)."""
    stats.gray_zone += 1
    return Separation(False, gray=True)


def widest_separation(P: np.ndarray, Q: np.ndarray, stats: LPStats, touch: float) -> Separation:
    """Decide a pair whose separating plane is within ``touch``: the hull-gap LP on all points
    (interior-point method, crossover) gives the widest slab; its plane separates when its
    certified gap exceeds ``touch``, else the hulls meet or the pair is in the gray zone."""
    gap = _hull_gap(P, Q, touch)
    if gap is not None and gap.plane is None:
        return Separation(False)
    if gap is not None:
        w, b = gap.plane
        lo, hi = slab(w, P, Q)
        if lo + b > 0.0 and hi + b < 0.0 and plane_gap(lo, hi, w) > touch:
            return Separation(True, (w, b), gap.support_p, gap.support_q, lo, hi)
    return _gray(stats)


class _Gap(NamedTuple):
    """A hull-gap LP outcome: the mid-slab plane and the points with nonzero weight, or no
    plane when the hulls meet (certified in float64)."""

    plane: tuple[np.ndarray, float] | None
    support_p: np.ndarray
    support_q: np.ndarray


def _frame(P: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, float]:
    """The midpoint of the centroids of P and Q and the max-abs of both sets around it: the
    hull-gap LP's coordinates are (x - origin) / scale."""
    o = (P.mean(axis=0) + Q.mean(axis=0)) / 2.0
    return o, max(float(np.abs(P - o).max()), float(np.abs(Q - o).max())) or 1.0


def _exact_weights(Ps: np.ndarray, Qs: np.ndarray) -> np.ndarray:
    """Weights on the rows of Ps and of Qs, each summing to one, whose combinations agree: the
    least-squares solution (pivoted QR), exact when the rows admit one."""
    from scipy.linalg import lstsq

    d = Ps.shape[1]
    M = np.zeros((d + 2, len(Ps) + len(Qs)))
    M[:d, : len(Ps)], M[:d, len(Ps) :] = Ps.T, -Qs.T
    M[d, : len(Ps)], M[d + 1, len(Ps) :] = 1.0, 1.0
    rhs = np.r_[np.zeros(d), 1.0, 1.0]
    return lstsq(M, rhs, lapack_driver="gelsy", check_finite=False)[0]


def _touch(Ps: np.ndarray, Qs: np.ndarray, v: np.ndarray, touch: float = TOUCH) -> bool:
    """Whether the weights v (Ps's, then Qs's; negative ones dropped) give points of the two
    hulls within ``touch`` (L1) in float64."""
    va, vb = np.clip(v[: len(Ps)], 0.0, None), np.clip(v[len(Ps) :], 0.0, None)
    if va.sum() <= 0.0 or vb.sum() <= 0.0:
        return False
    return bool(np.abs(va @ Ps / va.sum() - vb @ Qs / vb.sum()).sum() <= touch)


def _meet(
    Ps: np.ndarray, Qs: np.ndarray, a: np.ndarray, b: np.ndarray, touch: float = TOUCH
) -> bool:
    """Whether simplex weights from a zero-gap solution (within solver tolerance) give points
    of the two (scaled) hulls within ``touch`` in float64; the weights are also re-solved
    exactly on their support (least squares), which removes the solver's tolerance."""
    sp, sq = np.flatnonzero(a > 0.0), np.flatnonzero(b > 0.0)
    if not len(sp) or not len(sq):
        return False
    Ps, Qs = Ps[sp], Qs[sq]
    v = np.r_[a[sp], b[sq]]
    return _touch(Ps, Qs, v, touch) or _touch(Ps, Qs, _exact_weights(Ps, Qs), touch)


_banner_shown = False


def _quiet_highs():
    """A highspy model with logging off. highspy prints a banner on stdout when the first one
    of a process is made, before any option can be set: that one is made with stdout (the
    file descriptor) pointed at the null device."""
    import highspy

    global _banner_shown
    if _banner_shown:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
        _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


class _Columns:
    """The point columns of a hull-gap model, named by the caller's ids (P's as i, Q's as ~i),
    some of them dead (fixed at zero after their point left the sets)."""

    ids: np.ndarray
    live: np.ndarray
    charge: LPStats | None
    scale: float
    touch: float = TOUCH  # hulls within this (L1, the model's scaled units) meet

    def use_touch(self, touch: float) -> None:
        """Check common points against ``touch`` in the sets' own units (``run_touch``)."""
        self.touch = touch / self.scale

    def _clock(self, name: str, t0: float, c0: float | None = None) -> None:
        """Count the seconds since t0 in the field ``name`` of ``charge`` (and the thread's
        CPU seconds since c0 in ``lp_cpu_s``)."""
        if self.charge is not None:
            setattr(self.charge, name, getattr(self.charge, name) + time.perf_counter() - t0)
            if c0 is not None:
                self.charge.lp_cpu_s += time.thread_time() - c0

    @property
    def size(self) -> int:
        """Live point columns."""
        return int(np.count_nonzero(self.live))

    @property
    def live_ids(self) -> np.ndarray:
        """Ids of the live point columns, in column order."""
        return self.ids[self.live]

    def _rows(self, gP: np.ndarray, gQ: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which live columns are P's, and the row positions of the live P and Q columns (in
        column order) in sets whose sorted ids are gP and gQ."""
        ids = self.live_ids
        isp = ids >= 0
        return isp, np.searchsorted(gP, ids[isp]), np.searchsorted(gQ, ~ids[~isp])

    def positions(self, gP: np.ndarray, gQ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted row positions of the live columns in sets whose sorted ids are gP and gQ
        (supersets of the live columns)."""
        isp, iP, iQ = self._rows(gP, gQ)
        ids = self.live_ids
        if not (np.array_equal(gP[np.minimum(iP, len(gP) - 1)], ids[isp])
                and np.array_equal(gQ[np.minimum(iQ, len(gQ) - 1)], ~ids[~isp])):  # fmt: skip
            raise ValueError("a kept hull-gap model has columns outside the sets tested")
        return np.sort(iP), np.sort(iQ)

    def _dropped(self, gP: np.ndarray, gQ: np.ndarray | None) -> np.ndarray:
        """Mask of the live columns of P ids in gP and of Q ids in gQ."""
        isp = self.ids >= 0
        mask = isp & np.isin(self.ids, gP)
        if gQ is not None:
            mask |= ~isp & np.isin(~self.ids, gQ)
        return mask & self.live


class HullGapLP(_Columns):
    """The hull-gap LP (see ``_hull_gap``) of two point sets over a growing working set of
    point columns, kept in one HiGHS model, also from one test to the next while the sets
    grow: after the first solve (dual simplex) each solve restarts the primal simplex from
    the last optimal basis, which new columns leave feasible. Columns are named by ids the
    caller gives (P's as i, Q's as ~i); coordinates are centred and scaled once, by the sets
    the model is made for. Columns of points that left the sets stay, fixed at zero (dead),
    until ``LP_DEAD_MAX`` have gathered."""

    def __init__(self, P: np.ndarray, Q: np.ndarray, frame: tuple[np.ndarray, float] | None = None):
        self.o, self.scale = frame if frame is not None else _frame(P, Q)
        self.d = P.shape[1]
        self.ids = np.zeros(0, dtype=np.int64)  # point columns in order: P's id i, Q's ~i
        self.live = np.zeros(0, dtype=bool)  # per point column: not dead
        self._new_model()
        self.broken = False  # the simplex stalled: the model is not to be used again
        self.charge: LPStats | None = None  # where the time spent in HiGHS is counted

    def _new_model(self) -> None:
        """A HiGHS model with the rows and the slack columns only."""
        import highspy

        d = self.d
        h = self.h = _quiet_highs()
        rhs = np.r_[np.zeros(d), 1.0, 1.0]
        none = np.zeros(0, dtype=np.int32)
        h.addRows(d + 2, rhs, rhs, 0, none, none, np.zeros(0))
        eye = np.arange(d, dtype=np.int32)
        ones = np.r_[np.ones(d), -np.ones(d)]  # |P'a - Q'b|_1 through +e_k and -e_k slacks
        h.addCols(
            2 * d, np.ones(2 * d), np.zeros(2 * d), np.full(2 * d, highspy.kHighsInf),
            2 * d, np.arange(2 * d, dtype=np.int32), np.r_[eye, eye], ones,
        )  # fmt: skip
        self.solves = 0
        self._mark: tuple[int, list, list] | None = None  # see ``mark``

    def add(self, XP: np.ndarray, gP: np.ndarray, XQ: np.ndarray, gQ: np.ndarray) -> None:
        """Add the rows of XP (ids gP) and XQ (ids gQ) as columns."""
        cols = np.concatenate([XP - self.o, self.o - XQ]) / self.scale
        side = np.r_[np.zeros(len(XP), np.int64), np.ones(len(XQ), np.int64)]
        self.add_columns(cols, side, np.r_[np.asarray(gP, np.int64), ~np.asarray(gQ, np.int64)])

    def add_columns(self, cols: np.ndarray, side: np.ndarray, ids: np.ndarray) -> None:
        """Add point columns already in the LP's coordinates (side 0: P's, 1: Q's)."""
        import highspy

        k, d = len(cols), self.d
        if not k:
            return
        idx = np.empty((k, d + 1), dtype=np.int32)
        idx[:, :d] = np.arange(d, dtype=np.int32)
        idx[:, d] = d + side
        vals = np.c_[cols, np.ones(k)]
        self.h.addCols(
            k, np.zeros(k), np.zeros(k), np.full(k, highspy.kHighsInf),
            k * (d + 1), np.arange(k, dtype=np.int32) * (d + 1), idx.ravel(), vals.ravel(),
        )  # fmt: skip
        self.ids = np.r_[self.ids, ids]
        self.live = np.r_[self.live, np.ones(k, dtype=bool)]

    def basis_heads(self) -> np.ndarray | None:
        """The last basis as the dense engine's heads (variables: 2d slacks, then the point
        columns), a basic row logical of an equality row read as that row's +e_k slack; None
        when a convexity row's logical is basic or a row is covered twice."""
        import highspy

        b = self.h.getBasis()
        basic = highspy.HighsBasisStatus.kBasic
        cols = np.flatnonzero([s == basic for s in b.col_status])
        rows = np.flatnonzero([s == basic for s in b.row_status])
        if (rows >= self.d).any():
            return None
        heads = np.r_[cols, rows]
        slack = heads[heads < 2 * self.d] % self.d
        if len(heads) != self.d + 2 or len(np.unique(slack)) != len(slack):
            return None
        return heads.astype(np.int64)

    def _delete(self, mask: np.ndarray) -> None:
        """Delete the point columns where mask is set."""
        at = np.flatnonzero(mask)
        if len(at):
            t0 = time.perf_counter()
            self.h.deleteCols(len(at), (2 * self.d + at).astype(np.int32))
            self._clock("lp_basis_s", t0)
            self.ids, self.live = self.ids[~mask], self.live[~mask]
            self._mark = None

    def mark(self) -> None:
        """Remember the basis (optimal for the sets as they are) before a test of grown sets,
        for ``drop`` to return to."""
        if self.solves:
            t0 = time.perf_counter()
            b = self.h.getBasis()
            self._mark = (len(self.ids), list(b.col_status), list(b.row_status))
            self._clock("lp_basis_s", t0)

    def _basic(self) -> np.ndarray:
        """Which point columns are basic."""
        import highspy

        t0 = time.perf_counter()
        status = self.h.getBasis().col_status[2 * self.d :]
        out = np.array([s == highspy.HighsBasisStatus.kBasic for s in status], dtype=bool)
        self._clock("lp_basis_s", t0)
        return out

    def _rewind(self) -> None:
        """Back to the basis of the last ``mark`` (columns added since are nonbasic at zero):
        one factorisation (~75 ms at d=384), where the basis the grown sets left (holding
        points that leave) can take hundreds or thousands of iterations to repair once they
        are fixed at zero. (Even one or two such basic columns leave it that far away:
        rewinding only from 4 or 16 of them lost the whole gain on EWT.)"""
        import highspy

        n, cols, rows = self._mark  # type: ignore[misc]
        b = highspy.HighsBasis()
        lower = highspy.HighsBasisStatus.kLower
        b.col_status = cols + [lower] * (len(self.ids) - n)
        b.row_status = rows
        b.valid = True
        t0 = time.perf_counter()
        self.h.setBasis(b)
        self._clock("lp_basis_s", t0)

    def drop(self, gP: np.ndarray, gQ: np.ndarray | None = None) -> None:
        """Fix at zero the live P columns whose ids are in gP and the live Q columns whose ids
        are in gQ (points that left the sets); delete the dead columns once there are
        ``LP_DEAD_MAX``. A model marked before the test these points joined in goes back to
        that basis when any of their columns is basic (else the basis stays feasible)."""
        mask = self._dropped(gP, gQ)
        at = (2 * self.d + np.flatnonzero(mask)).astype(np.int32)
        if not len(at):
            return
        if self._mark is not None:
            if self._basic()[mask].any():
                self._rewind()
            self._mark = None
        self.h.changeColsBounds(len(at), at, np.zeros(len(at)), np.zeros(len(at)))
        self.live &= ~mask
        if len(self.live) - self.size >= LP_DEAD_MAX:
            self._delete(~self.live)

    def prune(self) -> None:
        """Delete the dead point columns and the live ones out of the basis (the optimum
        stays optimal)."""
        basic = self._basic()
        if len(basic) == len(self.ids):
            self._delete(~basic | ~self.live)

    def _run(self, tight: bool = False) -> bool:
        """Solve from the current basis (the first solve of a model by dual simplex, later
        ones by primal simplex without bound perturbation: few iterations after a few
        columns join); whether it reached the optimum."""
        import highspy

        h = self.h
        tol = 1e-10 if tight else 1e-7  # HiGHS's default feasibility tolerances: 1e-7
        h.setOptionValue("primal_feasibility_tolerance", tol)
        h.setOptionValue("dual_feasibility_tolerance", tol)
        h.setOptionValue("simplex_strategy", 1 if not self.solves else 4)
        h.setOptionValue("primal_simplex_bound_perturbation_multiplier", float(not self.solves))
        if self.solves:
            limit = max(WARM_MAXITER, WARM_ROWS * (self.d + 2))
        else:
            limit = max(HULL_GAP_MAXITER, 2 * h.getNumCol())
        h.setOptionValue("simplex_iteration_limit", limit)
        self.solves += 1
        t0, c0 = time.perf_counter(), time.thread_time()
        h.run()
        self._clock("lp_run_s", t0, c0)
        return h.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def _restart(self, P: np.ndarray, gP: np.ndarray, Q: np.ndarray, gQ: np.ndarray) -> None:
        """The same columns in a new model (no basis): the cure for a stalled warm start."""
        _, iP, iQ = self._rows(gP, gQ)
        self.ids, self.live = self.ids[:0], self.live[:0]
        self._new_model()
        self.add(P[iP], gP[iP], Q[iQ], gQ[iQ])

    def solve(self, P: np.ndarray, gP: np.ndarray, Q: np.ndarray, gQ: np.ndarray) -> _Gap | None:
        """The working set's gap for the sets P and Q (sorted ids gP, gQ): mid-slab plane and
        support (row positions in P and Q), no plane when the hulls meet. A stalled warm
        start is solved again in a new model; a tiny gap that is not verified is solved again
        from the same basis with tighter tolerances. None when that fails too."""
        ok = self._run()
        if not ok and self.solves > 1:
            self._restart(P, gP, Q, gQ)
            ok = self._run()
        if not ok:
            return None
        gap = self._read(P, gP, Q, gQ)
        return gap if gap is not None else self.refine(P, gP, Q, gQ)

    def refine(self, P: np.ndarray, gP: np.ndarray, Q: np.ndarray, gQ: np.ndarray) -> _Gap | None:
        """The last solve's basis solved again with tight tolerances (for a gap below the
        default ones), read as in ``solve``; None when it does not reach the optimum."""
        return self._read(P, gP, Q, gQ) if self._run(tight=True) else None

    def _read(self, P: np.ndarray, gP: np.ndarray, Q: np.ndarray, gQ: np.ndarray) -> _Gap | None:
        t0, c0 = time.perf_counter(), time.thread_time()
        sol = self.h.getSolution()
        x = np.asarray(sol.col_value)[2 * self.d :][self.live]
        objective = self.h.getInfo().objective_function_value
        duals = np.asarray(sol.row_dual[: self.d])
        self._clock("lp_read_back_s", t0, c0)
        isp, iP, iQ = self._rows(gP, gQ)
        a, b = np.zeros(len(P)), np.zeros(len(Q))
        a[iP], b[iQ] = x[isp], x[~isp]
        return _outcome(
            P, Q, self.o, self.scale, a, b,
            objective, duals, self.touch,
        )  # fmt: skip


class DenseHullGapLP(_Columns):
    """``HullGapLP``'s interface on the dense warm-started simplex of ``dense_simplex`` (the
    default engine): a test's new columns cost nothing until they enter, a kept model's
    solution is in memory (no read-back: a repeat test whose new columns do not price in costs
    one pricing pass), and ``mark`` / rewind copy the basis inverse. A model's first basis
    comes from HiGHS's dual simplex (``_cold_start``: primal simplex from a crash basis takes
    several times the pivots there). When the engine fails (stall, singular basis) after one
    restart from a crash basis, ``solve`` returns None and the caller falls back to HiGHS, as
    for a stalled HiGHS model."""

    def __init__(self, P: np.ndarray, Q: np.ndarray, frame: tuple[np.ndarray, float] | None = None):
        from .dense_simplex import DenseSimplex

        self.o, self.scale = frame if frame is not None else _frame(P, Q)
        self.d = P.shape[1]
        self.ids = np.zeros(0, dtype=np.int64)
        self.live = np.zeros(0, dtype=bool)
        self.lp = DenseSimplex(self.d)
        self.broken = False
        self.charge: LPStats | None = None
        self.solves = 0
        self._mark: tuple | None = None

    def add(self, XP: np.ndarray, gP: np.ndarray, XQ: np.ndarray, gQ: np.ndarray) -> None:
        """Add the rows of XP (ids gP) and XQ (ids gQ) as columns."""
        cols = np.concatenate([XP - self.o, self.o - XQ]) / self.scale
        if not len(cols):
            return
        self.lp.add(cols, np.r_[np.zeros(len(XP), np.int64), np.ones(len(XQ), np.int64)])
        self.ids = np.r_[self.ids, np.asarray(gP, dtype=np.int64), ~np.asarray(gQ, np.int64)]
        self.live = np.r_[self.live, np.ones(len(cols), dtype=bool)]

    def mark(self) -> None:
        """Remember the basis before a test of grown sets, for ``drop`` to return to. A model
        that lost its basis (a rejected part's column was basic and there was no mark to
        return to) gets its first basis again now, on the columns it has: marking "no
        basis" would make every later rejection drop the basis again and the next test
        start cold (on the full pos-ewt tail: 86 of 95 cold starts, 90% of their CPU)."""
        if self.solves:
            if not self.lp.has_basis and DENSE_COLD_HIGHS and self._both_sides():
                self._cold_start()
            t0 = time.perf_counter()
            self._mark = self.lp.save()
            self._clock("lp_basis_s", t0)

    def _both_sides(self) -> bool:
        """Whether both sets have a live column (else no basis exists)."""
        n = self.lp.n
        side = self.lp.side[:n][~self.lp.fixed[:n]]
        return bool((side == 0).any() and (side == 1).any())

    def drop(self, gP: np.ndarray, gQ: np.ndarray | None = None) -> None:
        """Fix at zero the live columns of the points that left the sets (as ``HullGapLP``):
        back to the marked basis when one of them is basic, deleted once ``LP_DEAD_MAX``
        have gathered."""
        mask = self._dropped(gP, gQ)
        if not mask.any():
            return
        t0 = time.perf_counter()
        if not self.lp.fix(mask) and self._mark is not None:
            self.lp.restore(self._mark)
        self._mark = None
        self.live &= ~mask
        if len(self.live) - self.size >= LP_DEAD_MAX:
            self._delete(~self.live)
        self._clock("lp_basis_s", t0)

    def _delete(self, mask: np.ndarray) -> None:
        if mask.any():
            self.lp.delete(mask)
            self.ids, self.live = self.ids[~mask], self.live[~mask]
            self._mark = None

    def prune(self) -> None:
        """Delete the dead point columns and the live ones out of the basis."""
        self._delete(~self.lp.basic() | ~self.live)

    def _cold_start(self) -> None:
        """A first basis from HiGHS's dual simplex on the live columns (primal simplex from a
        crash basis needs several times the pivots on a cold start); the engine's own crash
        basis when the transfer fails."""
        c0 = time.thread_time()
        try:
            self._highs_basis()
        finally:
            if self.charge is not None:
                self.charge.lp_cold_cpu_s += time.thread_time() - c0

    def _highs_basis(self) -> None:
        n = self.lp.n
        live = ~self.lp.fixed[:n]
        h = HullGapLP.__new__(HullGapLP)
        h.o, h.scale, h.d = self.o, self.scale, self.d
        h.ids, h.live = self.ids[:0], self.live[:0]
        h._new_model()
        h.broken, h.charge = False, self.charge
        h.add_columns(self.lp.cols[:n][live], self.lp.side[:n][live], self.ids[live])
        if h._run():
            heads = h.basis_heads()
            if heads is not None:
                at = np.flatnonzero(live)  # HiGHS's point columns -> the engine's
                pts = heads >= 2 * self.d
                heads[pts] = 2 * self.d + at[heads[pts] - 2 * self.d]
                self.lp.head = heads
                self.lp.binv = np.zeros((self.lp.m, self.lp.m))
                self.lp.xb = np.zeros(self.lp.m)
                self.lp.has_basis = True
                if self.lp.refactor():
                    return
        self.lp.has_basis = False

    def _run(self, tol: float) -> bool:
        if not self.lp.has_basis and DENSE_COLD_HIGHS:
            self._cold_start()
        t0, c0 = time.perf_counter(), time.thread_time()
        before = self.lp.pivots
        self.solves += 1
        limit = max(WARM_MAXITER, WARM_ROWS * (self.d + 2), 2 * len(self.ids))
        ok = self.lp.solve(tol, limit)
        if not ok:  # once more from a crash basis
            self.lp.has_basis = False
            ok = self.lp.solve(tol, max(HULL_GAP_MAXITER, 4 * (len(self.ids) + self.d)))
        if self.charge is not None:
            self.charge.engine_pivots += self.lp.pivots - before
            self.charge.engine_fallbacks += not ok
        self._clock("lp_run_s", t0, c0)
        return ok

    def solve(self, P: np.ndarray, gP: np.ndarray, Q: np.ndarray, gQ: np.ndarray) -> _Gap | None:
        """As ``HullGapLP.solve``: the working set's gap, None when the engine fails or a tiny
        gap stays unverified after ``refine``."""
        if not self._run(DENSE_TOL):
            return None
        gap = self._read(P, gP, Q, gQ)
        return gap if gap is not None else self.refine(P, gP, Q, gQ)

    def refine(self, P: np.ndarray, gP: np.ndarray, Q: np.ndarray, gQ: np.ndarray) -> _Gap | None:
        """The basis refactorised and solved again with tight tolerances, read as in
        ``solve``; None when that fails."""
        if not (self.lp.has_basis and self.lp.refactor()) or not self._run(DENSE_TIGHT_TOL):
            return None
        return self._read(P, gP, Q, gQ)

    def _read(self, P: np.ndarray, gP: np.ndarray, Q: np.ndarray, gQ: np.ndarray) -> _Gap | None:
        objective, x, duals = self.lp.solution()
        x = x[self.live]
        isp, iP, iQ = self._rows(gP, gQ)
        a, b = np.zeros(len(P)), np.zeros(len(Q))
        a[iP], b[iQ] = x[isp], x[~isp]
        return _outcome(P, Q, self.o, self.scale, a, b, objective, duals, self.touch)


class LPShadowMismatch(AssertionError):
    """Shadow mode: the dense engine and HiGHS decided one working-set LP differently."""


class ShadowHullGapLP(_Columns):
    """Both engines on the same columns: every solve runs the dense engine and HiGHS and raises
    ``LPShadowMismatch`` when one certifies a common point and the other a gap (a solve one of
    them leaves undecided is not a decision). The dense engine's answer is used; columns are
    pruned by its basis in both."""

    def __init__(self, P: np.ndarray, Q: np.ndarray):
        frame = _frame(P, Q)
        self.dense = DenseHullGapLP(P, Q, frame)
        self.highs = HullGapLP(P, Q, frame)
        self.scale = frame[1]
        self.broken = False
        self.charge: LPStats | None = None

    def use_touch(self, touch: float) -> None:
        self.dense.use_touch(touch)
        self.highs.use_touch(touch)

    ids = property(lambda self: self.dense.ids)  # type: ignore[assignment]
    live = property(lambda self: self.dense.live)  # type: ignore[assignment]

    def _share(self) -> None:
        self.dense.charge = self.highs.charge = self.charge

    def add(self, XP: np.ndarray, gP: np.ndarray, XQ: np.ndarray, gQ: np.ndarray) -> None:
        self.dense.add(XP, gP, XQ, gQ)
        self.highs.add(XP, gP, XQ, gQ)

    def mark(self) -> None:
        self._share()
        self.dense.mark()
        self.highs.mark()

    def drop(self, gP: np.ndarray, gQ: np.ndarray | None = None) -> None:
        self._share()
        self.dense.drop(gP, gQ)
        self.highs.drop(gP, gQ)

    def prune(self) -> None:
        mask = ~self.dense.lp.basic() | ~self.dense.live
        self.dense._delete(mask)
        self.highs._delete(mask)

    def _check(self, mine: _Gap | None, theirs: _Gap | None, sizes: tuple[int, int]) -> None:
        if self.charge is not None:
            self.charge.shadow_solves += 1
        decided = mine is not None and theirs is not None
        if decided and (mine.plane is None) != (theirs.plane is None):  # type: ignore[union-attr]
            said = {True: "the hulls meet", False: "a gap"}
            raise LPShadowMismatch(
                f"hull-gap LP on {sizes[0]} + {sizes[1]} points: the dense engine certified "
                f"{said[mine.plane is None]}, HiGHS {said[theirs.plane is None]}"
            )

    def solve(self, P: np.ndarray, gP: np.ndarray, Q: np.ndarray, gQ: np.ndarray) -> _Gap | None:
        self._share()
        mine = self.dense.solve(P, gP, Q, gQ)
        theirs = self.highs.solve(P, gP, Q, gQ)
        self._check(mine, theirs, (len(P), len(Q)))
        return mine

    def refine(self, P: np.ndarray, gP: np.ndarray, Q: np.ndarray, gQ: np.ndarray) -> _Gap | None:
        self._share()
        mine = self.dense.refine(P, gP, Q, gQ)
        theirs = self.highs.refine(P, gP, Q, gQ)
        self._check(mine, theirs, (len(P), len(Q)))
        return mine


LP_ENGINES = ("dense", "highs", "shadow")
DENSE_TOL = 1e-9  # the dense engine's primal and dual feasibility tolerance
DENSE_TIGHT_TOL = 1e-11  # the same for ``refine``
DENSE_COLD_HIGHS = True  # a model's first basis comes from HiGHS's dual simplex


def default_engine() -> str:
    """The hull-gap LP engine: ``FTPROBE_LP_ENGINE`` (dense, highs or shadow), else dense."""
    name = os.environ.get("FTPROBE_LP_ENGINE", "dense")
    if name not in LP_ENGINES:
        raise ValueError(f"FTPROBE_LP_ENGINE={name!r}: use one of {', '.join(LP_ENGINES)}")
    return name


def hull_gap_model(
    P: np.ndarray, Q: np.ndarray, engine: str | None = None, touch: float | None = None
) -> HullGapModel:
    """A new hull-gap model for the sets P and Q on ``engine`` (default: ``default_engine``);
    ``touch``: the gray-zone threshold in the sets' units (``run_touch``; None: ``TOUCH``
    in the model's scaled units)."""
    engine = engine or default_engine()
    model: HullGapModel
    if engine == "highs":
        model = HullGapLP(P, Q)
    elif engine == "shadow":
        model = ShadowHullGapLP(P, Q)
    elif engine == "dense":
        model = DenseHullGapLP(P, Q)
    else:
        raise ValueError(f"unknown LP engine {engine!r}: use one of {', '.join(LP_ENGINES)}")
    if touch is not None:
        model.use_touch(touch)
    return model


HullGapModel = HullGapLP | DenseHullGapLP | ShadowHullGapLP


def _outcome(
    P: np.ndarray,
    Q: np.ndarray,
    o: np.ndarray,
    scale: float,
    a: np.ndarray,
    b: np.ndarray,
    objective: float,
    duals: np.ndarray,
    touch: float = TOUCH,
) -> _Gap | None:
    """A hull-gap solution (weights a, b on the points of P and Q in the LP's coordinates
    (x - o) / scale; objective; equality duals) read as a ``_Gap``: no plane when the gap is
    at most ``touch`` (scaled units) and the weights give points that close (``_meet``: the
    hulls meet), else the mid-slab plane; None when a gap at most ``GAP_TINY`` is
    unverified."""
    a, b = np.clip(a, 0.0, None), np.clip(b, 0.0, None)
    sp, sq = np.flatnonzero(a > 0.0), np.flatnonzero(b > 0.0)
    Pm, Qm = (P[sp] - o) / scale, (Q[sq] - o) / scale
    if objective <= touch and _meet(Pm, Qm, a[sp], b[sq], touch):
        return _Gap(None, sp, sq)
    if objective > GAP_TINY:
        return _Gap(_mid_slab(P, Q, np.asarray(duals, dtype=np.float64), sp, sq), sp, sq)
    return None


def _mid_slab(
    P: np.ndarray, Q: np.ndarray, w: np.ndarray, sp: np.ndarray, sq: np.ndarray
) -> tuple[np.ndarray, float]:
    """The plane with normal ±w halfway between the two sets, P on the high side of the
    working set's slab: its support points (rows sp of P, sq of Q) lie on the slab's two
    faces. (The whole sets' means can lie the other way round while the sets overlap.)"""
    if sp.size and sq.size:
        flip = float((P[sp] @ w).mean()) < float((Q[sq] @ w).mean())
    else:
        flip = float((P @ w).mean()) < float((Q @ w).mean())
    if flip:
        w = -w
    return w, -(float((Q @ w).max()) + float((P @ w).min())) / 2.0


def _hull_gap(P: np.ndarray, Q: np.ndarray, touch: float | None = None) -> _Gap | None:
    """The widest slab (in the max norm of the normal) between the hulls of P and Q, from the
    LP  min |P'a - Q'b|_1  over simplex weights a, b, solved afresh by HiGHS's interior-point
    method (its equality duals are the normal): the fallback when the simplex of
    ``HullGapLP`` stalls or leaves a tiny gap unverified. See ``_outcome`` (``touch``: its
    threshold in the units of P and Q, default ``TOUCH`` scaled); None also when the solve
    fails."""
    from scipy.optimize import linprog

    o, scale = _frame(P, Q)
    Ps, Qs = (P - o) / scale, (Q - o) / scale
    nP, nQ, d = len(P), len(Q), P.shape[1]
    A = np.zeros((d + 2, nP + nQ + 2 * d))
    A[:d, :nP] = Ps.T
    A[:d, nP : nP + nQ] = -Qs.T
    A[:d, nP + nQ : nP + nQ + d] = np.eye(d)
    A[:d, nP + nQ + d :] = -np.eye(d)
    A[d, :nP] = 1.0
    A[d + 1, nP : nP + nQ] = 1.0
    cost = np.r_[np.zeros(nP + nQ), np.ones(2 * d)]
    res = linprog(
        cost,
        A_eq=A,
        b_eq=np.r_[np.zeros(d), 1.0, 1.0],
        bounds=(0, None),
        method="highs-ipm",
        options={"maxiter": HULL_GAP_MAXITER},
    )
    if res.status != _OPTIMAL or res.fun is None or res.x is None:
        return None
    x = np.asarray(res.x)
    a, b, duals = x[:nP], x[nP : nP + nQ], res.eqlin.marginals[:d]
    return _outcome(P, Q, o, scale, a, b, res.fun, duals, TOUCH if touch is None else touch / scale)


def lp_direct(
    P: np.ndarray, Q: np.ndarray, stats: LPStats | None = None, touch: float | None = None
) -> tuple[bool, tuple[np.ndarray, float] | None]:
    """One solve of the margin LP on all points (what a straightforward implementation does);
    an "infeasible" is checked for a common point within ``touch`` (see ``separate``)."""
    stats = stats if stats is not None else LPStats()
    stats.calls += 1
    P, Q = np.asarray(P, dtype=np.float64), np.asarray(Q, dtype=np.float64)
    return _lp_direct(P, Q, stats, touch)


def _lp_direct(
    P: np.ndarray, Q: np.ndarray, stats: LPStats, touch: float | None = None
) -> tuple[bool, tuple[np.ndarray, float] | None]:
    """One HiGHS solve of the separability LP (with retries on numerical difficulties)."""
    from scipy.optimize import linprog

    d = P.shape[1]
    origin = P[0].copy()
    stacked = np.concatenate([P, Q]) - origin
    n = len(stacked)
    basis = None
    if 2 * n < d:  # the span is much smaller: solve there
        basis, _ = np.linalg.qr(stacked[1:].T)
        coords = stacked @ basis
    else:
        coords = stacked
    scale = float(np.abs(coords).max()) or 1.0
    # dual simplex first at every size: the interior-point method can call thin-margin pairs
    # infeasible (its tolerances are looser than the margin) where a verified plane separates
    first, second = "highs-ds", "highs-ipm"
    attempts = [(first, 1.0), (second, 1.0), (first, scale), (second, scale)]
    for k, (method, s) in enumerate(attempts):
        if k:
            stats.retries += 1
        A = coords / s
        r = A.shape[1]
        nP = len(P)
        # variables [w (r), b]; rows: -(P w + b) <= -1 ; (Q w + b) <= -1
        A_ub = np.empty((n, r + 1))
        A_ub[:nP, :r] = -A[:nP]
        A_ub[:nP, r] = -1.0
        A_ub[nP:, :r] = A[nP:]
        A_ub[nP:, r] = 1.0
        res = linprog(
            np.zeros(r + 1),
            A_ub=A_ub,
            b_ub=-np.ones(n),
            bounds=[(None, None)] * (r + 1),
            method=method,
        )
        if res.status == _INFEASIBLE:  # an overlap only with a verified common point
            met, plane = _verify_overlap(P, Q, touch)
            if met:
                return False, None
            if plane is not None:
                return True, plane
        if res.status == _OPTIMAL and res.x is not None:
            w_local = res.x[:r] / s
            b_local = float(res.x[r])
            w = basis @ w_local if basis is not None else w_local
            b = b_local - float(origin @ w)
            if separates(w, b, P, Q):
                return True, (w, b)
            # "optimal" but the plane does not strictly separate in float64: treat as undecided
        # status 4 (numerical difficulties), 1 (iteration limit) or unverifiable: try again
    stats.unresolved += 1
    warnings.warn(
        f"HiGHS could not decide separability of sets of {len(P)} and {len(Q)} points after "
        f"{len(attempts)} attempts; counted as overlapping",
        RuntimeWarning,
        stacklevel=3,
    )
    return False, None


def _verify_overlap(
    P: np.ndarray, Q: np.ndarray, touch: float | None = None
) -> tuple[bool, tuple[np.ndarray, float] | None]:
    """Check a margin LP's "infeasible" with the hull-gap LP on all points (simplex, then the
    interior-point method when that stalls): (True, None) when its weights give a common point
    of the two hulls (``_outcome``'s float64 check, as in the merger), (False, plane) when its
    plane strictly separates, (False, None) when neither is verified."""
    model = HullGapLP(P, Q)
    if touch is not None:
        model.use_touch(touch)
    gP, gQ = np.arange(len(P)), np.arange(len(Q))
    model.add(P, gP, Q, gQ)
    gap = model.solve(P, gP, Q, gQ)
    if gap is None:
        gap = _hull_gap(P, Q, touch)
    if gap is None:
        return False, None
    if gap.plane is None:
        return True, None
    w, b = gap.plane
    return False, ((w, b) if separates(w, b, P, Q) else None)


def _tight_settings():
    """Clarabel settings for the hull-distance QPs: quiet, tight tolerances."""
    import clarabel

    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = 1e-12
    settings.tol_gap_rel = 1e-12
    settings.tol_feas = 1e-12
    settings.max_iter = 400
    return settings


def _min_norm_qp(P: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min ||P^T a - Q^T b|| over simplex weights a, b (Clarabel interior point)."""
    import clarabel
    from scipy import sparse

    n1, d = P.shape
    n2 = Q.shape[0]
    nv = d + n1 + n2
    Pm = sparse.diags(np.r_[np.full(d, 2.0), np.zeros(n1 + n2)]).tocsc()
    q = np.zeros(nv)
    eq = sparse.hstack(
        [sparse.eye(d), sparse.csc_matrix(-P.T), sparse.csc_matrix(Q.T)], format="csc"
    )
    simplex = sparse.csc_matrix(
        np.r_[
            np.r_[np.zeros(d), np.ones(n1), np.zeros(n2)][None, :],
            np.r_[np.zeros(d + n1), np.ones(n2)][None, :],
        ]
    )
    nonneg = sparse.hstack([sparse.csc_matrix((n1 + n2, d)), -sparse.eye(n1 + n2)], format="csc")
    A = sparse.vstack([eq, simplex, nonneg], format="csc")
    b = np.r_[np.zeros(d), 1.0, 1.0, np.zeros(n1 + n2)]
    cones = [clarabel.ZeroConeT(d + 2), clarabel.NonnegativeConeT(n1 + n2)]
    settings = _tight_settings()
    sol = clarabel.DefaultSolver(Pm, q, A, b, cones, settings).solve()
    z = np.asarray(sol.x[:d])
    a = np.clip(np.asarray(sol.x[d : d + n1]), 0, None)
    bb = np.clip(np.asarray(sol.x[d + n1 :]), 0, None)
    if a.sum() <= 0 or bb.sum() <= 0:  # pragma: no cover - solver failure
        raise RuntimeError(f"Clarabel failed on a hull-distance QP ({sol.status}); z={z[:3]}")
    return a / a.sum(), bb / bb.sum()


def hull_distance(
    P: np.ndarray,
    Q: np.ndarray,
    start: int = 24,
    above: float = np.inf,
    p_stats: tuple[np.ndarray, float] | None = None,
) -> float:
    """Euclidean distance between the convex hulls of P and Q (0 when they intersect).

    Working-set method: solve the min-norm QP on a few points of each set, then check the
    optimality condition on all points (every p has p·z >= p*·z, every q has q·z <= q*·z for
    z = p* - q*); add the violators and solve again until none is left. The answer is the full
    QP's (to solver tolerance). The working-set QPs are solved by ``_active_set_weights``,
    each from the last one's weights (Clarabel when that fails).

    ``above``: a caller that only needs distances up to this value gets, as soon as the plane
    through the current solution shows the distance exceeds it, that lower bound instead (a
    number above ``above``). ``p_stats``: P's mean and largest absolute coordinate, when the
    caller keeps them (many points against one set)."""
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if len(P) == 1 and len(Q) == 1:
        return float(np.linalg.norm(P[0] - Q[0]))
    p_mean, p_abs = p_stats if p_stats is not None else (P.mean(axis=0), float(np.abs(P).max()))
    scale = max(p_abs, float(np.abs(Q).max()), 1.0)
    w = p_mean - Q.mean(axis=0)
    iP = np.argsort(P @ w, kind="stable")[:start]
    iQ = np.argsort(-(Q @ w), kind="stable")[:start]
    shift = P[iP[0]]  # a common shift leaves p - q unchanged and conditions the Gram matrix
    iP, iQ = np.sort(iP), np.sort(iQ)
    lam: np.ndarray | None = None
    G: np.ndarray | None = None  # the working set's Gram matrix (rows p - shift, shift - q)
    for _ in range(200):
        a, b, lam, G = _working_set_weights(P[iP], Q[iQ], shift, lam, G)
        p_star, q_star = a @ P[iP], b @ Q[iQ]
        z = p_star - q_star
        dist = float(np.linalg.norm(z))
        if dist <= 1e-7 * scale:
            # hulls with points within TOUCH meet, as the separability LPs certify it (the
            # same float64 check on the QP's own weights spares the LP); else the LP decides
            o, sc = _frame(P, Q)
            if _meet((P[iP] - o) / sc, (Q[iQ] - o) / sc, a, b):
                return 0.0
            return 0.0 if not lp_separable(P, Q)[0] else _full(P, Q)
        tol = 1e-9 * dist * scale
        pz, qz = P @ z, Q @ z
        if above < np.inf:  # the plane normal to z: every hull point pair is this far apart
            bound = (float(pz.min()) - float(qz.max())) / dist
            if bound > above:
                return bound
        vp = pz - p_star @ z  # < 0: p lies beyond the current supporting plane
        vq = q_star @ z - qz
        addP = np.setdiff1d(np.flatnonzero(vp < -tol), iP)
        addQ = np.setdiff1d(np.flatnonzero(vq < -tol), iQ)
        if not len(addP) and not len(addQ):
            return dist
        nP = np.union1d(iP, addP[np.argsort(vp[addP], kind="stable")][:start])
        nQ = np.union1d(iQ, addQ[np.argsort(vq[addQ], kind="stable")][:start])
        grown = np.zeros(len(nP) + len(nQ))  # the last weights, on the grown working set
        old = np.r_[np.searchsorted(nP, iP), len(nP) + np.searchsorted(nQ, iQ)]
        grown[old] = lam
        G = _grown_gram(G, old, np.concatenate([P[nP] - shift, shift - Q[nQ]]))
        iP, iQ, lam = nP, nQ, grown
    return _full(P, Q)  # pragma: no cover - did not converge: solve the whole QP


class _Stalled(Exception):
    """The active-set method did not finish (rounding): the interior-point QP takes over."""


def _grown_gram(G: np.ndarray | None, old: np.ndarray, A: np.ndarray) -> np.ndarray | None:
    """The Gram matrix of the rows of A from G, that of the rows at positions ``old``: only
    the new rows' products are computed."""
    if G is None:
        return None
    m = len(A)
    new = np.setdiff1d(np.arange(m), old)
    out = np.empty((m, m))
    out[old[:, None], old] = G
    C = A[new] @ A.T
    out[new, :] = C
    out[:, new] = C.T
    return out


def _working_set_weights(
    P: np.ndarray,
    Q: np.ndarray,
    shift: np.ndarray,
    lam: np.ndarray | None,
    G: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Min-norm weights a, b of the working sets P and Q (``_active_set_weights`` from the
    weights ``lam``, Clarabel's ``_min_norm_weights`` when it stalls), the weights as one
    vector (P's, then Q's) for the next working set's start, and the Gram matrix of the rows
    p - shift, shift - q (``G`` when given)."""
    if G is None:
        A = np.concatenate([P - shift, shift - Q])
        G = A @ A.T
    try:
        x = _active_set_weights(G, len(P), lam)
    except _Stalled:
        a, b = _min_norm_weights(P, Q)
        return a, b, np.r_[a, b], G
    a, b = x[: len(P)], x[len(P) :]
    return a / a.sum(), b / b.sum(), x, G


ACTIVE_SET_TOL = 1e-12  # KKT tolerance of the active-set QP, relative to |z| and the radius
ACTIVE_SET_ADD = 8  # violators freed per major step (the most violating ones)


def _active_set_weights(G: np.ndarray, n1: int, lam: np.ndarray | None = None) -> np.ndarray:
    """min x'Gx over x >= 0 with x[:n1] and x[n1:] each summing to one (G: the Gram matrix of
    the rows p - s and s - q; x'Gx = |p* - q*|^2): a primal active-set method (Wolfe's
    minimum-norm-point algorithm on the two simplices). Each major step adds the point that
    violates the optimality condition most; each minor step solves the equality-constrained
    problem on the free points (a small KKT system) and, when a weight would turn negative,
    stops on the boundary and frees that point. From ``lam`` (feasible weights, e.g. the
    optimum of a smaller working set) or the closest pair. Exact up to rounding; raises
    ``_Stalled`` when it does not finish.

    Written here rather than calling Clarabel because the working-set QPs are small, dense and
    many (thousands per DirectProbe report), and warm-started from the previous working set's
    optimum they need a few steps each: an interior-point solve of every one from scratch (and
    building its sparse matrices) was most of the report's time."""
    m = len(G)
    diag = np.diag(G)
    if lam is None:
        D2 = diag[:n1, None] + diag[None, n1:] + 2.0 * G[:n1, n1:]  # |p - q|^2
        i, j = np.unravel_index(int(np.argmin(D2)), D2.shape)
        lam = np.zeros(m)
        lam[i] = lam[n1 + j] = 1.0
    lam = lam.copy()
    free = lam > 0.0
    # the KKT matrix of every free set is a submatrix of G bordered by the two simplex rows
    Gb = np.zeros((m + 2, m + 2))
    Gb[:m, :m] = G
    Gb[m, :n1] = Gb[:n1, m] = 1.0
    Gb[m + 1, n1:m] = Gb[n1:m, m + 1] = 1.0
    border = np.array([m, m + 1])
    radius = float(np.sqrt(max(float(diag.max()), 1e-300)))
    for _ in range(4 * m + 50):
        g = G @ lam  # the gradient (half): row_i · z
        viol = g.copy()
        viol[:n1] -= lam[:n1] @ g[:n1]
        viol[n1:] -= lam[n1:] @ g[n1:]
        viol[free] = np.inf
        z = float(np.sqrt(max(float(lam @ g), 0.0)))
        enter = np.flatnonzero(viol < -ACTIVE_SET_TOL * radius * max(z, 1e-300))
        if not len(enter):
            return lam
        enter = enter[np.argsort(viol[enter], kind="stable")[:ACTIVE_SET_ADD]]
        free[enter] = True
        for _minor in range(2 * m + 2):
            F = np.flatnonzero(free)
            nf = len(F)
            at = np.concatenate([F, border])
            K = Gb[at[:, None], at]
            rhs = np.zeros(nf + 2)
            rhs[nf:] = 1.0
            try:
                new = np.linalg.solve(K, rhs)[:nf]
            except np.linalg.LinAlgError:
                if len(enter) < 2:  # (one point that improves keeps the system regular)
                    raise _Stalled from None
                free[enter[1:]] = False  # e.g. duplicate points entered together
                enter = enter[:1]
                continue
            if not np.isfinite(new).all():
                raise _Stalled
            if (new > 0.0).all():
                lam[F] = new
                break
            old = lam[F]
            neg = new <= 0.0
            idle = neg & (old <= 0.0)  # freed with the others but not wanted with them
            if idle.any() and not idle.all():
                free[F[idle]] = False
                continue
            ratios = old[neg] / (old[neg] - new[neg])
            theta = float(ratios.min())
            step = old + theta * (new - old)
            step[np.flatnonzero(neg)[int(np.argmin(ratios))]] = 0.0
            step = np.clip(step, 0.0, None)
            lam[F] = step
            free[F[step <= 0.0]] = False
        else:
            raise _Stalled
    raise _Stalled


def _min_norm_weights(P: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same QP in the weights only (Hessian = Gram matrix of the working set): small and
    dense, no ambient-dimension variables. (Its matrices are built as CSC arrays directly,
    entry for entry what scipy.sparse's dense conversion and stacking gave: those cost three
    times the solve on these small QPs.)"""
    import clarabel
    from scipy import sparse

    n1, n2 = len(P), len(Q)
    m = n1 + n2
    c = P[0]  # a common shift leaves p - q unchanged and conditions the Gram matrix
    A = np.concatenate([P - c, c - Q])
    G = A @ A.T
    # the upper triangle of 2G, column by column, without its zeros
    T = np.triu(2.0 * G).T  # row j: column j of the upper triangle
    cj, ri = np.nonzero(T)
    Pm = sparse.csc_matrix(
        (T[cj, ri], ri.astype(np.int32), np.r_[0, np.cumsum(np.bincount(cj, minlength=m))]),
        shape=(m, m),
    )
    # rows: the two simplex sums, then -I (the nonnegative cone)
    ind = np.empty((m, 2), dtype=np.int32)
    ind[:, 0] = np.r_[np.zeros(n1, np.int32), np.ones(n2, np.int32)]
    ind[:, 1] = np.arange(2, m + 2, dtype=np.int32)
    val = np.empty((m, 2))
    val[:, 0], val[:, 1] = 1.0, -1.0
    Am = sparse.csc_matrix(
        (val.ravel(), ind.ravel(), np.arange(0, 2 * m + 1, 2, dtype=np.int32)), shape=(m + 2, m)
    )
    b = np.r_[1.0, 1.0, np.zeros(m)]
    cones = [clarabel.ZeroConeT(2), clarabel.NonnegativeConeT(m)]
    sol = clarabel.DefaultSolver(Pm, np.zeros(m), Am, b, cones, _tight_settings()).solve()
    x = np.clip(np.asarray(sol.x), 0.0, None)
    a, bb = x[:n1], x[n1:]
    if a.sum() <= 0 or bb.sum() <= 0:  # pragma: no cover - solver failure
        raise RuntimeError(f"Clarabel failed on a hull-distance QP ({sol.status})")
    return a / a.sum(), bb / bb.sum()


def _full(P: np.ndarray, Q: np.ndarray) -> float:
    P2, Q2 = affine_coords(P, Q)
    a, b = _min_norm_qp(P2, Q2)
    return float(np.linalg.norm(a @ P2 - b @ Q2))


def point_hull_distance(P: np.ndarray, x: np.ndarray) -> float:
    """Distance from point x to the convex hull of P (0 inside)."""
    return hull_distance(P, np.asarray(x, dtype=np.float64).reshape(1, -1))
