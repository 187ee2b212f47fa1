"""Statistics that compare two probed spaces: distance-vector correlation, min-distance change.

Missing entries (``None`` or NaN, e.g. a label pair absent from one split) are removed from a
comparison, never counted as 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def paired(a: Sequence[Any], b: Sequence[Any]) -> tuple[list[float], list[float]]:
    """The entries present (not None/NaN) in both vectors, as two aligned lists."""
    if len(a) != len(b):
        raise ValueError(f"distance vectors differ in length: {len(a)} vs {len(b)}")
    xs, ys = [], []
    for u, v in zip(a, b, strict=True):
        x, y = _number(u), _number(v)
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def pearson(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Pearson correlation over the entries present in both; None when fewer than 2 remain or
    either side is constant (the correlation is undefined, not 0)."""
    xs, ys = paired(a, b)
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0.0 or syy <= 0.0:
        return None
    r = sxy / math.sqrt(sxx * syy)
    return max(-1.0, min(1.0, r))


def min_distance_change(
    before: Mapping[str, Any], after: Mapping[str, Any], *, tol: float = 1e-9
) -> dict[str, Any]:
    """Compare per-label minimum distances (label -> distance) before and after.

    Returns counts of labels whose distance ``increased`` / ``decreased`` / stayed
    ``unchanged`` (within ``tol``), the ``mean_change`` (after - before, over labels present in
    both), ``n_compared`` and the ``per_label`` detail.
    """
    per_label: dict[str, dict[str, float]] = {}
    for label in sorted(set(before) & set(after)):
        b, a = _number(before[label]), _number(after[label])
        if b is None or a is None:
            continue
        per_label[label] = {"before": b, "after": a, "change": a - b}
    changes = [d["change"] for d in per_label.values()]
    return {
        "increased": sum(c > tol for c in changes),
        "decreased": sum(c < -tol for c in changes),
        "unchanged": sum(abs(c) <= tol for c in changes),
        "mean_change": (sum(changes) / len(changes)) if changes else None,
        "n_compared": len(changes),
        "per_label": per_label,
    }
