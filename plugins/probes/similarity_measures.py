"""Representation-similarity measures (numpy/scipy, float64).

Vector measures take two ``(n, d)`` arrays whose rows are the same examples (the widths may
differ) and return one number:

- :func:`rsa`: Spearman correlation of the upper triangles of the two representational
  dissimilarity matrices (cosine distance by default). Above :data:`RSA_MAX_ROWS` rows it uses a
  fixed seeded subset of rows (seed :data:`RSA_SEED`), so memory stays bounded.
- :func:`linear_cka`: linear CKA (Kornblith et al. 2019), in feature space: O(n·d²) time,
  O(n·d) memory.
- :func:`debiased_linear_cka`: linear CKA with the unbiased HSIC estimator (Song et al. 2012;
  Nguyen et al. 2021), for small n; needs n ≥ 4.
- :func:`svcca`: SVD of each side to the directions keeping 99% of the variance, then the mean
  canonical correlation (Raghu et al. 2017).
- :func:`pwcca`: projection-weighted CCA (Morcos et al. 2018): canonical correlations weighted by
  how much of the side with fewer neurons each canonical variate accounts for.

:func:`attention_js` compares attention maps: the Jensen–Shannon divergence (natural log, so in
[0, ln 2]) between each query token's attention distributions, averaged over tokens and sentences,
per head and overall.

A degenerate input (too few rows, a constant representation, CCA with more kept directions than
examples allow) raises :class:`MeasureError` naming the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ftprobe.errors import FtprobeError

RSA_MAX_ROWS = 5000
RSA_SEED = 0
SVCCA_KEEP = 0.99
CCA_RANK_TOL = 1e-8  # singular values below this fraction of the largest count as rank loss


class MeasureError(FtprobeError):
    """A measure cannot be computed on these inputs (the message says why)."""


def _pair(a: Any, b: Any, name: str, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise MeasureError(f"{name}: inputs must be (examples, dims) matrices")
    if a.shape[0] != b.shape[0]:
        raise MeasureError(
            f"{name}: the two representations have {a.shape[0]} and {b.shape[0]} rows; "
            "give the same examples to both"
        )
    if a.shape[0] < min_rows:
        raise MeasureError(f"{name} needs at least {min_rows} examples, got {a.shape[0]}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise MeasureError(f"{name}: the representations contain NaN or infinite values")
    return a, b


def _centered(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=0, keepdims=True)


# ----------------------------------------------------------------------------- RSA
def rdm(x: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Condensed representational dissimilarity matrix (upper triangle, row-major)."""
    from scipy.spatial.distance import pdist

    if metric == "cosine" and (np.linalg.norm(x, axis=1) == 0).any():
        raise MeasureError(
            "rsa: a representation has an all-zero row; cosine distance is undefined"
        )
    return pdist(x, metric=metric)


def subsample_rows(n: int, cap: int, seed: int = RSA_SEED) -> np.ndarray:
    """Sorted indices of a fixed seeded subset of ``cap`` of ``n`` rows (all when n ≤ cap)."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their average rank (as ``scipy.stats.rankdata``,
    about twice as fast on millions of values)."""
    order = np.argsort(x)
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    counts = np.diff(np.r_[starts, len(x)])
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(starts + (counts + 1) / 2, counts)
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson of average ranks)."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    return float(rx @ ry / np.sqrt((rx @ rx) * (ry @ ry)))


def rsa(a: Any, b: Any, *, metric: str = "cosine", max_rows: int = RSA_MAX_ROWS) -> float:
    """Spearman correlation of the two RDMs' upper triangles."""
    a, b = _pair(a, b, "rsa", min_rows=3)
    keep = subsample_rows(len(a), max_rows)
    da, db = rdm(a[keep], metric), rdm(b[keep], metric)
    if np.ptp(da) == 0 or np.ptp(db) == 0:
        raise MeasureError("rsa: every pair of examples is equally dissimilar in one model")
    return spearman(da, db)


# ----------------------------------------------------------------------------- CKA
def linear_cka(a: Any, b: Any) -> float:
    """Linear CKA: ||AᵀB||²_F / (||AᵀA||_F ||BᵀB||_F) on column-centred A, B."""
    a, b = _pair(a, b, "cka")
    a, b = _centered(a), _centered(b)
    xx = np.linalg.norm(a.T @ a)
    yy = np.linalg.norm(b.T @ b)
    if xx == 0 or yy == 0:
        raise MeasureError("cka: one representation is constant over the examples")
    return float(np.linalg.norm(a.T @ b) ** 2 / (xx * yy))


def _hsic_u(a: np.ndarray, b: np.ndarray, ka: np.ndarray, kb: np.ndarray) -> float:
    """n(n-3) times the unbiased HSIC of linear kernels of column-centred ``a``, ``b``
    (``ka``, ``kb``: squared row norms), without forming the n×n Gram matrices."""
    n = len(a)
    return float(
        np.linalg.norm(a.T @ b) ** 2
        - n / (n - 2) * ka @ kb
        + ka.sum() * kb.sum() / ((n - 1) * (n - 2))
    )


def debiased_linear_cka(a: Any, b: Any) -> float:
    """Linear CKA from the unbiased HSIC estimator (less biased upward for small n)."""
    a, b = _pair(a, b, "cka-debiased", min_rows=4)
    a, b = _centered(a), _centered(b)
    ka, kb = (a * a).sum(axis=1), (b * b).sum(axis=1)
    xy = _hsic_u(a, b, ka, kb)
    xx = _hsic_u(a, a, ka, ka)
    yy = _hsic_u(b, b, kb, kb)
    if xx <= 0 or yy <= 0:
        raise MeasureError(
            "cka-debiased: a representation has no estimated variance at these few examples; "
            "use more examples or plain cka"
        )
    return float(xy / np.sqrt(xx * yy))


