"""DirectProbe clustering, exact and fast by doing less.

The result is the reference algorithm's: start with one cluster per point; repeatedly take the
same-label pair with the closest centroids (ties: smaller ``(key_a, key_b)``, a cluster's key
being its smallest point index) and merge it unless the merged hull would meet the hull of a
cluster of another label. A rejected pair is never merged later (its union stays overlapping).

What is avoided, all without changing the answer:
- label pairs whose whole point sets are separable never interact: their checks are skipped, and
  labels separable from every other label end as one cluster without any merging LP
  (labelpairs.py);
- a candidate is only checked against clusters not separated from it along a direction kept
  for the label pair, and whose bounding sphere meets its own;
- a hyperplane found earlier between a part of the candidate and a cluster, or the centroid
  hyperplane, certifies separation before any LP; large LPs run on a growing working set;
- rejected pairs are inherited by merged clusters (their union would contain the overlap);
- points duplicated under another label can never merge and are frozen up front.
Every decision is a float64 certificate, under one gray-zone rule (``geometry.run_touch``): two
hulls whose L1 distance is at most ``touch`` = 1e-7 times the run's scale (the largest
deviation of a coordinate from its mean) meet. An overlap is a common point of the two hulls
within ``touch``; a separation is a plane whose gap (slab width over the max-norm of its
normal, a lower bound of that distance) exceeds ``touch``. A plane that separates by less does
not decide: the widest slab over all points (the hull-gap LP) does, and when even that is
within ``touch`` the pair overlaps (counted as ``gray_zone``). So no engine, certificate or
order can flip a decision, and the result records (a lower bound of) the smallest gap a
separation relied on.
The global closest-pair order is kept with one nearest-neighbour entry per cluster in a heap,
rescanned lazily (merger.py): memory stays linear in the number of points.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .geometry import TOUCH, GrayZone, LPStats, canonical_dist, centroid_radius, run_touch
from .labelpairs import label_conflicts
from .merger import Merger

__all__ = ["ClusterResult", "canonical_dist", "centroid_radius", "directprobe_clusters"]


@dataclass
class ClusterResult:
    """Clusters numbered by their smallest point index; counters of the work done."""

    assign: np.ndarray  # (n,) cluster id per point
    cluster_labels: np.ndarray  # (k,) label index per cluster
    lp_calls: int = 0
    lp_retries: int = 0
    lp_unresolved: int = 0
    lp_avoided: dict[str, int] = field(default_factory=dict)
    lp_engine: dict[str, int] = field(default_factory=dict)  # pivots, fallbacks, shadow solves
    merges: int = 0
    rejected: int = 0
    seconds: float = 0.0
    separable_label_pairs: int = 0
    label_pairs_checked: int = 0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    # the gray-zone rule (see the module docstring), in units of the run's scale: its
    # threshold (TOUCH), a lower bound of the smallest certified gap of a separation (the
    # label-pair directions report the first value past the clusters they keep), overlaps
    # it decided
    touch: float = TOUCH
    smallest_gap: float = float("inf")
    gray_zone: int = 0

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_labels)

    def members(self) -> list[np.ndarray]:
        order = np.argsort(self.assign, kind="stable")
        bounds = np.searchsorted(self.assign[order], np.arange(self.n_clusters + 1))
        return [order[bounds[i] : bounds[i + 1]] for i in range(self.n_clusters)]


def frozen_points(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of points whose exact vector also occurs under another label. Equal rows have
    equal projections on any fixed direction, so only rows sharing a projection with another
    row of another label are compared byte for byte."""
    X = np.ascontiguousarray(X)
    frozen = np.zeros(len(X), dtype=bool)
    if not len(X):
        return frozen
    h = X @ np.random.default_rng(0).normal(size=X.shape[1])
    order = np.argsort(h, kind="stable")
    hs, ys = h[order], y[order]
    # runs of equal projections that hold more than one label
    start = np.r_[True, hs[1:] != hs[:-1]]
    run, heads = np.cumsum(start) - 1, np.flatnonzero(start)
    lo, hi = np.minimum.reduceat(ys, heads), np.maximum.reduceat(ys, heads)
    mixed = order[(lo != hi)[run]]
    if not len(mixed):
        return frozen
    rows = X[mixed].view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()
    _, inv = np.unique(rows, return_inverse=True)
    inv = inv.ravel()
    pairs = np.unique(np.stack([inv, y[mixed]]), axis=1)
    counts = np.bincount(pairs[0], minlength=inv.max() + 1)
    frozen[mixed] = counts[inv] > 1
    return frozen


