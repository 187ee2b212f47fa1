"""The human tables of the studies' records: columns and rows, printed by the CLI."""

from __future__ import annotations

from typing import Any

from ftprobe.api import ProbeResult


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def run_rows(record: dict[str, Any], results: dict[int, ProbeResult]) -> list[list[str]]:
    """One row per probed layer: the main metric and the typed parts' headline numbers."""
    rows = []
    for layer, result in results.items():
        metrics = record["layers"][str(layer)]
        main = metrics["main_metric"]
        extra = []
        if result.geometry is not None:
            g = result.geometry
            extra += [f"clusters={g.clusters}", f"separable={g.separable}"]
        if result.accuracy is not None:
            a = result.accuracy
            extra += [
                f"{k}={_fmt(v)}"
                for k, v in (("std", a.std), ("majority", a.majority))
                if v is not None
            ]
        if result.codelength is not None:
            c = result.codelength
            extra += [f"online={c.online_bits:.1f} bits", f"uniform={c.uniform_bits:.1f} bits"]
        rows.append([str(layer), f"{main}={_fmt(metrics[main])}", " ".join(extra)])
    return rows


def compare_control_rows(record: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the control comparison (one row per layer)."""

    def f(x: Any, spec: str = ".3f") -> str:
        return "-" if x is None else format(x, spec)

    cols = ["layer", "control b", "control a", "selectivity b", "selectivity a", "clusters b/a"]
    rows = []
    for r in (record.get("controls") or {}).get("layers", []):
        b, a = r["before"], r["after"]
        rows.append(
            [
                str(r["layer"]),
                f(b["control_accuracy"]),
                f(a["control_accuracy"]),
                f(b["selectivity"], "+.3f"),
                f(a["selectivity"], "+.3f"),
                f"{b['control_clusters']}/{a['control_clusters']}",
            ]
        )
    return cols, rows


def compare_rows(record: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the human table (one row per layer)."""

    def f(x: Any, spec: str = ".3f") -> str:
        return "-" if x is None else format(x, spec)

    cols = [
        "layer",
        "clf b",
        "clf a",
        "clusters b/a",
        "labels",
        "min-d +/-",
        "mean Δ",
        "r b/a",
        "r tt b",
        "r tt a",
    ]
    rows = []
    for r in record["layers"]:
        geo, md = r["geometry"], r["min_distance"]
        rows.append(
            [
                str(r["layer"]),
                f(r["accuracy"]["before"]),
                f(r["accuracy"]["after"]),
                f"{geo['before'].get('clusters')}/{geo['after'].get('clusters')}",
                str(geo["before"].get("train_labels") or geo["before"].get("labels")),
                f"{md['increased']}/{md['decreased']}",
                f(md["mean_change"], "+.4f"),
                f(r["before_after_similarity"]),
                f(r["train_test_similarity"]["before"]),
                f(r["train_test_similarity"]["after"]),
            ]
        )
    return cols, rows


def similarity_rows(record: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the printed layer × measure table."""
    measures = record["measures"]
    cols = ["layer"] + [m["name"] + (" ↓" if m["kind"] == "divergence" else " ↑") for m in measures]
    rows = []
    for r in record["layers"]:
        cells = [str(r["layer"])]
        for m in measures:
            v = r["scores"].get(m["name"])
            cells.append("-" if v is None else f"{v:.4f}")
        rows.append(cells)
    return cols, rows


def selectivity_rows(record: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per layer: task and control accuracy, selectivity, clusters and compression."""

    def get(row: dict[str, Any], side: str, part: str, key: str) -> Any:
        return row[side].get(part, {}).get(key)

    cols = ["layer", "task acc", "control acc", "selectivity", "clusters t/c", "compression t/c"]
    rows = []
    for r in record["layers"]:
        clusters = [get(r, s, "geometry", "clusters") for s in ("task", "control")]
        comp = [get(r, s, "codelength", "compression") for s in ("task", "control")]
        rows.append(
            [
                str(r["layer"]),
                _fmt(get(r, "task", "accuracy", "mean")),
                _fmt(get(r, "control", "accuracy", "mean")),
                _fmt(r.get("selectivity")),
                "-" if clusters[0] is None else f"{clusters[0]}/{clusters[1]}",
                "-" if comp[0] is None else f"{comp[0]:.3f}/{comp[1]:.3f}",
            ]
        )
    return cols, rows
