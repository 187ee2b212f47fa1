"""A straightforward implementation of the reference DirectProbe algorithm, for the benchmark and
for equivalence tests: a heap of every same-label pair, merge to the end without checks, search
back (binary) for the first state with an overlap, then merge forward from the last good state
with one LP per candidate pair after the sphere prefilter (no certificates, no label shortcut).
The same gray-zone rule as the fast path (``geometry.run_touch``): a margin-LP plane whose gap
is within ``touch`` leaves the decision to the widest slab. Quadratic memory: small inputs
only."""

from __future__ import annotations

import heapq

import numpy as np

from .clustering import ClusterResult, canonical_dist, centroid_radius
from .geometry import LPStats, lp_direct, plane_gap, run_touch, slab, widest_separation


class _State:
    def __init__(self, X: np.ndarray, y: np.ndarray, clusters: list[np.ndarray]):
        self.X, self.y = X, y
        self.clusters: dict[int, np.ndarray] = {}
        self.cent: dict[int, np.ndarray] = {}
        self.rad: dict[int, float] = {}
        self.gen: dict[int, int] = {}  # a merged cluster reuses its smallest point as key
        for c in clusters:
            self._add(np.sort(c))

    def _add(self, members: np.ndarray) -> int:
        k = int(members[0])
        self.clusters[k] = members
        self.cent[k], self.rad[k] = centroid_radius(self.X[members])
        self.gen[k] = self.gen.get(k, -1) + 1
        return k

    def valid(self, entry: tuple[float, int, int, int, int]) -> bool:
        _, a, b, ga, gb = entry
        return (
            self.gen.get(a) == ga
            and self.gen.get(b) == gb
            and a in self.clusters
            and (b in self.clusters)
        )

    def label(self, k: int) -> int:
        return int(self.y[k])

    def heap(self) -> list[tuple[float, int, int, int, int]]:
        h = []
        keys = sorted(self.clusters)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if self.label(a) == self.label(b):
                    d = float(canonical_dist(self.cent[b][None], self.cent[a])[0])
                    h.append((d, a, b, self.gen[a], self.gen[b]))
        heapq.heapify(h)
        return h

    def merge(self, a: int, b: int, h: list[tuple[float, int, int, int, int]]) -> int:
        members = np.sort(np.concatenate([self.clusters.pop(a), self.clusters.pop(b)]))
        del self.cent[a], self.cent[b], self.rad[a], self.rad[b]
        k = self._add(members)
        for o in sorted(self.clusters):
            if o != k and self.label(o) == self.label(k):
                d = float(canonical_dist(self.cent[o][None], self.cent[k])[0])
                lo, hi = min(o, k), max(o, k)
                heapq.heappush(h, (d, lo, hi, self.gen[lo], self.gen[hi]))
        return k


class ReferenceProbe:
    """Reference clustering with the original's white/black caches of tested set pairs."""

    def __init__(self, X: np.ndarray, y: np.ndarray):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.int64)
        self.stats = LPStats()
        self.touch = run_touch(self.X)
        self.white: list[tuple[frozenset[int], frozenset[int]]] = []
        self.black: list[tuple[frozenset[int], frozenset[int]]] = []

    def _overlap_pair(self, A: np.ndarray, B: np.ndarray) -> bool:
        a, b = frozenset(A.tolist()), frozenset(B.tolist())
        for sa, sb in self.black:
            if (sa <= a and sb <= b) or (sa <= b and sb <= a):
                return True
        for sa, sb in self.white:
            if (a <= sa and b <= sb) or (b <= sa and a <= sb):
                return False
        P, Q = self.X[A], self.X[B]
        ok, plane = lp_direct(P, Q, self.stats, self.touch)
        if ok and plane_gap(*slab(plane[0], P, Q), plane[0]) <= self.touch:  # type: ignore[index]
            ok = widest_separation(P, Q, self.stats, self.touch).ok
        (self.white if ok else self.black).append((a, b))
        return not ok

    def _overlapping(
        self, st: _State, members: np.ndarray, lab: int, skip_singletons: bool = False
    ) -> bool:
        c, r = centroid_radius(self.X[members])
        for k in sorted(st.clusters):
            if st.label(k) == lab or (skip_singletons and len(st.clusters[k]) == 1):
                continue
            d = float(canonical_dist(st.cent[k][None], c)[0])
            if d - r - st.rad[k] - 1e-12 * (1.0 + d) <= self.touch and self._overlap_pair(
                members, st.clusters[k]
            ):
                return True
        return False

    def _any_overlap(self, st: _State) -> bool:
        found = False
        for k in sorted(st.clusters):
            # two singletons may only overlap as duplicates, which no merge can cure: the
            # search looks for the first state with an overlap that involves a merged cluster
            single = len(st.clusters[k]) == 1
            found |= self._overlapping(st, st.clusters[k], st.label(k), skip_singletons=single)
        return found

    def _state(self, track: np.ndarray) -> _State:
        order = np.argsort(track, kind="stable")
        t = track[order]
        cuts = np.flatnonzero(np.diff(t)) + 1
        return _State(self.X, self.y, np.split(order, cuts))

    def run(self) -> ClusterResult:
        import time

        t0 = time.perf_counter()
        n = len(self.X)
        st = _State(self.X, self.y, [np.array([i]) for i in range(n)])
        h = st.heap()
        track = np.arange(n)
        tracks = [track.copy()]
        while h:
            entry = heapq.heappop(h)
            if not st.valid(entry):
                continue
            a, b = entry[1], entry[2]
            k = st.merge(a, b, h)
            track = track.copy()
            track[st.clusters[k]] = k
            tracks.append(track)
        if self._any_overlap(st):
            lo, hi = 0, len(tracks) - 1  # tracks[hi] overlaps; find the first state that does
            while lo < hi:
                mid = (lo + hi) // 2
                if self._any_overlap(self._state(tracks[mid])):
                    hi = mid
                else:
                    lo = mid + 1
            st = self._state(tracks[hi - 1])
            h = st.heap()
            while h:
                entry = heapq.heappop(h)
                if not st.valid(entry):
                    continue
                a, b = entry[1], entry[2]
                members = np.concatenate([st.clusters[a], st.clusters[b]])
                if not self._overlapping(st, members, st.label(a)):
                    st.merge(a, b, h)
        assign = np.empty(n, dtype=np.int64)
        keys = sorted(st.clusters)
        for i, k in enumerate(keys):
            assign[st.clusters[k]] = i
        return ClusterResult(
            assign=assign,
            cluster_labels=self.y[keys],
            lp_calls=self.stats.calls,
            lp_retries=self.stats.retries,
            lp_unresolved=self.stats.unresolved,
            seconds=time.perf_counter() - t0,
        )


def reference_clusters(X: np.ndarray, y: np.ndarray) -> ClusterResult:
    return ReferenceProbe(X, y).run()
