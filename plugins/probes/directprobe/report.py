"""What DirectProbe reports about a clustering: hull distances between clusters of different labels,
label-pair distances (``vec``), per-label ``outside_min``, ``inside_mean`` / ``inside_max``, and
nearest-hull predictions; plus the seed code's text files.

Predictions need, per test point, only the k nearest hulls exactly. Bounds written here (not a
solver's) skip the rest: a few Frank-Wolfe steps for all test points at once per cluster (one
matrix product each) give lower bounds far tighter than bounding spheres in high dimension, and a
QP stops once its plane shows its hull is beyond the k-th distance known; every reported
distance is still an exact QP's."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from ftprobe.api import id_column

from .clustering import canonical_dist, centroid_radius
from .geometry import hull_distance


@dataclass
class HullPair:
    a: int  # cluster ids, a < b
    b: int
    distance: float


def _spheres(X: np.ndarray, members: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    cr = [centroid_radius(X[m]) for m in members]
    return np.array([c for c, _ in cr]), np.array([r for _, r in cr])


def cluster_distances(
    X: np.ndarray,
    members: list[np.ndarray],
    cluster_labels: np.ndarray,
    all_pairs_limit: int = 5000,
) -> list[HullPair]:
    """Exact hull distances between clusters of different labels.

    Every such pair when there are at most ``all_pairs_limit``; else, per label pair, only the
    pairs needed to know its minimum exactly (best-first on the sphere lower bound).
    """
    cents, rads = _spheres(X, members)
    k = len(members)
    pairs = [
        (a, b) for a in range(k) for b in range(a + 1, k) if cluster_labels[a] != cluster_labels[b]
    ]
    if len(pairs) <= all_pairs_limit:
        return [HullPair(a, b, hull_distance(X[members[a]], X[members[b]])) for a, b in pairs]
    out: list[HullPair] = []
    by_label: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
    for a, b in pairs:
        la, lb = sorted((int(cluster_labels[a]), int(cluster_labels[b])))
        lower = max(0.0, float(np.linalg.norm(cents[a] - cents[b])) - rads[a] - rads[b])
        by_label.setdefault((la, lb), []).append((lower, a, b))
    for key in sorted(by_label):
        queue = by_label[key]
        heapq.heapify(queue)
        best = np.inf
        while queue and queue[0][0] < best:
            _, a, b = heapq.heappop(queue)
            d = hull_distance(X[members[a]], X[members[b]])
            out.append(HullPair(a, b, d))
            best = min(best, d)
    return sorted(out, key=lambda p: (p.a, p.b))


def label_pair_vector(
    pairs: list[HullPair], cluster_labels: np.ndarray, n_labels: int
) -> tuple[list[float | None], list[tuple[int, int]]]:
    """Minimum hull distance per label pair (i < j, sorted label order); None when no pair."""
    best: dict[tuple[int, int], float] = {}
    for p in pairs:
        key = tuple(sorted((int(cluster_labels[p.a]), int(cluster_labels[p.b]))))
        best[key] = min(best.get(key, np.inf), p.distance)  # type: ignore[index]
    order = [(i, j) for i in range(n_labels) for j in range(i + 1, n_labels)]
    return [best.get(ij) for ij in order], order


def outside_min(vec: list[float | None], order: list[tuple[int, int]], n_labels: int) -> list:
    """Per label: the minimum distance to any other label (None when it has no neighbour)."""
    out: list[float | None] = [None] * n_labels
    for v, (i, j) in zip(vec, order, strict=True):
        if v is None:
            continue
        for a in (i, j):
            out[a] = v if out[a] is None else min(out[a], v)
    return out


def _pair_stats(Xm: np.ndarray, block: int = 2048) -> tuple[float, float, int]:
    """Sum, max and count of pairwise distances within Xm (blockwise, no n^2 memory)."""
    n = len(Xm)
    total, mx = 0.0, 0.0
    for i in range(0, n, block):
        A = Xm[i : i + block]
        for j in range(i, n, block):
            B = Xm[j : j + block]
            d2 = (A**2).sum(1)[:, None] + (B**2).sum(1)[None, :] - 2.0 * A @ B.T
            d = np.sqrt(np.clip(d2, 0.0, None))
            if i == j:
                d = d[np.triu_indices(len(A), 1)]
            total += float(d.sum())
            mx = max(mx, float(d.max(initial=0.0)))
    return total, mx, n * (n - 1) // 2


def inside_stats(
    X: np.ndarray, members: list[np.ndarray], cluster_labels: np.ndarray, n_labels: int
) -> tuple[list[float | None], list[float | None]]:
    """Per label, over its clusters of two or more points: the mean of all within-cluster pairwise
    distances (pooled over clusters, i.e. weighted by pair count) and their maximum."""
    sums = np.zeros(n_labels)
    maxs = np.zeros(n_labels)
    counts = np.zeros(n_labels, dtype=np.int64)
    for m, lab in zip(members, cluster_labels, strict=True):
        if len(m) < 2:
            continue
        s, mx, c = _pair_stats(X[m])
        sums[lab] += s
        maxs[lab] = max(maxs[lab], mx)
        counts[lab] += c
    mean = [float(sums[i] / counts[i]) if counts[i] else None for i in range(n_labels)]
    mxl = [float(maxs[i]) if counts[i] else None for i in range(n_labels)]
    return mean, mxl


# the k-th best exact distance so far, plus this much (relative, at least this much in absolute
# units), is the bar a cluster's bound must exceed to be skipped: room for the rounding of the
# bounds and the QP's tolerance
BOUND_SLACK = 1e-6
FW_ROUNDS = 4  # rounds of Frank-Wolfe steps that tighten the point-to-hull bounds before any QP,
FW_STEPS = 5  # of this many steps each; the candidates are pruned between rounds
BOUND_BLOCK = 1 << 24  # test points bounded at once: this many products with training points


def _frank_wolfe_bounds(
    S: np.ndarray, T: np.ndarray, ST: np.ndarray, H: np.ndarray, steps: int = FW_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the distances from each row x of T to the hull of S, after
    ``steps`` Frank-Wolfe steps (exact line search) of all of them at once from the hull
    points H (rows, updated in place; ``ST``: S @ T.T). Upper: the distance to the last
    iterate h. Lower: with u = h - x, every hull point lies at least min_s (s - x)·u / |u|
    beyond x (the products come from one matrix product per step; their rounding is
    subtracted). Valid after any number of steps; the QPs make them exact."""
    ss = np.einsum("ij,ij->i", S, S)
    xx = np.einsum("ij,ij->i", T, T)
    cols = np.arange(len(T))
    lower = np.zeros(len(T))
    err = 1e-12 * (float(ss.max()) + xx)  # (rounding of the expanded products, generously)
    for _ in range(steps):
        U = H - T
        u2 = np.einsum("ij,ij->i", U, U)
        hx = np.einsum("ij,ij->i", H, T)
        # (s - x)·(h - x) = s·h - s·x - x·h + x·x
        Gm = S @ H.T - ST - (hx - xx)[None, :]
        s = np.argmin(Gm, axis=0)
        nu = np.sqrt(u2)
        ok = nu > 0.0
        lower[ok] = np.maximum(lower[ok], (Gm[s, cols][ok] - err[ok]) / nu[ok])
        D = S[s] - H
        dd = np.einsum("ij,ij->i", D, D)
        gam = np.clip(-np.einsum("ij,ij->i", U, D) / np.where(dd > 0.0, dd, 1.0), 0.0, 1.0)
        H += gam[:, None] * D
    upper = np.sqrt(np.einsum("ij,ij->i", H - T, H - T))
    return np.maximum(lower, 0.0), upper


