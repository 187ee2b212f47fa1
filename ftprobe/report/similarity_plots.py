"""Plots of a ``similarity`` record: each measure across layers, and layer x head heatmaps of
per-head measures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftprobe.report.plots import save


def figure_measure(record: dict[str, Any], measure: dict[str, Any]):
    """One measure across layers (a line; gaps where missing)."""
    from matplotlib.figure import Figure

    name = measure["name"]
    xs = [r["layer"] for r in record["layers"]]
    ys = [r["scores"].get(name) for r in record["layers"]]
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o")
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel(f"{name} ({measure['kind']})")
    ax.set_xticks(xs)
    if measure["kind"] == "similarity":
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    else:
        ax.axhline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_title(
        f"{record['task']['name']}/{record['task']['split']}: {_pair_label(record)}", fontsize=9
    )
    ax.grid(alpha=0.3)
    return fig


def _pair_label(record: dict[str, Any]) -> str:
    cfg = record["config"]
    other = (
        f"fine-tuned on {cfg['finetuned_on']}"
        if cfg.get("finetuned_on")
        else (cfg.get("against") or cfg.get("after"))
    )
    return f"{cfg['model']} vs {other}"


def figure_heads(record: dict[str, Any], measure: str):
    """Layer × head heatmap of a per-head measure."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = [r for r in record["layers"] if r["per_head"].get(measure)]
    grid = np.array([r["per_head"][measure] for r in rows], dtype=float)
    fig = Figure(
        figsize=(max(4.0, 0.45 * grid.shape[1] + 2), 0.45 * len(rows) + 1.8), layout="constrained"
    )
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(grid, aspect="auto", cmap="viridis", origin="lower")
    ax.set_xticks(range(grid.shape[1]))
    ax.set_yticks(range(len(rows)), [str(r["layer"]) for r in rows])
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(f"{measure} per head · {_pair_label(record)}", fontsize=9)
    fig.colorbar(im, ax=ax)
    return fig


def plot_similarity(out: Path, record: dict[str, Any]) -> list[Path]:
    """Write ``<measure>.png`` per measure and ``<measure>-heads.png`` per per-head measure."""
    written = []
    for m in record["measures"]:
        written.append(save(figure_measure(record, m), Path(out) / f"{m['name']}.png"))
        if any(r["per_head"].get(m["name"]) for r in record["layers"]):
            written.append(
                save(figure_heads(record, m["name"]), Path(out) / f"{m['name']}-heads.png")
            )
    return written
