"""DirectProbe clustering, exact and fast by doing less.

The result is the reference algorithm's: start with one cluster per point; repeatedly take the
same-label pair with the closest centroids (ties: smaller ``(key_a, key_b)``, a cluster's key
being its smallest point index) and merge it unless the merged hull would meet the hull of a
cluster of another label. A rejected pair is never merged later (its union stays overlapping).

What is avoided, all without changing the answer:
- label pairs whose whole point sets are separable never interact: their checks are skipped, and
  labels separable from every other label end as one cluster without any merging LP;
- a candidate is only checked against clusters whose bounding sphere meets its own;
- a hyperplane found earlier between a part of the candidate and a cluster, or the centroid
  hyperplane, certifies separation before any LP;
- rejected pairs are inherited by merged clusters (their union would contain the overlap);
- points duplicated under another label can never merge and are frozen up front.
The global closest-pair order is kept with one nearest-neighbour entry per cluster in a heap
(no O(n^2) pair list).
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .geometry import LPStats, centroid_hyperplane, lp_separable, separates


def canonical_dist(C: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Centroid distances as both implementations compute them (deterministic per pair)."""
    return np.sqrt(((C - c) ** 2).sum(axis=1))


def centroid_radius(Xm: np.ndarray) -> tuple[np.ndarray, float]:
    """Canonical centroid (mean of the rows in point order) and bounding radius."""
    c = Xm.mean(axis=0)
    return c, float(np.sqrt(((Xm - c) ** 2).sum(axis=1).max()))


@dataclass
class ClusterResult:
    """Clusters numbered by their smallest point index; counters of the work done."""

    assign: np.ndarray  # (n,) cluster id per point
    cluster_labels: np.ndarray  # (k,) label index per cluster
    lp_calls: int = 0
    lp_retries: int = 0
    lp_unresolved: int = 0
    lp_avoided: dict[str, int] = field(default_factory=dict)
    merges: int = 0
    rejected: int = 0
    seconds: float = 0.0
    separable_label_pairs: int = 0
    label_pairs_checked: int = 0

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_labels)

    def members(self) -> list[np.ndarray]:
        order = np.argsort(self.assign, kind="stable")
        bounds = np.searchsorted(self.assign[order], np.arange(self.n_clusters + 1))
        return [order[bounds[i] : bounds[i + 1]] for i in range(self.n_clusters)]