def directprobe_clusters(
    X: np.ndarray,
    y: np.ndarray,
    *,
    label_lp_limit: int = 1500,
    show_progress: bool = True,
    lp_engine: str | None = None,
) -> ClusterResult:
    """Cluster the points (float64 geometry) the DirectProbe way; see the module docstring.
    ``lp_engine``: the hull-gap LPs' engine (dense, highs or shadow; default
    ``geometry.default_engine()``)."""
    from ftprobe import progress as prog

    t0 = time.perf_counter()
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n = len(X)
    stats = LPStats()
    avoided: Counter[str] = Counter()
    labels = sorted(int(a) for a in np.unique(y))
    frozen = frozen_points(X, y)
    pairs_checked = len(labels) * (len(labels) - 1) // 2
    phases: dict[str, float] = {}
    gray = GrayZone(run_touch(X))
    with prog.bar("DirectProbe label pairs", total=pairs_checked) as p:
        conflicts, dirs = label_conflicts(
            X,
            y,
            labels,
            frozen,
            stats,
            avoided,
            label_lp_limit,
            p if show_progress else None,
            lp_engine,
            gray,
        )
    phases["label_pairs"] = time.perf_counter() - t0
    graph: dict[int, list[int]] = {a: [] for a in labels}
    for a, b in sorted(conflicts):
        graph[a].append(b)
        graph[b].append(a)
    # a label without conflicts merges to one cluster (all its subsets are separable from
    # everything else)
    assign = np.full(n, -1, dtype=np.int64)
    involved = np.isin(y, [a for a in labels if graph[a]])
    for a in labels:
        if not graph[a]:
            assign[y == a] = np.flatnonzero(y == a)[0]
    merges = rejected = 0
    pts = np.flatnonzero(involved)
    if len(pts):
        merger = Merger(X, y, pts, frozen, graph, dirs, stats, avoided, lp_engine, gray)
        with prog.bar("DirectProbe nearest neighbours", total=len(pts)) as p:
            merger.init_nn(p if show_progress else None, p.task_ids[0])
        phases["nearest_neighbours"] = time.perf_counter() - t0 - sum(phases.values())
        with prog.bar("DirectProbe merging", total=len(pts)) as p:
            merger.run(p if show_progress else None, p.task_ids[0])
        phases["merging"] = time.perf_counter() - t0 - sum(phases.values())
        for s in np.flatnonzero(merger.active):
            assign[merger.members[s]] = merger.key[s]
        merges, rejected = merger.merges, merger.rejected
    for a in labels:
        if not graph[a]:
            merges += int((y == a).sum()) - 1
    # of which (summed over the LP worker threads): inside HiGHS's kept models
    phases["lp_simplex_runs"] = stats.lp_run_s
    phases["lp_read_back"] = stats.lp_read_back_s
    phases["lp_basis"] = stats.lp_basis_s
    phases["lp_cpu"] = stats.lp_cpu_s  # the same calls' CPU seconds (thread time)
    phases["lp_cold_start_cpu"] = stats.lp_cold_cpu_s  # of which: dense engine's first bases
    keys, assign = np.unique(assign, return_inverse=True)
    return ClusterResult(
        assign=assign.astype(np.int64),
        cluster_labels=y[keys],
        lp_calls=stats.calls,
        lp_retries=stats.retries,
        lp_unresolved=stats.unresolved,
        lp_avoided=dict(sorted(avoided.items())),
        lp_engine={
            "pivots": stats.engine_pivots,
            "fallbacks": stats.engine_fallbacks,
            "shadow_solves": stats.shadow_solves,
        },
        merges=merges,
        rejected=rejected,
        seconds=time.perf_counter() - t0,
        separable_label_pairs=pairs_checked - len(conflicts),
        label_pairs_checked=pairs_checked,
        phase_seconds={k: round(v, 3) for k, v in phases.items()},
        touch=TOUCH,
        smallest_gap=gray.smallest / (gray.touch / TOUCH) if gray.touch > 0 else float("inf"),
        gray_zone=stats.gray_zone,
    )
