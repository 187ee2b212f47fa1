"""DirectProbe plugin (Zhou & Srikumar, NAACL 2021): an exact, fast clustering probe.

Options (``--probe-option key=value``): ``top_k`` (clusters listed per test point in
predictions.txt, default 3), ``all_pairs_limit`` (compute every cross-label cluster distance up to
this many pairs, else only those that decide each label pair's minimum; default 5000),
``label_lp_limit`` (largest pair of label sets tested for separability by one LP; default 1500),
``lp_engine`` (the hull-gap LPs' engine: ``dense``, the numba simplex of dense_simplex.py, the
default; ``highs``; ``shadow``, both on every solve, raising when they decide differently;
default: the environment variable ``FTPROBE_LP_ENGINE``, else ``dense``). The engine never
changes the clusters: every decision is certified in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from ftprobe import hookimpl
from ftprobe.api import ProbeSpec

if TYPE_CHECKING:  # pragma: no cover
    from ftprobe.api import ProbeData, ProbeResult

    from .clustering import ClusterResult


def _as_int(name: str, value: Any) -> int:
    from ftprobe.errors import FtprobeError

    try:
        out = int(value)
    except (TypeError, ValueError):
        raise FtprobeError(
            f"directprobe option {name}={value!r} is not an integer; give e.g. {name}=3"
        ) from None
    if out < 1:
        raise FtprobeError(f"directprobe option {name}={value!r} must be at least 1")
    return out


@dataclass
class DirectProbeOptions:
    """DirectProbe's options (``-o key=value``)."""

    top_k: int = field(default=3, metadata={"help": "nearest clusters listed per test point"})
    all_pairs_limit: int = field(
        default=5000,
        metadata={"help": "cross-label cluster pairs up to which every distance is computed"},
    )
    label_lp_limit: int = field(
        default=1500, metadata={"help": "largest label pair given one whole-label LP"}
    )
    lp_engine: str = field(
        default="dense",
        metadata={"help": "hull-gap LP engine: dense, highs or shadow (both, checked)"},
    )


class DirectProbe:
    """Fit: cluster the training vectors. Evaluate: nearest-hull accuracy and distance report.

    After ``fit``: ``clusters_`` (a :class:`ClusterResult`), ``members_`` (point indices per
    cluster), ``train_`` (the training data).
    """

    OPTIONS = tuple(f.name for f in fields(DirectProbeOptions))

    def __init__(self, **options: Any):
        from ftprobe.errors import FtprobeError

        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise FtprobeError(
                f"unknown directprobe option {unknown[0]!r}; known: {', '.join(self.OPTIONS)}"
            )
        self.top_k = _as_int("top_k", options.get("top_k", 3))
        self.all_pairs_limit = _as_int("all_pairs_limit", options.get("all_pairs_limit", 5000))
        self.label_lp_limit = _as_int("label_lp_limit", options.get("label_lp_limit", 1500))
        from .geometry import LP_ENGINES

        self.lp_engine = options.get("lp_engine")
        if self.lp_engine is not None and self.lp_engine not in LP_ENGINES:
            raise FtprobeError(
                f"directprobe option lp_engine={self.lp_engine!r}: use one of "
                f"{', '.join(LP_ENGINES)}"
            )
        self.clusters_: ClusterResult | None = None

    def fit(self, train: ProbeData, *, seed: int = 0) -> None:
        """Cluster ``train`` (deterministic; ``seed`` is unused)."""
        import numpy as np

        from ftprobe.errors import FtprobeError

        from .clustering import directprobe_clusters

        X = np.asarray(train.X)
        if X.ndim != 2 or len(X) != len(train.y) or len(X) == 0:
            raise FtprobeError(
                f"directprobe needs X of shape (n, d) with one label per row; got X {X.shape} "
                f"and {len(train.y)} labels"
            )
        if not np.isfinite(X).all():
            raise FtprobeError("directprobe: the training vectors contain NaN or inf; re-extract")
        self.train_ = train
        self.X64_ = np.ascontiguousarray(X, dtype=np.float64)
        self.clusters_ = directprobe_clusters(
            self.X64_,
            np.asarray(train.y),
            label_lp_limit=self.label_lp_limit,
            lp_engine=self.lp_engine,
        )
        self.members_ = self.clusters_.members()

    def evaluate(self, test: ProbeData) -> ProbeResult:
        from ftprobe.errors import FtprobeError

        if self.clusters_ is None:
            raise FtprobeError("directprobe: call fit() before evaluate()")
        if list(test.labels) != list(self.train_.labels):
            raise FtprobeError("directprobe: test labels differ from the train label inventory")
        from .report import build_result

        return build_result(self, test)


def distance_stats(X, y, labels: list[str], assign=None, **kw: Any) -> dict[str, Any]:
    """``vec``, ``label_pairs``, ``outside_min``, ``inside_mean``, ``inside_max`` of a clustering
    of (X, y); with ``assign`` None, DirectProbe clusters (X, y) first (e.g. to fit on test)."""
    from ftprobe.api import ProbeData

    from .report import stats_dict

    probe = DirectProbe(**kw)
    if assign is None:
        probe.fit(ProbeData(X=X, y=y, labels=list(labels)))
        return stats_dict(probe)
    import numpy as np

    from .clustering import ClusterResult

    keys, inv = np.unique(np.asarray(assign), return_inverse=True)
    first = [int(np.flatnonzero(inv == i)[0]) for i in range(len(keys))]
    probe.train_ = ProbeData(X=X, y=y, labels=list(labels))
    probe.X64_ = np.ascontiguousarray(X, dtype=np.float64)
    probe.clusters_ = ClusterResult(assign=inv, cluster_labels=np.asarray(y)[first])
    probe.members_ = probe.clusters_.members()
    return stats_dict(probe)


@hookimpl
def register_probes(register):
    register(
        ProbeSpec(
            name="directprobe",
            description="DirectProbe: label-pure clusters with disjoint convex hulls (exact LP/QP)",
            factory=DirectProbe,
            provides=("accuracy", "geometry"),
            default_for=("run", "geometry"),
            options=DirectProbeOptions,
        )
    )