def frozen_points(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of points whose exact vector also occurs under another label."""
    rows = np.ascontiguousarray(X).view(np.dtype((np.void, X.dtype.itemsize * X.shape[1])))
    _, inv = np.unique(rows.ravel(), return_inverse=True)
    inv = inv.ravel()
    pairs = np.unique(np.stack([inv, y]), axis=1)
    counts = np.bincount(pairs[0], minlength=inv.max() + 1)
    return counts[inv] > 1


SCATTER_CACHE_BYTES = 256 << 20  # keep per-label scatter matrices below this size


def _pair_lda_separates(
    P: np.ndarray, Q: np.ndarray, cp: np.ndarray, cq: np.ndarray, S: np.ndarray | None = None
) -> bool:
    """Whether the two-set LDA direction (own scatter ``S``, a few regularisations) separates
    P and Q. ``S`` (the summed within-set scatter) is computed when not given."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    if S is None:
        Zp, Zq = P - cp, Q - cq
        S = Zp.T @ Zp + Zq.T @ Zq
    t = np.trace(S) / len(S) + 1e-12
    eye = np.eye(len(S))
    for reg in (1e-8, 1e-5, 1e-2):
        try:  # the regularised scatter is symmetric positive definite: Cholesky
            w = cho_solve(cho_factor(S + reg * t * eye, check_finite=False), cp - cq)
        except LinAlgError:
            w = np.linalg.solve(S + reg * t * eye, cp - cq)
        if float((P @ w).min()) > float((Q @ w).max()):
            return True
    return False


def label_conflicts(
    X: np.ndarray,
    y: np.ndarray,
    labels: list[int],
    frozen: np.ndarray,
    stats: LPStats,
    avoided: Counter[str],
    lp_limit: int,
) -> set[tuple[int, int]]:
    """Label pairs whose point sets are not (known to be) linearly separable."""
    idx = {a: np.flatnonzero(y == a) for a in labels}
    spheres = {a: centroid_radius(X[idx[a]]) for a in labels}
    frozen_labels: dict[int, set[bytes]] = {}
    for a in labels:
        fa = idx[a][frozen[idx[a]]]
        frozen_labels[a] = {X[i].tobytes() for i in fa}
    # LDA directions (shared within-label scatter, lightly regularised) as a second certificate
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
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            (ca, ra), (cb, rb) = spheres[a], spheres[b]
            if float(np.linalg.norm(ca - cb)) > ra + rb:
                avoided["label_sphere"] += 1
                continue
            if frozen_labels[a] & frozen_labels[b]:
                conflicts.add((a, b))
                continue
            P, Q = X[idx[a]], X[idx[b]]
            if centroid_hyperplane(P, Q) is not None:
                avoided["label_centroid_certificate"] += 1
                continue
            w = inv @ (spheres[a][0] - spheres[b][0])
            if float((P @ w).min()) > float((Q @ w).max()):
                avoided["label_lda_certificate"] += 1
                continue
            S = own[a] + own[b] if keep else None
            if _pair_lda_separates(P, Q, spheres[a][0], spheres[b][0], S):
                avoided["label_pair_lda_certificate"] += 1
                continue
            if len(P) + len(Q) > lp_limit:
                conflicts.add((a, b))  # too big to test: treated as interacting (still exact)
                continue
            if not lp_separable(P, Q, stats)[0]:
                conflicts.add((a, b))
    return conflicts


class _Merger:
    """The merging loop over one group of interacting labels."""

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        points: np.ndarray,
        frozen: np.ndarray,
        conflicts: dict[int, list[int]],
        stats: LPStats,
        avoided: Counter[str],
    ):
        self.X, self.stats, self.avoided = X, stats, avoided
        m = len(points)
        self.cent = X[points].copy()
        self.norm2 = (self.cent**2).sum(axis=1)
        self.rad = np.zeros(m)
        self.size = np.ones(m, dtype=np.int64)
        self.lab = y[points].copy()
        self.key = points.copy()
        self.active = np.ones(m, dtype=bool)
        self.frozen = frozen[points].copy()
        self.members: list[np.ndarray] = [points[i : i + 1] for i in range(m)]
        self.version = np.zeros(m, dtype=np.int64)  # bumped when the NN entry changes
        self.cver = np.zeros(m, dtype=np.int64)  # bumped when the content changes
        self.nn = np.full(m, -1, dtype=np.int64)
        self.nnd = np.full(m, np.inf)
        self.forb: dict[int, set[int]] = {}
        self.hyper: dict[tuple[int, int], tuple[int, int, np.ndarray, float]] = {}
        self.lslots = {int(a): np.flatnonzero(self.lab == a) for a in np.unique(self.lab)}
        self.conflicts = conflicts
        self.heap: list[tuple[float, int, int, int, int]] = []
        self.merges = self.rejected = 0

    # ------------------------------------------------------------ nearest neighbours
    def _same_label(self, s: int) -> np.ndarray:
        cand = self.lslots[int(self.lab[s])]
        cand = cand[self.active[cand] & ~self.frozen[cand]]
        return cand[cand != s]

    def _tol(self, s: int, cand: np.ndarray) -> float:
        return 1e-9 * (self.norm2[s] + float(self.norm2[cand].max())) + 1e-300

    def _rescan(self, s: int) -> None:
        self.version[s] += 1
        cand = self._same_label(s)
        forb = self.forb.get(s)
        if forb and len(cand):
            cand = cand[~np.isin(cand, np.fromiter(forb, dtype=np.int64))]
        if not len(cand):
            self.nn[s], self.nnd[s] = -1, np.inf
            return
        approx = self.norm2[cand] + self.norm2[s] - 2.0 * (self.cent[cand] @ self.cent[s])
        close = cand[approx <= approx.min() + self._tol(s, cand)]
        exact = canonical_dist(self.cent[close], self.cent[s])
        ks = self.key[s]
        kc = self.key[close]
        best = np.lexsort((np.maximum(kc, ks), np.minimum(kc, ks), exact))[0]
        p = int(close[best])
        self.nn[s], self.nnd[s] = p, float(exact[best])
        heapq.heappush(self.heap, self._entry(s, p, self.nnd[s]))

    def _entry(self, s: int, p: int, d: float) -> tuple[float, int, int, int, int]:
        a, b = sorted((int(self.key[s]), int(self.key[p])))
        return (d, a, b, s, int(self.version[s]))

    def _offer(self, s: int, others: np.ndarray) -> None:
        """Cluster s changed: update the NN of the same-label clusters that may now prefer it."""
        if not len(others):
            return
        approx = self.norm2[others] + self.norm2[s] - 2.0 * (self.cent[others] @ self.cent[s])
        tol = self._tol(s, others)
        near = others[approx <= self.nnd[others] ** 2 + tol]
        if not len(near):
            return
        exact = canonical_dist(self.cent[near], self.cent[s])
        forb_s = self.forb.get(s, set())
        for k, d in zip(near.tolist(), exact.tolist(), strict=True):
            if k in forb_s:
                continue
            cur = self._entry(k, int(self.nn[k]), self.nnd[k]) if self.nn[k] >= 0 else None
            new = self._entry(k, s, d)
            if cur is None or new[:3] < cur[:3]:
                self.version[k] += 1
                self.nn[k], self.nnd[k] = s, d
                heapq.heappush(self.heap, self._entry(k, s, d))

    # ------------------------------------------------------------------ overlap test
    def _overlaps(self, s: int, t: int) -> tuple[bool, dict[int, tuple[np.ndarray, float]]]:
        """Would the union of s and t meet another label's hull? Also returns the hyperplanes
        that separate the union from each checked cluster."""
        X = self.X
        labs = self.conflicts.get(int(self.lab[s]), [])
        found: dict[int, tuple[np.ndarray, float]] = {}
        if not labs:
            return False, found
        others = np.concatenate([self.lslots[b] for b in labs if b in self.lslots])
        others = others[self.active[others]]
        if not len(others):
            return False, found
        Mi = np.sort(np.concatenate([self.members[s], self.members[t]]))
        XM = X[Mi]
        cM, rM = centroid_radius(XM)
        dist = canonical_dist(self.cent[others], cM)
        keep = dist <= rM + self.rad[others] + 1e-12 * (1.0 + dist)
        self.avoided["sphere"] += int((~keep).sum())
        cand = others[keep][np.argsort(dist[keep], kind="stable")]
        for c in cand.tolist():
            XC = X[self.members[c]]
            hp = self._cached_plane(s, t, c)
            if hp is not None:
                self.avoided["hyperplane_cache"] += 1
                found[c] = hp
                continue
            hp = centroid_hyperplane(XM, XC)
            if hp is not None:
                self.avoided["centroid_certificate"] += 1
                found[c] = hp
                continue
            ok, hp = lp_separable(XM, XC, self.stats)
            if not ok:
                return True, found
            found[c] = hp  # type: ignore[assignment]
        return False, found

    def _cached_plane(self, s: int, t: int, c: int) -> tuple[np.ndarray, float] | None:
        X = self.X
        for a, other in ((s, t), (t, s)):
            rec = self.hyper.get((a, c))
            sign = 1.0
            if rec is None:
                rec = self.hyper.get((c, a))
                sign = -1.0
                if rec is not None:
                    rec = (rec[1], rec[0], rec[2], rec[3])
            if rec is None or rec[0] != self.cver[a] or rec[1] != self.cver[c]:
                continue
            w, b = sign * rec[2], sign * rec[3]
            if float((X[self.members[other]] @ w + b).min()) > 0.0:
                if separates(w, b, X[self.members[a]], X[self.members[c]]):
                    return w, b
        return None

    # ------------------------------------------------------------------------ loop
    def run(self, progress=None, tid=None) -> None:
        for s in range(len(self.key)):
            if not self.frozen[s]:
                self._rescan(s)
        step = 0
        while self.heap:
            d, _, _, s, ver = heapq.heappop(self.heap)
            if not self.active[s] or ver != self.version[s] or self.nn[s] < 0:
                continue
            t = int(self.nn[s])
            overlap, planes = self._overlaps(s, t)
            if overlap:
                self.rejected += 1
                self.forb.setdefault(s, set()).add(t)
                self.forb.setdefault(t, set()).add(s)
                self._rescan(s)
                self._rescan(t)
            else:
                self._merge(s, t, planes)
                if progress is not None:
                    progress.advance(tid)
            step += 1
            if progress is not None and step % 50 == 0:
                progress.update(
                    tid,
                    info=f"clusters {int(self.active.sum())} · rejected {self.rejected} · "
                    f"LPs {self.stats.calls}",
                )

    def _merge(self, s: int, t: int, planes: dict[int, tuple[np.ndarray, float]]) -> None:
        if self.key[t] < self.key[s]:
            s, t = t, s  # the merged cluster lives in the slot of the smaller key
        self.merges += 1
        Mi = np.sort(np.concatenate([self.members[s], self.members[t]]))
        self.members[s], self.members[t] = Mi, Mi[:0]
        self.cent[s], self.rad[s] = centroid_radius(self.X[Mi])
        self.norm2[s] = float(self.cent[s] @ self.cent[s])
        self.size[s] = len(Mi)
        self.active[t] = False
        self.cver[s] += 1
        self.version[t] += 1
        for c, (w, b) in planes.items():
            self.hyper[(s, c)] = (int(self.cver[s]), int(self.cver[c]), w, b)
        ft = self.forb.pop(t, set())
        if ft:
            fs = self.forb.setdefault(s, set())
            fs |= ft
            for u in ft:
                self.forb[u].discard(t)
                self.forb[u].add(s)
        others = self._same_label(s)
        stale = others[(self.nn[others] == s) | (self.nn[others] == t)]
        for k in stale.tolist():
            self._rescan(k)
        self._rescan(s)
        self._offer(s, others[~np.isin(others, stale)])


