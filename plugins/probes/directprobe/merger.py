"""The merging loop of DirectProbe over the labels that interact (the algorithm is described in
clustering.py). Memory is linear in the number of points.

Nearest neighbours: each cluster keeps one heap entry, exact or a lower bound, and every pair
of clusters is at least as far as the entry of one of its two clusters. A new cluster gets an
exact entry (one scan), which covers all its pairs, so no other entry needs updating. A cluster
whose neighbour was merged away keeps its old entry as a lower bound and is rescanned (in
batches) only when that entry reaches the top of the heap.
Scans bound every squared distance from below with a label's top principal directions (a
float32 projection) plus the norm of the rest; the rows with the smallest bounds give an upper
bound, and only rows whose bound does not exceed it are measured exactly in float64, so the
order is the exact one (ties broken by cluster keys).

Overlap candidates: for each interacting label pair a few directions (centroid, LDA) are kept,
and every cluster carries the minimum of its points' projections; a cluster pair separated
along one of them needs no test. The bounding-sphere test, hyperplanes found earlier, the
centroid hyperplane and a least-squares fit come next; the LP is the last resort, started from
the support points of the hyperplanes found earlier for the parts of the union (or for earlier
versions of them and of the other cluster), or, with none, from the points nearest the other
side along the failed least-squares fit's normal.

A least-squares fit that separates a union from c leaves its weighted normal equations, kept
for the merged cluster and c: when a later union with that cluster needs a fit against c
again, it starts from them with the rows that joined since (``geometry.lsq_grow``) instead of
from unit weights, so it needs fewer refits and no moments (a cold fit when that fails; on a
25,000-point pos-ewt subset the fits' CPU time went from 56.5 s to 25.1 s). Every
certificate passes the run's gray-zone rule (``geometry.GrayZone``): the gap it certifies must
exceed the threshold.

Large clusters keep their members' vectors in one contiguous block (least recently used
dropped past ``BLOCK_BYTES``): the certificates and LPs read it instead of gathering the
rows each test, and a union with a few new points is the block with them spliced in (the same
rows, so nothing downstream changes).
"""

from __future__ import annotations

import heapq
import os
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from typing import NamedTuple

import numpy as np

from .geometry import (
    WORKING_SET_MIN,
    WORKING_SET_STEP,
    WORKING_SET_WIDE,
    GrayZone,
    HullGapModel,
    LPStats,
    LsqState,
    Moments,
    Separation,
    canonical_centroid,
    canonical_dist,
    default_engine,
    hull_gap_model,
    lsq_fit,
    lsq_grow,
    run_touch,
    separate,
)

EXACT_RADIUS_MAX = 4096  # above this size a cluster keeps an upper bound of its radius
INIT_CHUNK = 512  # rows per block product in the first nearest-neighbour pass
CERT_CHUNK = 256  # centroid certificates tested per matrix product
RESCAN_BATCH = 64  # lazy entries rescanned per matrix product
PROJ_DIMS = 64  # principal directions per label kept for the lower-bound scans
BASIS_SAMPLE = 4096  # points (evenly strided) the principal directions are computed from
# a separating direction w: the positive side's lowest projection on it, the negative side's
# highest (below the former), and the two sides' support point ids (None: unknown)
_Plane = tuple[np.ndarray, float, float, np.ndarray | None, np.ndarray | None]
PROBES = 8  # rows with the smallest lower bounds measured exactly to get an upper bound
LSQ_ITERS = 20  # reweighted least-squares fits tried before an LP (each far cheaper)
LP_MODELS = 64  # hull-gap models kept for cluster pairs (least recently used dropped)
MOMENTS_MIN = 512  # clusters this large keep their moments for least-squares fits
MOMENTS_KEPT = 64  # (the least recently used dropped)
LSQ_KEPT_BYTES = 1 << 28  # least-squares equations kept per cluster pair, in all (LRU)
BLOCK_MIN = 256  # clusters this large keep their points' vectors in one contiguous block
BLOCK_BYTES = 1 << 30  # their bytes in all (the least recently used dropped; one: half at most)
BLOCK_SPLICE = 16  # a union with a kept block and at most this many other points is spliced
LP_AHEAD = 2  # LP tests of one merge started before the first of them is waited for
LP_THREADS = 0  # threads they run on (0: one per core, at most LP_AHEAD; 1: inline)
# a model used in a test: (model, whether its P side is the other label's cluster, the part of
# the union its own side was kept for or None when it was made for this test)
_Used = tuple[HullGapModel, bool, int | None]
_EMPTY: dict[int, tuple] = {}
_NO_SLOTS, _NO_GAPS = np.zeros(0, dtype=np.int64), np.zeros(0)


def _max_norm_one(D: np.ndarray) -> np.ndarray:
    """The rows of D scaled to max-norm one (a zero row stays zero: it separates nothing)."""
    m = np.abs(D).max(axis=1, keepdims=True)
    return D / np.where(m > 0.0, m, 1.0)


def _unit(w: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, float, float]:
    """A plane's normal scaled to max-norm one, with its slab: the slab's width is then the
    L1 gap it certifies."""
    m = float(np.abs(w).max())
    return w / m, lo / m, hi / m


def scan_tol(d: int, n2a, n2b):
    """Bound on the error of a float32 squared distance (inputs rounded to float32, float32 dot
    product of length d): the squared norms are exact float64."""
    return 4.0 * (d + 2) * 2.0**-24 * (n2a + n2b) + 1e-300


class _LiveRows:
    """Rows kept for a set of slots, found through a slot -> row map shared by several such
    sets (-1: none). A merged-away slot's row stays, marked dead, until the dead rows are the
    majority; then the owner rebuilds its rows from the live ones."""

    row: np.ndarray
    slots: np.ndarray

    def _place(self, slots: np.ndarray) -> None:
        """Rows 0.. for these slots (all live); the old slots leave the map."""
        self.row[self.slots] = -1
        self.slots = slots
        self.alive = np.ones(len(slots), dtype=bool)
        self.n_alive = len(slots)
        self.row[slots] = np.arange(len(slots))

    def _retire(self, t: int) -> bool:
        """t's row dies; whether it is time to rebuild."""
        self.alive[self.row[t]] = False
        self.row[t] = -1
        self.n_alive -= 1
        return self.n_alive * 2 < len(self.slots) and len(self.slots) > 64