def _point_hull_bounds(
    sets: list[np.ndarray], cents: np.ndarray, rads: np.ndarray, T: np.ndarray, k: int
) -> np.ndarray:
    """Lower bounds of the distances from each test point (rows of T) to each hull (columns):
    the bounding sphere's, raised by rounds of Frank-Wolfe steps (``_frank_wolfe_bounds``,
    from the nearest training point of the cluster) for the hulls that can still be among the
    k nearest: those whose lower bound does not exceed the k-th smallest upper bound (a
    distance to a hull point) of the test point, recomputed every round."""
    lower = np.maximum(np.stack([canonical_dist(cents, x) for x in T]) - rads[None, :], 0.0)
    prods = [S @ T.T for S in sets]
    nearest = []
    for S, ST in zip(sets, prods, strict=True):
        d2 = np.einsum("ij,ij->i", S, S)[:, None] - 2.0 * ST
        nearest.append(np.argmin(d2, axis=0))
    upper = np.stack(
        [np.sqrt(((S[j] - T) ** 2).sum(axis=1)) for S, j in zip(sets, nearest, strict=True)],
        axis=1,
    )
    state: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # cluster -> (test rows, iterates)
    for _ in range(FW_ROUNDS):
        kth = np.sort(upper, axis=1)[:, k - 1]
        bar = kth + BOUND_SLACK * np.maximum(kth, 1.0)
        for c, (S, ST) in enumerate(zip(sets, prods, strict=True)):
            if len(S) == 1:  # (the sphere bound is the distance)
                continue
            cand = np.flatnonzero(lower[:, c] <= bar)
            if c in state:
                rows, H = state[c]
                keep = np.isin(rows, cand)
                rows, H = rows[keep], H[keep]
            else:
                rows, H = cand, S[nearest[c][cand]].copy()
            if not len(rows):
                state[c] = (rows, H)
                continue
            lo, up = _frank_wolfe_bounds(S, T[rows], ST[:, rows], H)
            lower[rows, c] = np.maximum(lower[rows, c], lo)
            upper[rows, c] = np.minimum(upper[rows, c], up)
            state[c] = (rows, H)
    return lower