# ----------------------------------------------------------------------------- CCA
def _basis(x: np.ndarray, keep: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis (n, k) of centred ``x``'s column space and its singular values.

    ``keep``: the fewest leading directions explaining that fraction of the variance; None:
    every direction above the rank tolerance."""
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        raise MeasureError("one representation is constant over the examples")
    rank = int((s > CCA_RANK_TOL * s[0]).sum())
    if keep is not None:
        var = np.cumsum(s**2) / np.sum(s**2)
        rank = min(rank, int(np.searchsorted(var, keep - 1e-12) + 1))
    return u[:, :rank], s[:rank]


def _check_room(name: str, n: int, ka: int, kb: int) -> None:
    # Both bases live in the (n-1)-dimensional space of centred columns: when ka + kb ≥ n
    # they must share a direction, so some correlations are 1 whatever the representations.
    if ka + kb >= n:
        raise MeasureError(
            f"{name}: {n} examples are too few for CCA on {ka} + {kb} directions (some "
            f"correlations would be 1 by construction); use more than {ka + kb} examples"
        )


def cca(ua: np.ndarray, ub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical correlations (descending) of two orthonormal bases, and the canonical
    variates of the first, (n, k) with orthonormal columns."""
    from scipy.linalg import svd

    # gesvd: the divide-and-conquer default is pathologically slow (seconds) on the
    # near-identity matrices that similar representations give
    p, rho, _ = svd(ua.T @ ub, full_matrices=False, lapack_driver="gesvd")
    return np.clip(rho, 0.0, 1.0), ua @ p


def svcca(a: Any, b: Any, *, keep: float = SVCCA_KEEP) -> float:
    """Mean canonical correlation of the top directions keeping ``keep`` of each variance."""
    a, b = _pair(a, b, "svcca", min_rows=3)
    ua, _ = _basis(_centered(a), keep)
    ub, _ = _basis(_centered(b), keep)
    _check_room("svcca", len(a), ua.shape[1], ub.shape[1])
    rho, _ = cca(ua, ub)
    return float(rho.mean())


def pwcca(a: Any, b: Any) -> float:
    """Projection-weighted CCA: correlations weighted by Σ_j |⟨h_i, x_j⟩| over the neurons x_j
    of the side with fewer neurons (``a`` on a tie), h_i its canonical variates."""
    a, b = _pair(a, b, "pwcca", min_rows=3)
    a, b = _centered(a), _centered(b)
    if b.shape[1] < a.shape[1]:
        a, b = b, a
    ua, _ = _basis(a, None)
    ub, _ = _basis(b, None)
    _check_room("pwcca", len(a), ua.shape[1], ub.shape[1])
    rho, h = cca(ua, ub)
    weights = np.abs(h.T @ a).sum(axis=1)
    return float(weights @ rho / weights.sum())


# ----------------------------------------------------------------------- attention
def js_divergence(p: Any, q: Any, axis: int = -1) -> np.ndarray:
    """Jensen–Shannon divergence (natural log, in [0, ln 2]) between distributions along
    ``axis``; inputs are normalised to sum to 1."""
    from scipy.special import rel_entr

    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise MeasureError(f"attn-js: distributions of shapes {p.shape} and {q.shape} differ")
    if (p < 0).any() or (q < 0).any():
        raise MeasureError("attn-js: attention weights must not be negative")
    ps, qs = p.sum(axis=axis, keepdims=True), q.sum(axis=axis, keepdims=True)
    if (ps <= 0).any() or (qs <= 0).any():
        raise MeasureError("attn-js: an attention row sums to 0; exclude padding positions")
    p, q = p / ps, q / qs
    m = 0.5 * (p + q)
    js = 0.5 * (rel_entr(p, m).sum(axis=axis) + rel_entr(q, m).sum(axis=axis))
    return np.clip(js, 0.0, np.log(2.0))


def attention_js(a: Sequence[Any], b: Sequence[Any]) -> dict[str, Any]:
    """JS divergence of two models' attention maps of one layer: ``a[s]``, ``b[s]`` are the
    (heads, T, T) maps of sentence ``s`` (padding removed; row t = query t's distribution
    over keys). Averaged over every query token of every sentence, per head and overall."""
    if len(a) != len(b):
        raise MeasureError(f"attn-js: {len(a)} and {len(b)} sentences; give the same sentences")
    if not a:
        raise MeasureError("attn-js needs at least one sentence")
    total: np.ndarray | None = None
    tokens = 0
    for s, (x, y) in enumerate(zip(a, b, strict=True)):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 3 or x.shape[1] != x.shape[2]:
            raise MeasureError(f"attn-js: sentence {s} map has shape {x.shape}, not (heads, T, T)")
        if x.shape != y.shape:
            raise MeasureError(
                f"attn-js: sentence {s} maps have shapes {x.shape} and {y.shape}; both models "
                "must share the tokenizer and head count"
            )
        per_head = js_divergence(x, y).sum(axis=1)  # (heads,)
        if total is None:
            total = np.zeros_like(per_head)
        elif total.shape != per_head.shape:
            raise MeasureError("attn-js: sentences have different head counts")
        total += per_head
        tokens += x.shape[1]
    assert total is not None
    heads = total / tokens
    return {"mean": float(heads.mean()), "per_head": [float(v) for v in heads]}