class _Block(_LiveRows):
    """One label's mergeable clusters for nearest-neighbour scans. Each centroid is kept as its
    coordinates on the label's top principal directions (float32) and the norm of the rest,
    which bound every squared distance from below; rows of merged-away clusters are dropped
    once they are the majority."""

    def __init__(self, slots: np.ndarray, cent: np.ndarray, row: np.ndarray, points: np.ndarray):
        self.row = row  # shared slot -> row map (-1: not in a block)
        self.slots = slots[:0]
        self.mu = points.mean(axis=0)
        sample = points[:: max(1, len(points) // BASIS_SAMPLE)] - self.mu
        _, _, vt = np.linalg.svd(sample, full_matrices=False)
        self.V = np.ascontiguousarray(vt[:PROJ_DIMS].T)
        self.k = self.V.shape[1]
        self._build(slots, cent)

    def coords(self, C: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Projected coordinates, their squared norms, the remainder's norm and the norm of
        the centred rows."""
        Z = np.atleast_2d(C) - self.mu
        p = Z @ self.V
        pn2 = np.einsum("ij,ij->i", p, p)
        zn2 = np.einsum("ij,ij->i", Z, Z)
        return p, pn2, np.sqrt(np.maximum(zn2 - pn2, 0.0)), np.sqrt(zn2)

    def _build(self, slots: np.ndarray, cent: np.ndarray) -> None:
        p, self.pn2, self.r, self.zn = self.coords(cent[slots])
        self.P = p.astype(np.float32)
        self.P2 = -2.0 * self.P  # (exact)
        # per row, the terms of the bound that do not depend on the other side (inf: dead)
        self.a = self.pn2 * (1.0 - self._tol)
        self.b = 1e-6 * self.zn
        self._place(slots)

    @property
    def _tol(self) -> float:
        """``scan_tol`` of the projections per unit squared norm."""
        return 4.0 * (self.k + 2) * 2.0**-24

    def update(self, s: int, c: np.ndarray) -> None:
        r = self.row[s]
        p, pn2, res, zn = self.coords(c)
        self.P[r], self.pn2[r], self.r[r], self.zn[r] = p[0], pn2[0], res[0], zn[0]
        self.P2[r] = -2.0 * self.P[r]
        self.a[r], self.b[r] = pn2[0] * (1.0 - self._tol), 1e-6 * zn[0]

    def kill(self, t: int, cent: np.ndarray) -> None:
        self.a[self.row[t]] = np.inf
        if self._retire(t):
            self._build(self.slots[self.alive], cent)

    def lower(self, C: np.ndarray) -> np.ndarray:
        """Lower bounds of the squared distances from each row of C to every block row (dead
        rows inf): |projection difference|^2 + (difference of the remainders' norms)^2, less
        a bound on their rounding error (``scan_tol`` of the projections, 1e-6 of the norms
        for the remainders)."""
        p, pn2, res, zn = self.coords(C)
        lb = (p.astype(np.float32) @ self.P2.T).astype(np.float64)
        lb += self.a[None, :]
        lb += (pn2 * (1.0 - self._tol) - 1e-300)[:, None]
        np.maximum(lb, 0.0, out=lb)
        gap = np.abs(res[:, None] - self.r[None, :])
        gap -= self.b[None, :]
        gap -= (1e-6 * zn)[:, None]
        np.maximum(gap, 0.0, out=gap)
        gap *= gap
        lb += gap
        lb *= 1.0 - 1e-9
        return lb


class _Lows(_LiveRows):
    """One label's clusters' lowest projections on its label-pair directions (rows), kept for
    the live clusters only (columns; see ``_LiveRows``). Each direction also keeps its values
    sorted (entries, each owned by a cluster; a merged cluster keeps the lower of its parts'
    entries, the other dies, and dead entries are dropped once they are half), so the
    clusters a union is not separated from along a direction are a prefix found by binary
    search: a scan costs what the few clusters near the union cost, not the live ones (on a
    15,000-point pos-ewt run the shortest prefix held 1.004 times the clusters kept and 1/29
    of the live ones)."""

    def __init__(self, slots: np.ndarray, vals: np.ndarray, row: np.ndarray):
        self.row, self.slots = row, slots[:0]
        self._set(slots, vals)
        self.base = int(slots[0])  # (a label's slots are contiguous)
        order = np.argsort(vals, axis=1, kind="stable")
        self.sv = np.take_along_axis(vals, order, axis=1)  # each direction's values, sorted
        self.owner = slots[order]  # the slot owning each entry
        self.entry = np.empty_like(order)  # each slot's entry (by slot - base)
        np.put_along_axis(self.entry, order, np.arange(len(slots))[None, :], axis=1)
        self.dead = np.zeros(order.shape, dtype=bool)
        self.n_dead = 0  # dead entries (the same number in every direction)

    def _set(self, slots: np.ndarray, vals: np.ndarray) -> None:
        self.vals = np.ascontiguousarray(vals)
        self._place(slots)

    def of(self, s: int) -> np.ndarray:
        return self.vals[:, self.row[s]]

    def merge(self, s: int, t: int) -> None:
        """t joined s: s's minima become the union's (and its entries the lower of the two),
        t's column dies."""
        cs, ct = self.row[s], self.row[t]
        take = self.vals[:, ct] < self.vals[:, cs]  # directions where t's entry is the lower
        ls, lt = s - self.base, t - self.base
        es, et = self.entry[:, ls].copy(), self.entry[:, lt].copy()
        r = np.arange(len(take))
        self.owner[r[take], et[take]] = s
        self.entry[take, ls] = et[take]
        self.dead[r[take], es[take]] = True
        self.dead[r[~take], et[~take]] = True
        self.n_dead += 1
        if 2 * self.n_dead > self.sv.shape[1] > 64:
            self._compact()
        np.minimum(self.vals[:, cs], self.vals[:, ct], out=self.vals[:, cs])
        if self._retire(t):
            self._set(self.slots[self.alive], self.vals[:, self.alive])

    def _compact(self) -> None:
        """Drop the dead entries (order kept) and renumber the live ones."""
        keep = ~self.dead
        k = self.sv.shape[1] - self.n_dead
        self.sv = self.sv[keep].reshape(-1, k)
        self.owner = self.owner[keep].reshape(-1, k)
        self.dead = np.zeros(self.sv.shape, dtype=bool)
        self.n_dead = 0
        np.put_along_axis(self.entry, self.owner - self.base, np.arange(k)[None, :], axis=1)

    def near(
        self, i0: int, i1: int, low: np.ndarray, touch: float
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The live clusters whose gap to a union is within ``touch`` along none of the
        directions i0..i1 cannot be told apart from it by them: the entries of the direction
        with the shortest prefix of values up to ``touch - low`` (a rounding allowance more),
        with every direction's gap ``vals + low`` (``low``: the union's lowest projections on
        the opposite directions), widest kept. Returns those clusters (by their entries'
        order), their widest gaps and a lower bound of every other cluster's (the first value
        past the prefix; inf when there is none)."""
        k, r = self.sv.shape[1] + 1, 0
        for q in range(i1 - i0):  # (scalars: this runs once per label pair and merge)
            lq = float(low[q])
            thr = touch - lq
            edge = thr + 1e-12 * (1.0 + abs(thr) + abs(lq))  # (a rounding allowance)
            kq = int(self.sv[i0 + q].searchsorted(edge, "right"))
            if kq < k:
                k, r = kq, q
        i = i0 + r
        bound = float(self.sv[i, k] + low[r]) if k < self.sv.shape[1] else np.inf
        if not k:
            return _NO_SLOTS, _NO_GAPS, bound
        slots = self.owner[i, :k][~self.dead[i, :k]]
        cols = self.row[slots]
        gap = self.vals[i0, cols] + low[0]
        for q in range(1, len(low)):
            np.maximum(gap, self.vals[i0 + q, cols] + low[q], out=gap)
        return slots, gap, bound


class _LPTask(NamedTuple):
    """An LP test of a union (its ids and points are passed along) against cluster c."""

    c: int
    Ci: np.ndarray
    XC: np.ndarray
    kept: _Used | None  # the model to run in (None: a direct solve)
    hint: np.ndarray
    seed: tuple[np.ndarray, np.ndarray] | None
    first: int
    touch: float | None  # the gray-zone threshold (``run_touch``)


def _run_lp_task(task: _LPTask, Mi: np.ndarray, XM: np.ndarray) -> tuple[Separation, LPStats]:
    """Run one test (on a worker thread): the separation, the union on the P side, and the
    counters it adds."""
    stats = LPStats()
    kept, seed = task.kept, task.seed
    if kept is not None and kept[1]:  # the model has c on its P side
        res = separate(
            task.XC, XM, stats, -task.hint, None if seed is None else seed[::-1],
            lp=kept[0], ids=(task.Ci, Mi), touch=task.touch,
        )  # fmt: skip
        res.plane = None if res.plane is None else (-res.plane[0], -res.plane[1])
        res.support_p, res.support_q = res.support_q, res.support_p
        res.lo, res.hi = -res.hi, -res.lo
    else:
        lp = None if kept is None else kept[0]
        res = separate(XM, task.XC, stats, task.hint, seed, lp=lp, ids=(Mi, task.Ci),
                       first=task.first, touch=task.touch)  # fmt: skip
    return res, stats


class Merger:
    """Clusters of the interacting labels: slots sorted by (label, point index)."""

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        points: np.ndarray,
        frozen: np.ndarray,
        conflicts: dict[int, list[int]],
        dirs: dict[tuple[int, int], np.ndarray],
        stats: LPStats,
        avoided: Counter[str],
        lp_engine: str | None = None,
        gray: GrayZone | None = None,
    ):
        pts = points[np.lexsort((points, y[points]))]
        self.lp_engine = lp_engine or default_engine()  # kept hull-gap models' engine
        self.X, self.stats, self.avoided = X, stats, avoided
        # the run's gray-zone rule: a certificate counts only when the L1 gap it certifies
        # exceeds its threshold (``run_touch``); it keeps the smallest such gap
        self.gray = gray if gray is not None else GrayZone(run_touch(X))
        self.d = X.shape[1]
        m = len(pts)
        self.key = pts
        self.lab = y[pts]
        self.cent = X[pts].copy()
        self.xn2 = np.einsum("ij,ij->i", X, X)  # squared norms of the points
        self.rad = np.zeros(m)
        self.active = np.ones(m, dtype=bool)
        self.frozen = frozen[pts]
        self.members: list[np.ndarray] = [pts[i : i + 1] for i in range(m)]
        self.version = np.zeros(m, dtype=np.int64)  # bumped when a new heap entry is pushed
        self.cver = np.zeros(m, dtype=np.int64)  # bumped when the content changes
        self.nn = np.full(m, -1, dtype=np.int64)  # exact neighbour; -1: none or lazy
        self.lazy = np.zeros(m, dtype=bool)  # the heap entry is only a lower bound
        self.forb: dict[int, set[int]] = {}
        self.hyper: dict[int, dict[int, tuple]] = {}  # s -> c -> (c's version, *plane)
        self.heap: list[tuple[float, int, int, int, int]] = []
        # hull-gap models kept per cluster pair (P-side slot, Q-side slot), and per slot the
        # keys it is part of
        self.lps: OrderedDict[tuple[int, int], HullGapModel] = OrderedDict()
        self.lp_keys: dict[int, set[tuple[int, int]]] = {}
        # moments of large clusters: slot -> (the members they are of, moments)
        self.moments: OrderedDict[int, tuple[np.ndarray, Moments]] = OrderedDict()
        self._no_lsq()
        self._no_blocks()
        self.merges = self.rejected = 0
        self.stop_at: int | None = None  # stop after this many merges (benches: a snapshot)
        self._pool: ThreadPoolExecutor | None = None
        self._helper: ThreadPoolExecutor | None = None
        labs = [int(a) for a in np.unique(self.lab)]
        lo = np.searchsorted(self.lab, labs, side="left")
        hi = np.searchsorted(self.lab, labs, side="right")
        self.span = {a: (int(lo[i]), int(hi[i])) for i, a in enumerate(labs)}
        self.row = np.full(m, -1, dtype=np.int64)
        self.blocks = {
            a: _Block(
                lo_ + np.flatnonzero(~self.frozen[lo_:hi_]), self.cent, self.row, self.cent[lo_:hi_]
            )
            for a, (lo_, hi_) in self.span.items()
        }
        # projections on the label-pair directions: the minimum over a cluster's points, with
        # the cluster's own label on the high side
        self.conf = conflicts
        self.prow: dict[int, dict[int, tuple[int, int]]] = {}
        self.low: dict[int, _Lows] = {}
        self.low_pos = np.full(m, -1, dtype=np.int64)
        for a in labs:
            rows, at = [], 0
            self.prow[a] = {}
            for b in conflicts.get(a, []):
                D = dirs[(a, b)] if a < b else -dirs[(b, a)]
                rows.append(_max_norm_one(D))
                self.prow[a][b] = (at, at + len(D))
                at += len(D)
            lo_, hi_ = self.span[a]
            if rows:
                self.low[a] = _Lows(
                    np.arange(lo_, hi_), np.concatenate(rows) @ X[pts[lo_:hi_]].T, self.low_pos
                )

    def __getstate__(self) -> dict:
        """Picklable (e.g. to study a long run from a snapshot): the kept HiGHS models and
        moments are caches and are left out."""
        state = self.__dict__.copy()
        state["lps"], state["lp_keys"], state["moments"] = OrderedDict(), {}, OrderedDict()
        state["_pool"] = state["_helper"] = None
        for k in ("xblocks", "xblock_rows", "lsqs", "lsq_new"):
            state.pop(k, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._no_blocks()
        self._no_lsq()

    # ------------------------------------------------- kept least-squares equations
    def _no_lsq(self) -> None:
        """No kept least-squares equations: per cluster pair (P-side slot, Q-side slot) the
        members of each side they were made for and the equations of the last plane that
        separated them (least recently used dropped past ``LSQ_KEPT_BYTES``); ``lsq_new``:
        those of the test under way, kept for the merged cluster if it merges."""
        self.lsqs: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray, LsqState]] = (
            OrderedDict()
        )
        self.lsq_new: dict[int, tuple[np.ndarray, np.ndarray, LsqState]] = {}

    def _lsq_start(
        self, s: int, t: int, c: int, Mi: np.ndarray, XM: np.ndarray, Ci: np.ndarray,
        XC: np.ndarray,
    ) -> LsqState | None:  # fmt: skip
        """Equations to fit s ∪ t (rows Mi, vectors XM) against c from: those kept for a part
        (the larger first) and c, with the rows that joined since at weight one."""
        for part in self._by_size(s, t):
            for key, flip in (((part, c), False), ((c, part), True)):
                rec = self.lsqs.get(key)
                if rec is None:
                    continue
                self.lsqs.move_to_end(key)
                ids_p, ids_q, st = rec
                cp, cq = st.c[: len(ids_p)], st.c[len(ids_p) :]
                if flip:
                    ids_p, ids_q, cp, cq = ids_q, ids_p, cq, cp
                    st = st._replace(rhs=-st.rhs)
                at_p, at_q = np.searchsorted(Mi, ids_p), np.searchsorted(Ci, ids_q)
                wp, wq = np.ones(len(Mi)), np.ones(len(Ci))
                wp[at_p], wq[at_q] = cp, cq
                new_p, new_q = np.ones(len(Mi), dtype=bool), np.ones(len(Ci), dtype=bool)
                new_p[at_p] = new_q[at_q] = False
                return lsq_grow(st, XM, XC, np.flatnonzero(new_p), np.flatnonzero(new_q), wp, wq)
        return None

    def _keep_lsq(self, key: tuple[int, int], rec: tuple) -> None:
        self.lsqs.pop(key[::-1], None)
        self.lsqs[key] = rec
        self.lsqs.move_to_end(key)
        size = rec[2].H.nbytes * (1 + (rec[2].R is not None)) + rec[2].c.nbytes
        while len(self.lsqs) * size > LSQ_KEPT_BYTES and len(self.lsqs) > 1:
            self.lsqs.popitem(last=False)

    def _rekey_lsq(self, t: int, s: int) -> None:
        """Slot t merged into s: its kept equations become s's (their rows are s's members
        too), where s has none for that partner; then those of this merge are kept."""
        for key in [k for k in self.lsqs if t in k]:
            rec = self.lsqs.pop(key)
            new = (s, key[1]) if key[0] == t else (key[0], s)
            if new not in self.lsqs and new[::-1] not in self.lsqs and new[0] != new[1]:
                self.lsqs[new] = rec
        for c, rec in self.lsq_new.items():
            self._keep_lsq((s, c), rec)
        self.lsq_new = {}

    # ------------------------------------------------------------ members' vectors
    def _no_blocks(self) -> None:
        """Start with no kept blocks of members' vectors (a cache: see ``_points``)."""
        self.xblocks: OrderedDict[int, np.ndarray] = OrderedDict()
        self.xblock_rows = 0

    def _points(self, u: int) -> np.ndarray:
        """The vectors of cluster u's members, in member order (read-only). A large cluster
        keeps them in one block, so the tests that read it do not gather them each time."""
        Xu = self.xblocks.get(u)
        if Xu is not None:
            self.xblocks.move_to_end(u)
            return Xu
        Xu = self.X[self.members[u]]
        self._keep_block(u, Xu)
        return Xu

    def _keep_block(self, u: int, Xu: np.ndarray) -> None:
        """Keep Xu as u's block (when u is large enough), dropping u's old one."""
        self._drop_block(u)
        rows = BLOCK_BYTES // max(1, self.X[:1].nbytes)  # (the rows that fit)
        if not BLOCK_MIN <= len(Xu) <= rows // 2:
            return
        Xu.flags.writeable = False
        self.xblocks[u] = Xu
        self.xblock_rows += len(Xu)
        while self.xblock_rows > rows:
            self.xblock_rows -= len(self.xblocks.popitem(last=False)[1])

    def _drop_block(self, u: int) -> None:
        old = self.xblocks.pop(u, None)
        if old is not None:
            self.xblock_rows -= len(old)

    # ------------------------------------------------------------ nearest neighbours
    def _set(self, s: int, p: int, d: float) -> None:
        ks, kp = int(self.key[s]), int(self.key[p])
        self.version[s] += 1
        self.nn[s], self.lazy[s] = p, False
        heapq.heappush(self.heap, (d, min(ks, kp), max(ks, kp), s, int(self.version[s])))

    def _clear(self, s: int) -> None:
        self.version[s] += 1
        self.nn[s], self.lazy[s] = -1, False

    def _best(self, s: int, lb: np.ndarray, blk: _Block) -> tuple[int, float] | None:
        """The exact nearest allowed row, from lower bounds of the squared distances: the rows
        with the smallest bounds are measured to get an upper bound, then every row whose
        bound does not exceed it is measured exactly."""
        probe = np.argpartition(lb, PROBES)[:PROBES] if len(lb) > PROBES else np.arange(len(lb))
        probe = probe[np.isfinite(lb[probe])]  # (inf rows sort last)
        if not len(probe):
            return None
        ub = float(canonical_dist(self.cent[blk.slots[probe]], self.cent[s]).min())
        return self._nearest(s, blk.slots[np.flatnonzero(lb <= ub * ub * (1.0 + 1e-12))])

    def _nearest(self, s: int, slots: np.ndarray) -> tuple[int, float]:
        """Of the candidate slots, the nearest to s in float64 (ties: the smaller key pair)."""
        exact = canonical_dist(self.cent[slots], self.cent[s])
        ks, kc = self.key[s], self.key[slots]
        b = np.lexsort((np.maximum(kc, ks), np.minimum(kc, ks), exact))[0]
        return int(slots[b]), float(exact[b])

    def _scan(self, s: int, blk: _Block) -> np.ndarray:
        """Squared distances from s to the clusters it may merge with (others inf)."""
        return self._exclude(s, blk.lower(self.cent[s])[0])

    def _exclude(self, s: int, lb: np.ndarray) -> np.ndarray:
        """Set the rows s may not merge with (itself, rejected partners) to inf."""
        lb[self.row[s]] = np.inf
        fs = self.forb.get(s)
        if fs:
            lb[self.row[np.fromiter(fs, dtype=np.int64)]] = np.inf
        return lb

    def _rescan(self, s: int) -> None:
        blk = self.blocks[int(self.lab[s])]
        best = self._best(s, self._scan(s, blk), blk)
        if best is None:
            self._clear(s)
        else:
            self._set(s, *best)

    def _rescan_batch(self, s: int) -> None:
        """Rescan s and the lazy entries right behind it on the heap (rescanning a lower bound
        early is always allowed), one matrix product per label."""
        batch = [s]
        while self.heap and len(batch) < RESCAN_BATCH:
            _, _, _, u, ver = self.heap[0]
            if not self.active[u] or ver != self.version[u]:
                heapq.heappop(self.heap)
                continue
            if not self.lazy[u]:
                break
            heapq.heappop(self.heap)
            batch.append(u)
        if len(batch) == 1:
            self._rescan(s)
            return
        by_label: dict[int, list[int]] = {}
        for u in batch:
            by_label.setdefault(int(self.lab[u]), []).append(u)
        for a, us in by_label.items():
            blk = self.blocks[a]
            A = blk.lower(self.cent[us])
            for j, u in enumerate(us):
                best = self._best(u, self._exclude(u, A[j]), blk)
                if best is None:
                    self._clear(u)
                else:
                    self._set(u, *best)

    def init_nn(self, progress=None, tid=None) -> None:
        """Every cluster's exact nearest neighbour, by blocks of float32 matrix products."""
        d = self.d
        for blk in self.blocks.values():
            cent = self.cent[blk.slots]
            C, n2, m = cent.astype(np.float32), np.einsum("ij,ij->i", cent, cent), len(blk.slots)
            C2, n2f = -2.0 * C, n2.astype(np.float32)  # (scaling by -2 is exact)
            for i0 in range(0, m, INIT_CHUNK):
                i1 = min(m, i0 + INIT_CHUNK)
                r = np.arange(i1 - i0)
                # squared distances in float32: three more roundings, each below 2^-24 of
                # 2 (|a|^2 + |b|^2), so the bound of d + 2 terms covers them
                A = C[i0:i1] @ C2.T
                A += n2f[None, :]
                A += n2f[i0:i1, None]
                A[r, r + i0] = np.inf
                am = A.argmin(axis=1)
                mn = A[r, am].astype(np.float64)
                lim = mn + scan_tol(d + 2, 2 * n2[i0:i1] + n2[am] + n2.max(), 0.0)
                lim32 = np.nextafter(lim.astype(np.float32), np.float32(np.inf))
                rows, cols = np.nonzero(A <= lim32[:, None])
                cuts = np.searchsorted(rows, r, side="left")
                for j in range(i1 - i0):
                    if not np.isfinite(mn[j]):
                        continue
                    s = int(blk.slots[i0 + j])
                    stop = cuts[j + 1] if j + 1 < len(cuts) else len(rows)
                    self._set(s, *self._nearest(s, blk.slots[cols[cuts[j] : stop]]))
                if progress is not None:
                    progress.advance(tid, i1 - i0)

    # ------------------------------------------------------------------ overlap test
    def _candidates(self, s: int, t: int, cM: np.ndarray, rM: float) -> np.ndarray:
        """Clusters of interacting labels that the union of s and t may meet, nearest first."""
        a = int(self.lab[s])
        low = self.low[a]
        lowM = np.minimum(low.of(s), low.of(t))
        parts = []
        for b in self.conf.get(a, []):
            lows = self.low[b]
            (i0, i1), (j0, j1) = self.prow[b][a], self.prow[a][b]
            # the gap along each direction (max-norm one: an L1 lower bound), the widest kept
            near, gap, beyond = lows.near(i0, i1, lowM[j0:j1], self.gray.touch)
            self.gray.wide(beyond)  # (every cluster past the prefix is at least this far)
            if not len(near):
                self.avoided["pair_direction"] += lows.n_alive
                continue
            keep = ~self.gray.passed(gap)
            self.avoided["pair_direction"] += lows.n_alive - int(keep.sum())
            parts.append(np.sort(near[keep]))
        others = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if not len(others):
            return others
        dist = canonical_dist(self.cent[others], cM)
        # the balls' gap (bounds the L1 gap from below), less a rounding allowance
        gap = dist - rM - self.rad[others] - 1e-12 * (1.0 + dist)
        keep = ~self.gray.passed(gap)
        self.avoided["sphere"] += int((~keep).sum())
        return others[keep][np.argsort(dist[keep], kind="stable")]

    def _overlaps(
        self, s: int, t: int, Mi: np.ndarray, XM: np.ndarray, cM: np.ndarray, rM: float
    ) -> tuple[bool, dict[int, _Plane], dict[int, _Used]]:
        """Would the union of s and t meet another label's hull? Also returns, for each
        cluster checked, a separating hyperplane and (when an LP found it) the point ids that
        pin it down, and the hull-gap models the LPs ran in."""
        found: dict[int, _Plane] = {}
        used: dict[int, _Used] = {}
        rest = []
        cands = self._candidates(s, t, cM, rM).tolist()
        for c, hp in zip(cands, self._cached_planes(s, t, cands, XM), strict=True):
            if hp is None:
                rest.append(c)
            else:
                self.avoided["hyperplane_cache"] += 1
                found[c] = hp
        need_lp = []
        for k0 in range(0, len(rest), CERT_CHUNK):
            chunk = rest[k0 : k0 + CERT_CHUNK]
            W = cM - self.cent[chunk]
            W = _max_norm_one(W)  # (gaps are then L1 bounds)
            lowM = (XM @ W.T).min(axis=0)
            for j, c in enumerate(chunk):
                hi = float((self._points(c) @ W[j]).max())
                if self.gray.wide(float(lowM[j]) - hi):
                    self.avoided["centroid_certificate"] += 1
                    found[c] = (W[j], float(lowM[j]), hi, None, None)
                else:
                    need_lp.append(c)
        # up to LP_AHEAD tests run at once (threads: HiGHS and numpy release the GIL); the
        # next one is prepared (its least-squares fit) while they run. Which tests run
        # depends only on their outcomes, never on timing: the answer is deterministic
        pending: deque[tuple[_LPTask, Future]] = deque()
        overlap = False
        for c in need_lp:
            task = self._lp_task(s, t, c, Mi, XM, cM, found, idle=not pending)
            if task is None:
                continue
            pending.append((task, self._submit(task, Mi, XM)))
            if len(pending) >= LP_AHEAD and not self._take(*pending.popleft(), Mi, found, used):
                overlap = True
                break
        while pending:  # (after an overlap the tests already started still count as used)
            overlap = not self._take(*pending.popleft(), Mi, found, used) or overlap
        return overlap, found, used

    def _lp_task(
        self, s: int, t: int, c: int, Mi: np.ndarray, XM: np.ndarray, cM: np.ndarray,
        found: dict[int, _Plane], idle: bool = False,
    ) -> _LPTask | None:  # fmt: skip
        """The LP test of s ∪ t against c, ready to run; None when a least-squares fit
        separates them (its plane then joins ``found``). ``idle``: no LP test is running,
        so the fit may share its products with the helper thread."""
        Ci = self.members[c]
        XC = self._points(c)
        # the support of planes found for earlier versions of the parts and c starts the LP
        hint, seed = self._seed(self._stored_planes(s, t, c), Mi, Ci)
        if hint is None:
            hint = cM - self.cent[c]
        kept = self._kept_model(s, t, c)
        first = WORKING_SET_STEP
        # a part (or an earlier version) needed an LP against c: least squares would fail
        if kept is None and seed is None:
            mo, start = None, None
            if len(Mi) + len(Ci) > self.d + 1:  # (the normal form)
                start = self._lsq_start(s, t, c, Mi, XM, Ci, XC)
                if start is None:
                    mo = (self._moments(s) + self._moments(t), self._moments(c))
            helper = self._helper if idle else None
            fit = lsq_fit(XM, XC, iters=LSQ_ITERS, moments=mo, start=start, helper=helper)
            if fit.plane is None and start is not None:  # (the kept weights can mislead)
                mo = (self._moments(s) + self._moments(t), self._moments(c))
                fit = lsq_fit(XM, XC, iters=LSQ_ITERS, moments=mo, helper=helper)
            if fit.plane is not None:
                w, lo, hi = _unit(fit.plane[0], fit.lo, fit.hi)
                if self.gray.wide(lo - hi):
                    self.avoided["least_squares_certificate"] += 1
                    found[c] = (w, lo, hi, None, None)
                    if fit.state is not None:
                        self.lsq_new[c] = (Mi, Ci, fit.state)
                    return None
            if fit.normal is not None:  # the LP's first working set: nearest along it
                hint, first = fit.normal, WORKING_SET_WIDE
        if kept is None and len(Mi) + len(Ci) > WORKING_SET_MIN:
            kept = (hull_gap_model(XM, XC, self.lp_engine, self.gray.touch), False, None)
        return _LPTask(c, Ci, XC, kept, hint, seed, first, self.gray.touch)

    def _submit(self, task: _LPTask, Mi: np.ndarray, XM: np.ndarray) -> Future:
        """Start the test on the pool (or run it now when there is none)."""
        if self._pool is None:
            done: Future = Future()
            done.set_result(_run_lp_task(task, Mi, XM))
            return done
        return self._pool.submit(_run_lp_task, task, Mi, XM)

    def _take(
        self, task: _LPTask, fut: Future, Mi: np.ndarray, found: dict[int, _Plane],
        used: dict[int, _Used],
    ) -> bool:  # fmt: skip
        """Wait for a test and record it: its counters, its model, its plane (and support);
        whether it separated."""
        res, stats = fut.result()
        self.stats.add(stats)
        if task.kept is not None:
            used[task.c] = task.kept
        if not res.ok:
            return False
        w, lo, hi = _unit(res.plane[0], res.lo, res.hi)  # type: ignore[index]
        self.gray.wide(lo - hi)  # (keeps the gap: separate applied the gray-zone rule)
        if res.support_p is None:  # a direct solve: no support points
            found[task.c] = (w, lo, hi, None, None)
        else:
            found[task.c] = (w, lo, hi, Mi[res.support_p], task.Ci[res.support_q])
        return True

    def _moments(self, u: int) -> Moments:
        """Moments of cluster u's points; a large cluster keeps its own, updated by the points
        that joined it since."""
        mem = self.members[u]
        rec = self.moments.pop(u, None)
        if rec is None:
            mo = Moments.of(self.X[mem])
        elif len(rec[0]) == len(mem):
            mo = rec[1]
        else:  # clusters only grow
            mo = rec[1] + Moments.of(self.X[np.setdiff1d(mem, rec[0], assume_unique=True)])
        if len(mem) >= MOMENTS_MIN:
            self.moments[u] = (mem, mo)
            while len(self.moments) > MOMENTS_KEPT:
                self.moments.popitem(last=False)
        return mo

    # ------------------------------------------------------------ kept hull-gap models
    def _kept_model(self, s: int, t: int, c: int) -> _Used | None:
        """A hull-gap model kept for s (or t) and c, the larger part's first."""
        for part in self._by_size(s, t):
            for key, flip in (((part, c), False), ((c, part), True)):
                lp = self.lps.get(key)
                if lp is not None:
                    self.lps.move_to_end(key)
                    return lp, flip, part
        return None

    def _keep(self, key: tuple[int, int], lp: HullGapModel) -> None:
        if lp.broken:
            return
        self._unkeep(key)
        self._unkeep(key[::-1])
        self.lps[key] = lp
        for u in key:
            self.lp_keys.setdefault(u, set()).add(key)
        while len(self.lps) > LP_MODELS:
            self._unkeep(next(iter(self.lps)))

    def _unkeep(self, key: tuple[int, int]) -> HullGapModel | None:
        lp = self.lps.pop(key, None)
        if lp is not None:
            for u in key:
                self.lp_keys[u].discard(key)
        return lp

    def _settle_models(self, used: dict[int, _Used], s: int, t: int, merged: int | None) -> None:
        """After a test of s ∪ t: the models it used are kept for the merged cluster, or, when
        the merge was rejected, for the part they were kept for (the larger part for new
        ones) without the other part's columns."""
        for c, (lp, flip, part) in used.items():
            if part is not None:
                self._unkeep((c, part) if flip else (part, c))
            if merged is None:
                if part is None:
                    part = self._by_size(s, t)[0]
                other = self.members[t if part == s else s]
                lp.charge = self.stats
                if flip:
                    lp.drop(other[:0], other)
                else:
                    lp.drop(other)
            owner = part if merged is None else merged
            self._keep((c, owner) if flip else (owner, c), lp)

    def _rekey_models(self, t: int, s: int) -> None:
        """Slot t merged into s: its models become s's (where s has none for that partner)."""
        for key in list(self.lp_keys.pop(t, ())):
            lp = self.lps.pop(key, None)
            other = key[1] if key[0] == t else key[0]
            self.lp_keys.get(other, set()).discard(key)
            new = (s, other) if key[0] == t else (other, s)
            if lp is not None and new not in self.lps and new[::-1] not in self.lps:
                self._keep(new, lp)

    def _cached_planes(
        self, s: int, t: int, cands: list[int], XM: np.ndarray
    ) -> list[_Plane | None]:
        """For each candidate c, a hyperplane found earlier between s (or t) and c that also
        separates the other part from c, as a plane of the union (XM: its points); None where
        there is none. The larger part's planes are checked on the smaller part's points,
        then the smaller part's (where the larger part has none) on the union's, each set in
        one matrix product."""
        big, small = self._by_size(s, t)
        out = self._extend(self._known_planes(big, cands), self.X[self.members[small]])
        rest = [i for i, plane in enumerate(out) if plane is None]
        if rest:
            mine = self._extend(self._known_planes(small, [cands[i] for i in rest]), XM)
            for i, plane in zip(rest, mine, strict=True):
                out[i] = plane
        return out

    def _extend(self, planes: list[_Plane | None], Y: np.ndarray) -> list[_Plane | None]:
        """The planes whose positive side also holds the rows of Y (their slab's low end
        lowered to Y's lowest projection) with a gap still above the gray-zone threshold
        (their normals have max-norm one); None for the others."""
        at, ws, los, his = [], [], [], []
        for i, plane in enumerate(planes):  # (one pass: this runs for every union tested)
            if plane is not None:
                at.append(i)
                ws.append(plane[0])
                los.append(plane[1])
                his.append(plane[2])
        if not at:
            return planes
        # (np.concatenate: np.stack costs several times as much for a few hundred rows)
        W = np.concatenate(ws).reshape(len(at), -1)
        low = np.minimum((Y @ W.T).min(axis=0), los)
        ok = self.gray.passed(low - np.array(his)).tolist()
        out = list(planes)
        for j, (i, lo) in enumerate(zip(at, low.tolist(), strict=True)):
            w, _, hi, sp, sq = planes[i]  # type: ignore[misc]
            out[i] = (w, lo, hi, sp, sq) if ok[j] else None
        return out

    def _by_size(self, s: int, t: int) -> tuple[int, int]:
        """s and t, the larger cluster first (s when they are the same size)."""
        return (s, t) if len(self.members[s]) >= len(self.members[t]) else (t, s)

    @staticmethod
    def _reversed(rec: tuple) -> _Plane:
        """A plane stored under c for a, turned to have a on its positive side."""
        return (-rec[1], -rec[3], -rec[2], rec[5], rec[4])

    def _planes(self, a: int, c: int) -> Iterator[tuple[bool, _Plane]]:
        """The hyperplanes stored between a and c (under a or under c), each with a on its
        positive side, its support ids (a's, c's) and whether it was found for the clusters as
        they are now. An older one was found for smaller versions of them (clusters only
        grow, so its support ids are still members) and may no longer separate."""
        rec = self.hyper.get(a, _EMPTY).get(c)
        if rec is not None:
            yield rec[0] == self.cver[c], rec[1:]
        rec = self.hyper.get(c, _EMPTY).get(a)
        if rec is not None:
            yield rec[0] == self.cver[a], self._reversed(rec)

    def _known_planes(self, a: int, cands: list[int]) -> list[_Plane | None]:
        """For each candidate c, a hyperplane found earlier with the current a on its positive
        side and the current c on its negative side, if one is stored, with its support ids
        (a's, c's); None where none is (the hot path: one loop, the versions read at once)."""
        own, hyper = self.hyper.get(a, _EMPTY), self.hyper
        va, out = int(self.cver[a]), []
        for c, v in zip(cands, self.cver[cands].tolist(), strict=True):
            rec = own.get(c)
            if rec is not None and rec[0] == v:
                out.append(rec[1:])
                continue
            rec = hyper.get(c, _EMPTY).get(a)
            out.append(self._reversed(rec) if rec is not None and rec[0] == va else None)
        return out

    def _stored_planes(self, s: int, t: int, c: int) -> list[_Plane]:
        """Every hyperplane stored between s or t and c, the current ones first."""
        recs = [*self._planes(s, c), *self._planes(t, c)]
        return [p for now, p in recs if now] + [p for now, p in recs if not now]

    def _seed(
        self, planes: list[_Plane], Mi: np.ndarray, Ci: np.ndarray
    ) -> tuple[np.ndarray | None, tuple[np.ndarray, np.ndarray] | None]:
        """From hyperplanes found earlier between parts of the union and c: a normal to order
        the points by and the support points (as row indices of the union Mi and of c's
        members Ci) to start the LP from."""
        hint = planes[0][0] if planes else None
        sp = [np.searchsorted(Mi, p[3]) for p in planes if p[3] is not None]
        sq = [np.searchsorted(Ci, p[4]) for p in planes if p[4] is not None]
        if not sp:
            return hint, None
        return hint, (np.unique(np.concatenate(sp)), np.unique(np.concatenate(sq)))

    # ------------------------------------------------------------------------ loop
    def _union(self, s: int, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Members, their vectors, the canonical centroid and a bounding radius of s ∪ t."""
        # (two sorted runs: the stable sort merges them in linear time)
        Mi = np.sort(np.concatenate([self.members[s], self.members[t]]), kind="stable")
        big, small = self._by_size(s, t)
        Xb, few = self.xblocks.get(big), self.members[small]
        if Xb is not None and len(few) <= BLOCK_SPLICE:  # the few rows spliced into the block
            at = np.searchsorted(self.members[big], few).tolist()
            pieces, prev = [], 0
            for i, a in enumerate(at):
                pieces += [Xb[prev:a], self.X[few[i] : few[i] + 1]]
                prev = a
            XM = np.concatenate([*pieces, Xb[prev:]])
        else:
            XM = self.X[Mi]
        cM = canonical_centroid(XM)
        if len(Mi) <= EXACT_RADIUS_MAX:  # |x - c|^2 from the kept norms, rounding bounded
            n2, c2 = self.xn2[Mi], float(cM @ cM)
            r2 = float((n2 - 2.0 * (XM @ cM)).max()) + c2 + 1e-12 * (float(n2.max()) + c2)
            rM = float(np.sqrt(max(r2, 0.0)))
        else:  # every point lies within its old radius of its old centroid
            rM = max(
                self.rad[s] + float(np.linalg.norm(cM - self.cent[s])),
                self.rad[t] + float(np.linalg.norm(cM - self.cent[t])),
            ) * (1.0 + 1e-12)
        return Mi, XM, cM, rM

    def run(self, progress=None, tid=None) -> None:
        """Merge until no pair is left; LP tests run on up to ``LP_THREADS`` threads. BLAS
        runs on one thread meanwhile (process-wide, so in the workers too): the products here
        are small and many, and BLAS threads on top of the workers oversubscribe the cores (a
        6k-point run took 91 s with OpenBLAS's default threads, 17 s with one)."""
        import scipy.linalg.blas
        import scipy.linalg.lapack  # noqa: F401  (loaded before the limit, so it applies)
        from threadpoolctl import threadpool_limits

        threads = LP_THREADS if LP_THREADS > 0 else min(LP_AHEAD, os.cpu_count() or 1)
        pool = ThreadPoolExecutor(threads, "directprobe-lp") if threads > 1 else None
        # a thread for half of a least-squares fit's products while no LP test runs
        helper = ThreadPoolExecutor(1, "directprobe-lsq") if threads > 1 else None
        with threadpool_limits(limits=1, user_api="blas"), pool or nullcontext():
            self._pool, self._helper = pool, helper
            try:
                self._run(progress, tid)
            finally:
                self._pool = self._helper = None
                if helper is not None:
                    helper.shutdown()

    def _run(self, progress=None, tid=None) -> None:
        step = 0
        while self.heap:
            if self.stop_at is not None and self.merges >= self.stop_at:
                return
            _, _, _, s, ver = heapq.heappop(self.heap)
            if not self.active[s] or ver != self.version[s]:
                continue
            if self.lazy[s]:
                self._rescan_batch(s)
                continue
            t = int(self.nn[s])
            Mi, XM, cM, rM = self._union(s, t)
            self.lsq_new = {}
            overlap, planes, used = self._overlaps(s, t, Mi, XM, cM, rM)
            if overlap:
                self._settle_models(used, s, t, None)
                self.rejected += 1
                self.forb.setdefault(s, set()).add(t)
                self.forb.setdefault(t, set()).add(s)
                self._rescan(s)
                self._rescan(t)
            else:
                self._merge(s, t, Mi, XM, cM, rM, planes, used)
                if progress is not None:
                    progress.advance(tid)
            step += 1
            if progress is not None and step % 200 == 0:
                progress.update(
                    tid,
                    info=f"clusters {int(self.active.sum())} · rejected {self.rejected} · "
                    f"LPs {self.stats.calls}",
                )

    def _merge(
        self,
        s: int,
        t: int,
        Mi: np.ndarray,
        XM: np.ndarray,
        cM: np.ndarray,
        rM: float,
        planes: dict[int, _Plane],
        used: dict[int, _Used],
    ) -> None:
        if self.key[t] < self.key[s]:
            s, t = t, s  # the merged cluster lives in the slot of the smaller key
        self._settle_models(used, s, t, s)
        self._rekey_models(t, s)
        self._rekey_lsq(t, s)
        kept_t, kept_s = self.moments.pop(t, None), self.moments.get(s)
        if kept_t is not None and (kept_s is None or len(kept_s[0]) < len(kept_t[0])):
            self.moments[s] = kept_t  # the larger part's moments serve the merged cluster
        a = int(self.lab[s])
        blk = self.blocks[a]
        self.merges += 1
        self.members[s], self.members[t] = Mi, Mi[:0]
        self._drop_block(t)
        self._keep_block(s, XM)
        self.cent[s], self.rad[s] = cM, rM
        self.active[t] = False
        self.cver[s] += 1
        self._clear(t)
        self.low[a].merge(s, t)
        self.hyper.pop(t, None)
        vers = self.cver[list(planes)].tolist()
        self.hyper[s] = {c: (v, *plane) for (c, plane), v in zip(planes.items(), vers, strict=True)}
        ft = self.forb.pop(t, set())
        if ft:
            fs = self.forb.setdefault(s, set())
            fs |= ft
            for u in ft:
                self.forb[u].discard(t)
                self.forb[u].add(s)
        blk.update(s, cM)
        blk.kill(t, self.cent)
        # clusters whose neighbour was s or t keep their entry as a lower bound
        nn = self.nn[blk.slots]
        stale = blk.slots[blk.alive & ((nn == s) | (nn == t))]
        self.lazy[stale] = True
        self.nn[stale] = -1
        # the new cluster's exact entry covers every pair it is part of: no other entry needs
        # to learn about it
        self._rescan(s)