def nearest_hulls(
    X: np.ndarray,
    members: list[np.ndarray],
    points: np.ndarray,
    top_k: int = 3,
) -> list[list[tuple[int, float]]]:
    """For each point, the ``top_k`` clusters nearest to it, by exact point-to-hull distance
    (0 inside), ties by cluster id. Clusters are taken in the order of their sphere lower bound;
    once k distances are known, a cluster whose bound exceeds the k-th (with ``BOUND_SLACK``)
    is never solved, and a solve stops as soon as its plane shows the distance exceeds it
    (``hull_distance``'s ``above``), so the answer is that of solving every cluster."""
    cents, rads = _spheres(X, members)
    sets = [X[m] for m in members]
    kept = [(S.mean(axis=0), float(np.abs(S).max())) for S in sets]
    k = min(top_k, len(members))
    out: list[list[tuple[int, float]]] = []
    T = np.asarray(points, dtype=np.float64)
    if not len(T) or not k:
        return [[] for _ in T]
    # the bounds of a block of test points hold one product per training point and test point
    block = max(8, BOUND_BLOCK // max(len(X), 1))
    for at in range(0, len(T), block):
        Tb = T[at : at + block]
        for x, lower in zip(Tb, _point_hull_bounds(sets, cents, rads, Tb, k), strict=True):
            order = np.lexsort((np.arange(len(members)), lower))
            found: list[tuple[float, int]] = []
            for c in order.tolist():
                bar = np.inf
                if len(found) >= k:  # only a distance up to the k-th (with slack) matters now
                    bar = found[k - 1][0] + BOUND_SLACK * max(found[k - 1][0], 1.0)
                    if lower[c] > bar:
                        break
                d = hull_distance(sets[c], x[None, :], above=bar, p_stats=kept[c])
                if d <= bar:
                    found.append((d, c))
                    found.sort()
            out.append([(c, d) for d, c in found[:k]])
    return out


def stats_dict(probe) -> dict:
    """Distance statistics of a fitted probe (see :func:`distance_stats`), with the raw pairs."""
    X, labels = probe.X64_, list(probe.train_.labels)
    members, clabels = probe.members_, probe.clusters_.cluster_labels
    n_labels = len(labels)
    pairs = cluster_distances(X, members, clabels, probe.all_pairs_limit)
    vec, order = label_pair_vector(pairs, clabels, n_labels)
    omin = outside_min(vec, order, n_labels)
    imean, imax = inside_stats(X, members, clabels, n_labels)
    return {
        "vec": vec,
        "label_pairs": [[labels[i], labels[j]] for i, j in order],
        "outside_min": dict(zip(labels, omin, strict=True)),
        "inside_mean": dict(zip(labels, imean, strict=True)),
        "inside_max": dict(zip(labels, imax, strict=True)),
        "_pairs": pairs,
    }


def _fmt(v: float | None) -> str:
    return "nan" if v is None else f"{v:.6f}"


def build_result(probe, test):
    """The ProbeResult of a fitted probe on ``test``: metrics and the seed code's text files."""
    from ftprobe.api import Accuracy, Geometry, ProbeResult

    cr = probe.clusters_
    labels = list(probe.train_.labels)
    stats = stats_dict(probe)
    pairs = stats.pop("_pairs")
    ranked = nearest_hulls(probe.X64_, probe.members_, test.X, probe.top_k)
    ytest = np.asarray(test.y)
    pred = np.array([cr.cluster_labels[r[0][0]] for r in ranked], dtype=np.int64)
    acc = float((pred == ytest).mean()) if len(ytest) else float("nan")
    n_labels = len(labels)
    metrics = {
        "accuracy": acc,
        "n_clusters": cr.n_clusters,
        "n_labels": n_labels,
        "n_train_labels": int(len(np.unique(probe.train_.y))),
        "linearly_separable": cr.n_clusters == int(len(np.unique(probe.train_.y))),
        **stats,
        "lp_calls": cr.lp_calls,
        "lp_retries": cr.lp_retries,
        "lp_unresolved": cr.lp_unresolved,
        "lp_avoided": cr.lp_avoided,
        "merges": cr.merges,
        "rejected_merges": cr.rejected,
        "separable_label_pairs": cr.separable_label_pairs,
        "fit_seconds": round(cr.seconds, 3),
        "fit_phase_seconds": cr.phase_seconds,
        # the gray-zone rule (clustering.py): threshold and smallest certified gap in units
        # of the run's scale (null: no separation was needed), overlaps it decided
        "gray_zone": {
            "touch": cr.touch,
            "smallest_gap": cr.smallest_gap if np.isfinite(cr.smallest_gap) else None,
            "pairs": cr.gray_zone,
        },
        "cluster_distances_computed": len(pairs),
        "inside_aggregation": "pooled over within-cluster pairs, clusters of >= 2 points",
    }
    lab = [labels[int(c)] for c in cr.cluster_labels]
    files = {
        "clusters.txt": "".join(f"{c}\n" for c in cr.assign.tolist()),
        "predictions.txt": "".join(
            id_column(test, i)
            + labels[int(g)]
            + "".join(f"\t{c}-{lab[c]},{d:.6f}" for c, d in r)
            + "\n"
            for i, (g, r) in enumerate(zip(ytest.tolist(), ranked, strict=True))
        ),
        "dis.txt": "".join(
            f"({p.a}-{lab[p.a]}, {p.b}-{lab[p.b]}): {p.distance:.6f}\n" for p in pairs
        ),
        "vec.txt": "".join(
            f"{a}\t{b}\t{_fmt(v)}\n"
            for (a, b), v in zip(stats["label_pairs"], stats["vec"], strict=True)
        ),
        "outside_min.txt": "".join(f"{k}: {_fmt(v)}\n" for k, v in stats["outside_min"].items()),
        "inside_mean.txt": "".join(f"{k}: {_fmt(v)}\n" for k, v in stats["inside_mean"].items()),
        "inside_max.txt": "".join(f"{k}: {_fmt(v)}\n" for k, v in stats["inside_max"].items()),
        "log.txt": (
            f"train points: {len(cr.assign)}\nlabels: {n_labels}\n"
            f"final number of clusters: {cr.n_clusters}\n"
            f"linearly separable: {metrics['linearly_separable']}\n"
            f"merges: {cr.merges}\nrejected merges: {cr.rejected}\n"
            f"LP calls: {cr.lp_calls} (retries {cr.lp_retries}, unresolved {cr.lp_unresolved})\n"
            f"LP avoided: {cr.lp_avoided}\n"
            f"test points: {len(ytest)}\naccuracy: {acc:.6f}\n"
        ),
    }
    geometry = Geometry(
        clusters=cr.n_clusters,
        labels=n_labels,
        train_labels=metrics["n_train_labels"],
        separable=metrics["linearly_separable"],
        label_pairs=stats["label_pairs"],
        pair_distances=stats["vec"],
        label_min_distance=stats["outside_min"],
    )
    return ProbeResult(
        metrics=metrics,
        main_metric="accuracy",
        files=files,
        accuracy=Accuracy(mean=acc),
        geometry=geometry,
    )
