"""Which labels interact: label pairs whose whole point sets are linearly separable never need a
merge check between their clusters. For the pairs that do interact, a few good directions
(centroid, LDA) are kept: a cluster pair on the right sides of one of them is separated."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from .geometry import GrayZone, LPStats, centroid_radius, lsq_plane, plane_gap, separate, slab

SCATTER_CACHE_BYTES = 256 << 20  # keep per-label scatter matrices below this size
LSQ_MAX_OVERLAP = 64  # the least-squares refits are only tried when LDA nearly separates
DIRECTIONS_PER_PAIR = 2  # directions kept per interacting label pair (the best by overlap)


def _overlap_count(P: np.ndarray, Q: np.ndarray, w: np.ndarray, gray: GrayZone) -> int:
    """Points of P and Q inside the other's projected range along w (0: w separates by a
    gap the gray-zone rule accepts)."""
    p, q = P @ w, Q @ w
    lo, hi = float(p.min()), float(q.max())
    if lo > hi:
        return 0 if gray.wide(plane_gap(lo, hi, w)) else 1
    return int((p <= hi).sum() + (q >= lo).sum())


def _pair_lda(S: np.ndarray, diff: np.ndarray, reg: float) -> np.ndarray:
    """The two-set LDA direction with the scatter regularised by ``reg`` times its mean
    eigenvalue (Cholesky; the regularised scatter is symmetric positive definite)."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    t = np.trace(S) / len(S) + 1e-12
    A = S + reg * t * np.eye(len(S))
    try:
        return cho_solve(cho_factor(A, check_finite=False), diff)
    except LinAlgError:
        return np.linalg.solve(A, diff)


def label_conflicts(
    X: np.ndarray,
    y: np.ndarray,
    labels: list[int],
    frozen: np.ndarray,
    stats: LPStats,
    avoided: Counter[str],
    lp_limit: int,
    progress=None,
    lp_engine: str | None = None,
    gray: GrayZone | None = None,
) -> tuple[set[tuple[int, int]], dict[tuple[int, int], np.ndarray]]:
    """Label pairs (a < b) whose point sets are not (known to be) linearly separable, and for
    each such pair ``DIRECTIONS_PER_PAIR`` unit-free directions (rows) with label a on the high
    side, the best first. ``lp_engine``: the hull-gap LPs' engine (see ``separate``);
    ``gray``: the run's gray-zone rule (default: that of X)."""
    from .geometry import run_touch

    gray = gray if gray is not None else GrayZone(run_touch(X))
    idx = {a: np.flatnonzero(y == a) for a in labels}
    spheres = {a: centroid_radius(X[idx[a]]) for a in labels}
    frozen_labels: dict[int, set[bytes]] = {}
    for a in labels:
        fa = idx[a][frozen[idx[a]]]
        frozen_labels[a] = {X[i].tobytes() for i in fa}
    d = X.shape[1]
    scatter = np.zeros((d, d))
    keep = len(labels) * d * d * 8 <= SCATTER_CACHE_BYTES
    own: dict[int, np.ndarray] = {}
    for a in labels:
        Z = X[idx[a]] - spheres[a][0]
        S_a = Z.T @ Z
        scatter += S_a
        if keep:
            own[a] = S_a
    scatter += (1e-6 * np.trace(scatter) / d + 1e-12) * np.eye(d)
    inv = np.linalg.inv(scatter)
    conflicts: set[tuple[int, int]] = set()
    dirs: dict[tuple[int, int], np.ndarray] = {}
    tid = progress.task_ids[0] if progress is not None else None
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            if progress is not None:
                progress.advance(tid)
            (ca, ra), (cb, rb) = spheres[a], spheres[b]
            if gray.wide(float(np.linalg.norm(ca - cb)) - ra - rb):  # (an L1 gap bound too)
                avoided["label_sphere"] += 1
                continue
            P, Q = X[idx[a]], X[idx[b]]
            shared = bool(frozen_labels[a] & frozen_labels[b])
            diff = ca - cb
            S = own[a] + own[b] if keep else None
            tried: list[tuple[int, np.ndarray]] = []
            certified = None
            for name, w in _directions(
                diff, inv, lambda P=P, Q=Q, S=S, ca=ca, cb=cb: _scatter(S, P, Q, ca, cb)
            ):
                count = _overlap_count(P, Q, w, gray)
                tried.append((count, w))
                if count == 0 and not shared:
                    certified = name
                    break
            if certified is not None:
                avoided[certified] += 1
                continue
            best = min(count for count, _ in tried)
            if not shared and best <= LSQ_MAX_OVERLAP and _lsq_wide(P, Q, gray):
                avoided["label_least_squares_certificate"] += 1
                continue
            too_big = len(P) + len(Q) > lp_limit
            if shared or too_big or not _lp_wide(P, Q, stats, lp_engine, gray):
                conflicts.add((a, b))  # too big to test counts as interacting (still exact)
                tried.sort(key=lambda cw: cw[0])
                dirs[(a, b)] = np.stack([w for _, w in tried[:DIRECTIONS_PER_PAIR]])
    return conflicts, dirs


def _lsq_wide(P: np.ndarray, Q: np.ndarray, gray: GrayZone) -> bool:
    """A least-squares plane that separates by a gap the gray-zone rule accepts."""
    plane = lsq_plane(P, Q)
    return plane is not None and gray.wide(plane_gap(*slab(plane[0], P, Q), plane[0]))


def _lp_wide(
    P: np.ndarray, Q: np.ndarray, stats: LPStats, engine: str | None, gray: GrayZone
) -> bool:
    """The exact test under the gray-zone rule (its gap kept when it separates)."""
    res = separate(P, Q, stats, engine=engine, touch=gray.touch)
    return res.ok and gray.wide(plane_gap(res.lo, res.hi, res.plane[0]))  # type: ignore[index]


def _directions(diff: np.ndarray, inv: np.ndarray, scatter) -> Iterator[tuple[str, np.ndarray]]:
    """Candidate directions from cheap to dear: centroid difference, shared-scatter LDA, the
    pair's own LDA at three regularisations (``scatter()`` is called once, when needed)."""
    yield "label_centroid_certificate", diff
    yield "label_lda_certificate", inv @ diff
    S = scatter()
    for reg in (1e-8, 1e-5, 1e-2):
        yield "label_pair_lda_certificate", _pair_lda(S, diff, reg)


def _scatter(
    S: np.ndarray | None, P: np.ndarray, Q: np.ndarray, cp: np.ndarray, cq: np.ndarray
) -> np.ndarray:
    if S is not None:
        return S
    Zp, Zq = P - cp, Q - cq
    return Zp.T @ Zp + Zq.T @ Zq