def directprobe_clusters(
    X: np.ndarray,
    y: np.ndarray,
    *,
    label_lp_limit: int = 6000,
    show_progress: bool = True,
) -> ClusterResult:
    """Cluster the points (float64 geometry) the DirectProbe way; see the module docstring."""
    from ftprobe import progress as prog

    t0 = time.perf_counter()
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n = len(X)
    stats = LPStats()
    avoided: Counter[str] = Counter()
    labels = sorted(int(a) for a in np.unique(y))
    frozen = frozen_points(X, y)
    conflicts = label_conflicts(X, y, labels, frozen, stats, avoided, label_lp_limit)
    pairs_checked = len(labels) * (len(labels) - 1) // 2
    graph: dict[int, list[int]] = {a: [] for a in labels}
    for a, b in sorted(conflicts):
        graph[a].append(b)
        graph[b].append(a)
    # same-label duplicates of a frozen point are frozen too; a label without conflicts merges
    # to one cluster (all its subsets are separable from everything else)
    assign = np.full(n, -1, dtype=np.int64)
    involved = np.isin(y, [a for a in labels if graph[a]])
    for a in labels:
        if not graph[a]:
            assign[y == a] = np.flatnonzero(y == a)[0]
    merges = rejected = 0
    pts = np.flatnonzero(involved)
    if len(pts):
        merger = _Merger(X, y, pts, frozen, graph, stats, avoided)
        with prog.bar("DirectProbe merging", total=len(pts)) as p:
            merger.run(p if show_progress else None, p.task_ids[0])
        for s in np.flatnonzero(merger.active):
            assign[merger.members[s]] = merger.key[s]
        merges, rejected = merger.merges, merger.rejected
    for a in labels:
        if not graph[a]:
            merges += int((y == a).sum()) - 1
    keys, assign = np.unique(assign, return_inverse=True)
    return ClusterResult(
        assign=assign.astype(np.int64),
        cluster_labels=y[keys],
        lp_calls=stats.calls,
        lp_retries=stats.retries,
        lp_unresolved=stats.unresolved,
        lp_avoided=dict(sorted(avoided.items())),
        merges=merges,
        rejected=rejected,
        seconds=time.perf_counter() - t0,
        separable_label_pairs=pairs_checked - len(conflicts),
        label_pairs_checked=pairs_checked,
    )
