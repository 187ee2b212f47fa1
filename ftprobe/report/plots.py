"""PNG plots of stored results (matplotlib, Agg, no pyplot state).

``figure_*`` build a :class:`matplotlib.figure.Figure` from a result record (one panel per
layer where the figure is per layer); ``plot_*`` write it as PNG atomically.
:func:`regenerate` rebuilds every plot of a results directory (``ftprobe plot``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftprobe import atomic
from ftprobe.errors import FtprobeError
from ftprobe.records import RunRecord, read_record
from ftprobe.studies.dynamics import CENTROIDS_FILE, centroid_key, load_centroids

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from matplotlib.figure import Figure

DPI = 110


def _figure(n_panels: int, *, width: float = 4.2, height: float = 3.4, max_cols: int = 4):
    from matplotlib.figure import Figure

    cols = max(1, min(n_panels, max_cols))
    rows = max(1, math.ceil(n_panels / cols))
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(max(1, n_panels))]
    return fig, axes


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    atomic.write_bytes(Path(path), buf.getvalue())
    return Path(path)


# ------------------------------------------------------------------- compare
def figure_compare(record: dict[str, Any]) -> Figure:
    """Three panels over layers: probe accuracy, cluster count, spatial similarity."""
    rows = record["layers"]
    probes = record.get("probes", {})
    xs = [r["layer"] for r in rows]
    fig, (acc, clus, sim) = _figure(3)
    acc.plot(xs, [_nan(r["accuracy"]["before"]) for r in rows], "o-", label="before")
    acc.plot(xs, [_nan(r["accuracy"]["after"]) for r in rows], "s-", label="after")
    acc.set(title=f"{probes.get('accuracy', 'probe')} accuracy", xlabel="layer", ylabel="accuracy")
    geo = [(r["geometry"]["before"], r["geometry"]["after"]) for r in rows]
    clus.plot(xs, [_nan(b.get("clusters")) for b, _ in geo], "o-", label="before")
    clus.plot(xs, [_nan(a.get("clusters")) for _, a in geo], "s-", label="after")
    clus.plot(xs, [_nan(_n_labels(b)) for b, _ in geo], "k:", label="labels")
    clus.set(title=f"{probes.get('geometry', 'probe')} clusters", xlabel="layer", ylabel="clusters")
    sim.plot(xs, [_nan(r["before_after_similarity"]) for r in rows], "o-", label="before/after")
    sim.plot(
        xs,
        [_nan(r["train_test_similarity"]["before"]) for r in rows],
        "^--",
        label="train/test before",
    )
    sim.plot(
        xs,
        [_nan(r["train_test_similarity"]["after"]) for r in rows],
        "v--",
        label="train/test after",
    )
    sim.set(title="spatial similarity (Pearson)", xlabel="layer", ylabel="r")
    for ax in (acc, clus, sim):
        ax.legend(fontsize="small")
        ax.set_xticks(xs)
    cfg = record.get("config", {})
    other = (
        f"fine-tuned on {cfg['finetuned_on']}"
        if cfg.get("finetuned_on")
        else f"vs {cfg.get('after')}"
    )
    fig.suptitle(f"{cfg.get('task')} · {cfg.get('model')} {other}")
    return fig


def plot_compare(record: dict[str, Any], path: Path) -> Path:
    return save(figure_compare(record), path)


# --------------------------------------------------------------- selectivity
def figure_selectivity(record: dict[str, Any]) -> Figure:
    """Task vs control accuracy across layers, and the selectivity (their difference)."""
    rows = record["layers"]
    xs = [r["layer"] for r in rows]
    fig, (acc, sel) = _figure(2)

    def mean(r: dict[str, Any], side: str) -> float:
        return _nan(r[side].get("accuracy", {}).get("mean"))

    acc.plot(xs, [mean(r, "task") for r in rows], "o-", label=record["task"])
    acc.plot(xs, [mean(r, "control") for r in rows], "s--", label=record["control"])
    acc.set(title=f"{record['probe']} accuracy", xlabel="layer", ylabel="accuracy")
    sel.plot(xs, [_nan(r.get("selectivity")) for r in rows], "o-")
    sel.axhline(0.0, color="grey", lw=0.8, ls=":")
    sel.set(title="selectivity (task - control)", xlabel="layer", ylabel="accuracy difference")
    for ax in (acc, sel):
        ax.set_xticks(xs)
    acc.legend(fontsize="small")
    fig.suptitle(f"{record['task']} · {record['encoder']}")
    return fig


def plot_selectivity(record: dict[str, Any], path: Path) -> Path:
    return save(figure_selectivity(record), path)


# ------------------------------------------------------------------ dynamics
def _layers(record: dict[str, Any], layers: Sequence[int] | None) -> list[int]:
    probed = [int(x) for x in record["layers_probed"]]
    if not layers:
        return probed
    bad = [x for x in layers if x not in probed]
    if bad:
        raise FtprobeError(f"layer(s) {bad} were not probed; stored layers: {probed}")
    return list(layers)


def figure_min_distance(record: dict[str, Any], layers: Sequence[int] | None = None) -> Figure:
    """Figure 2: per-label minimum distance across checkpoints, one panel per layer."""
    layers = _layers(record, layers)
    labels = record["task"]["labels"]
    steps = [s["step"] for s in record["steps"]]
    fig, axes = _figure(len(layers))
    for ax, layer in zip(axes, layers, strict=True):
        for label in labels:
            ys = [
                _nan((s["layers"][str(layer)].get("label_min_distance") or {}).get(label))
                for s in record["steps"]
            ]
            if not all(math.isnan(y) for y in ys):
                ax.plot(steps, ys, ".-", label=label, linewidth=1)
        ax.set(title=f"layer {layer}", xlabel="fine-tuning step", ylabel="min distance")
    if len(labels) <= 20:
        axes[-1].legend(fontsize="x-small", ncol=2)
    fig.suptitle(f"per-label minimum distance · {record['task']['name']}")
    return fig


def figure_similarity(record: dict[str, Any], layers: Sequence[int] | None = None) -> Figure:
    """Figure 4: similarity of each layer's space to the original's, across checkpoints."""
    layers = _layers(record, layers)
    steps = [s["step"] for s in record["steps"]]
    fig, (ax,) = _figure(1, width=5.5)
    for layer in layers:
        ys = [_nan(s["layers"][str(layer)].get("similarity_to_original")) for s in record["steps"]]
        ax.plot(steps, ys, "o-", label=f"layer {layer}")
    ax.set(title="before/after spatial similarity", xlabel="fine-tuning step", ylabel="Pearson r")
    ax.legend(fontsize="small")
    return fig


def pca_2d(points: np.ndarray) -> np.ndarray:
    """Project rows onto their first two principal components (zero-padded if rank < 2)."""
    import numpy as np

    centred = points - points.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[:2].T
    if proj.shape[1] < 2:
        proj = np.hstack([proj, np.zeros((len(proj), 2 - proj.shape[1]))])
    return proj


def figure_centroids(
    record: dict[str, Any],
    cents: dict[str, np.ndarray],
    labels: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    max_labels: int = 8,
) -> Figure:
    """Figure 3: PCA of label centroids across checkpoints, one panel per layer; each label's
    trajectory runs from a circle (original) to a star (final)."""
    import numpy as np

    layers = _layers(record, layers)
    all_labels = record["task"]["labels"]
    labels = list(labels) if labels else all_labels[:max_labels]
    unknown = [lab for lab in labels if lab not in all_labels]
    if unknown:
        raise FtprobeError(f"unknown label(s) {unknown}; the task's labels are {all_labels}")
    idx = [all_labels.index(lab) for lab in labels]
    steps = [s["step"] for s in record["steps"]]
    fig, axes = _figure(len(layers))
    for ax, layer in zip(axes, layers, strict=True):
        stack = np.stack([cents[centroid_key(step, layer)][idx] for step in steps])  # S, L, d
        flat = stack.reshape(-1, stack.shape[-1])
        ok = ~np.isnan(flat).any(axis=1)
        proj = np.full((len(flat), 2), np.nan)
        if ok.sum() >= 2:
            proj[ok] = pca_2d(flat[ok])
        proj = proj.reshape(len(steps), len(labels), 2)
        for j, label in enumerate(labels):
            path = proj[:, j]
            line = ax.plot(path[:, 0], path[:, 1], "-", linewidth=1, alpha=0.7)[0]
            ax.plot(path[0, 0], path[0, 1], "o", color=line.get_color())
            ax.plot(
                path[-1, 0], path[-1, 1], "*", color=line.get_color(), markersize=10, label=label
            )
        ax.set(title=f"layer {layer}", xlabel="PC 1", ylabel="PC 2")
        ax.legend(fontsize="x-small")
    fig.suptitle(f"label centroids across fine-tuning (PCA) · {record['task']['name']}")
    return fig


# -------------------------------------------------------------------- matrix
def figure_matrix(record: dict[str, Any]) -> Figure:
    """The cross-task heatmap: main metric, plus mean min-distance change when present."""
    import numpy as np

    rows, cols = record["rows"], record["cols"]
    panels = [(record["main_metric"], record["values"], "viridis")]
    if record.get("min_distance_change"):
        md = [[(c or {}).get("mean_change") for c in row] for row in record["min_distance_change"]]
        panels.append(("mean min-distance change", md, "coolwarm"))
    fig, axes = _figure(len(panels), width=1.2 * len(cols) + 3, height=0.6 * len(rows) + 2)
    for ax, (title, values, cmap) in zip(axes, panels, strict=True):
        grid = np.array([[_nan(v) for v in row] for row in values], dtype=float)
        kw: dict[str, Any] = {}
        if cmap == "coolwarm" and np.isfinite(grid).any():
            lim = float(np.nanmax(np.abs(grid))) or 1.0
            kw = {"vmin": -lim, "vmax": lim}
        im = ax.imshow(grid, cmap=cmap, aspect="auto", **kw)
        ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        for i in range(len(rows)):
            for j in range(len(cols)):
                text = "–" if math.isnan(grid[i, j]) else f"{grid[i, j]:.3g}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="w" if cmap == "viridis" else "k",
                )
        ax.set(title=title, xlabel="probed task", ylabel="encoder")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"{record['model']} · {record['probe']} · layer {record['layer']}")
    return fig


def plot_matrix(record: dict[str, Any], path: Path) -> Path:
    return save(figure_matrix(record), path)


# ---------------------------------------------------------------------- runs
def figure_layer_curves(records: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Per-layer curves of run results' main metric: one panel per task, one curve per run
    (probe, fine-tuning task, seed)."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_task.setdefault(rec["task"]["name"], []).append(rec)
    fig, axes = _figure(len(by_task))
    for ax, (task, recs) in zip(axes, sorted(by_task.items()), strict=False):
        for rec in recs:
            layers = sorted(rec["layers"], key=int)
            if not layers:
                continue
            main = rec["layers"][layers[0]]["main_metric"]
            cfg = rec.get("config", {})
            after = f" · ft-{cfg['finetuned_on']}" if cfg.get("finetuned_on") else ""
            label = f"{rec.get('probe', '?')}{after} · seed {rec.get('seed', 0)}"
            ys = [_nan(rec["layers"][k].get(main)) for k in layers]
            ax.plot([int(k) for k in layers], ys, "o-", label=label)
            ax.set(ylabel=main)
        ax.set(title=task, xlabel="layer")
        ax.legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    return fig


def plot_runs(records: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path:
    return save(figure_layer_curves(records, title), path)


# --------------------------------------------------------------- regenerate
def plot_dynamics(
    record: dict[str, Any],
    out: Path,
    labels: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
) -> list[Path]:
    written = [
        save(figure_min_distance(record, layers), out / "min_distance.png"),
        save(figure_similarity(record, layers), out / "similarity.png"),
    ]
    if (out / CENTROIDS_FILE).is_file():
        cents = load_centroids(out)
        written.append(save(figure_centroids(record, cents, labels, layers), out / "centroids.png"))
    return written


def regenerate(
    directory: Path, labels: Sequence[str] | None = None, layers: Sequence[int] | None = None
) -> list[Path]:
    """Rebuild the plots of every stored result under ``directory``: per-layer curves of each
    run directory (``layers.png``) and of a sweep (``sweep.png``), compare, dynamics, matrix."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FtprobeError(f"no results directory {directory}; give the --out of compare/matrix")
    written: list[Path] = []
    runs: list[dict[str, Any]] = []
    for path in sorted(directory.rglob("result.json")):
        typed = read_record(path)
        if isinstance(typed, RunRecord) and typed.layers:
            record = typed.to_json()
            runs.append(record)
            written.append(plot_runs([record], path.parent / "layers.png"))
    if (directory / "sweep.json").is_file() and runs:
        written.append(plot_runs(runs, directory / "sweep.png", f"sweep {directory.name}"))
    for name in ("compare.json", "dynamics.json", "matrix.json"):
        for path in sorted(directory.rglob(name)):
            record = read_record(path).to_json()
            if name == "compare.json":
                written.append(plot_compare(record, path.parent / "compare.png"))
            elif name == "dynamics.json":
                written += plot_dynamics(record, path.parent, labels, layers)
            else:
                written.append(plot_matrix(record, path.parent / "matrix.png"))
    if not written:
        raise FtprobeError(
            f"no result.json, compare.json, dynamics.json or matrix.json under {directory}; "
            "run `ftprobe run`, `compare`, `matrix` or `sweep run` first"
        )
    return written


def _n_labels(geometry: dict[str, Any]) -> Any:
    """Labels present in the probed training data (the inventory when not reported)."""
    return geometry.get("train_labels") or geometry.get("labels")


def _nan(value: Any) -> float:
    try:
        return float("nan") if value is None else float(value)
    except (TypeError, ValueError):
        return float("nan")
