"""The cross-task matrix: fine-tune on task A (rows), probe task X (columns).

Rows are the original encoder and the encoder fine-tuned on each task; cells hold the probe's
main metric (and, for DirectProbe, the per-label min-distance change against the original row).
Every cell is its own job stored as ``<out>/cells/<row>__<col>.json``: a rerun skips finished
cells (with the same settings), so an interrupted matrix resumes where it stopped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ftprobe import atomic
from ftprobe.engine.extract import vectors
from ftprobe.engine.finetune import after_encoder, encoder_for
from ftprobe.engine.loading import load_task
from ftprobe.engine.probing import fit_probe, layer_indices, probe_data, probe_spec, subsample
from ftprobe.engine.rundir import DEFAULT_RUNS_DIR, slug
from ftprobe.engine.stats import min_distance_change
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import default_probe, encoders, tasks
from ftprobe.progress import log

ORIGINAL = "original"
RESULT_FILE = "matrix.json"


@dataclass
class MatrixConfig:
    model: str
    finetune_on: list[str]
    probe_on: list[str]
    probe: str = ""  # empty: the probe the plugins declare the default (``run``)
    probe_options: dict[str, Any] = field(default_factory=dict)
    finetune_options: dict[str, Any] = field(default_factory=dict)
    layer: str = "last"
    seed: int = 0
    device: str = "cpu"
    batch_size: int = 64
    max_train: int | None = None
    max_test: int | None = None
    max_cells: int | None = None  # stop after this many newly computed cells (resumable)
    out: Path | None = None
    after: list[str] = field(default_factory=list)  # rows of encoders fine-tuned elsewhere
    pooling: str | None = None  # None: each target kind's default

    def rows(self) -> list[str]:
        return [
            ORIGINAL,
            *(f"ft-{t}" for t in self.finetune_on),
            *(f"after-{m}" for m in self.after),
        ]

    def row_encoders(self) -> list[tuple[str, str | None, str | None]]:
        """(row, task fine-tuned on, encoder fine-tuned elsewhere) per row."""
        return list(
            zip(
                self.rows(),
                [None, *self.finetune_on, *(None for _ in self.after)],
                [None, *(None for _ in self.finetune_on), *self.after],
                strict=True,
            )
        )

    def default_out(self) -> Path:
        return DEFAULT_RUNS_DIR / slug(
            "matrix", self.model, self.probe, f"layer-{self.layer}", f"seed{self.seed}"
        )

    def cell_key(self) -> str:
        """Identity of the settings a cell depends on (not the row/column lists)."""
        keep = {
            k: v
            for k, v in asdict(self).items()
            if k
            not in ("finetune_on", "probe_on", "max_cells", "out", "device", "batch_size", "after")
        }
        if keep.get("pooling") is None:  # the default: the keys of earlier matrices stay valid
            keep.pop("pooling", None)
        ft = {k: v for k, v in self.finetune_options.items() if k != "device"}
        keep["finetune_options"] = ft
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def cell_path(out: Path, row: str, col: str) -> Path:
    return Path(out) / "cells" / f"{slug(row)}__{slug(col)}.json"


def read_cell(path: Path, key: str) -> dict[str, Any] | None:
    """A finished cell computed with the same settings, else None."""
    try:
        cell = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return cell if cell.get("key") == key else None


def _validate(cfg: MatrixConfig) -> None:
    if not cfg.probe_on:
        raise FtprobeError("--probe-on needs at least one task, e.g. --probe-on pos,ss-fxn")
    for name in (*cfg.finetune_on, *cfg.probe_on):
        tasks().get(name)
    for name in (cfg.model, *cfg.after):
        encoders().get(name)
    probe_spec(cfg.probe)
    if cfg.max_cells is not None and cfg.max_cells < 0:
        raise FtprobeError(f"--max-cells must be 0 or more, got {cfg.max_cells}")


def compute_cell(cfg: MatrixConfig, encoder: Any, col: str, layer_opt: str) -> dict[str, Any]:
    """Probe task ``col`` with ``encoder`` at the configured layer."""
    layers = layer_indices(layer_opt, encoder.num_layers)
    if len(layers) != 1:
        raise FtprobeError(f"the matrix probes one layer; got --layer {layer_opt!r}")
    layer = layers[0]
    t0 = time.perf_counter()
    spec, data = load_task(col)
    split_data = {}
    for split, cap in (("train", cfg.max_train), ("test", cfg.max_test)):
        vecs = vectors(
            spec,
            data,
            split,
            encoder,
            device=cfg.device,
            batch_size=cfg.batch_size,
            pool=cfg.pooling,
        )
        split_data[split] = subsample(probe_data(data, vecs, layer, split), cap, cfg.seed)
    result = fit_probe(
        cfg.probe, cfg.probe_options, split_data["train"], split_data["test"], cfg.seed
    )
    return {
        "layer": layer,
        "main_metric": result.main_metric,
        "value": result.metrics.get(result.main_metric),
        "metrics": result.metrics,
        "geometry": asdict(result.geometry) if result.geometry is not None else None,
        "encoder": {"name": encoder.name, "fingerprint": encoder.fingerprint},
        "seconds": round(time.perf_counter() - t0, 3),
    }


def run_matrix(cfg: MatrixConfig) -> dict[str, Any]:
    """Compute the missing cells (up to ``max_cells`` new ones), then write matrix.json/csv/png
    from every finished cell. ``complete`` in the result says whether all cells are done."""
    if not cfg.probe:
        cfg = replace(cfg, probe=default_probe("run", who="matrix"))
    _validate(cfg)
    out = Path(cfg.out) if cfg.out else cfg.default_out()
    key = cfg.cell_key()
    new = 0
    stopped = False
    for row, ft_task, after in cfg.row_encoders():
        todo = [c for c in cfg.probe_on if read_cell(cell_path(out, row, c), key) is None]
        if not todo:
            continue
        if cfg.max_cells is not None and new >= cfg.max_cells:
            stopped = True
            break
        if after is not None:
            encoder = after_encoder(cfg.model, after=after)
        else:
            encoder = encoder_for(cfg.model, ft_task, **cfg.finetune_options)
        for col in todo:
            if cfg.max_cells is not None and new >= cfg.max_cells:
                stopped = True
                break
            log(f"matrix cell [bold]{row}[/] × [bold]{col}[/]")
            cell = compute_cell(cfg, encoder, col, cfg.layer)
            cell.update({"kind": "matrix-cell", "schema_version": 1})
            cell.update({"row": row, "col": col, "key": key})
            atomic.write_json(cell_path(out, row, col), cell)
            new += 1
        if stopped:
            break
    record = assemble(cfg, out, key)
    record["new_cells"] = new
    write_matrix(out, record)
    return record


def assemble(cfg: MatrixConfig, out: Path, key: str) -> dict[str, Any]:
    """The matrix record from the stored cells (missing cells are None)."""
    rows, cols = cfg.rows(), list(cfg.probe_on)
    cells = {(r, c): read_cell(cell_path(out, r, c), key) for r in rows for c in cols}
    main = next((c["main_metric"] for c in cells.values() if c), None)
    values = [[(cells[r, c] or {}).get("value") for c in cols] for r in rows]
    md = None
    if any(c and c.get("geometry") for c in cells.values()):
        md = []
        for r in rows:
            line = []
            for c in cols:
                base, cell = cells[ORIGINAL, c], cells[r, c]
                if r == ORIGINAL or not base or not cell:
                    line.append(None)
                    continue
                ch = min_distance_change(
                    (base.get("geometry") or {}).get("label_min_distance") or {},
                    (cell.get("geometry") or {}).get("label_min_distance") or {},
                )
                line.append({k: ch[k] for k in ("increased", "decreased", "mean_change")})
            md.append(line)
    return {
        "kind": "matrix",
        "schema_version": 2,
        "model": cfg.model,
        "probe": cfg.probe,
        "layer": cfg.layer,
        "config": {**asdict(cfg), "out": str(out)},
        "rows": rows,
        "cols": cols,
        "main_metric": main or "accuracy",
        "values": values,
        "min_distance_change": md,
        "complete": all(v is not None for v in cells.values()),
        "cells": {f"{r}__{c}": str(cell_path(out, r, c)) for r, c in cells if cells[r, c]},
    }


def to_csv(record: dict[str, Any]) -> str:
    """Long format: one line per cell."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "encoder",
            "probed_task",
            record["main_metric"],
            "min_dist_increased",
            "min_dist_decreased",
            "min_dist_mean_change",
        ]
    )
    md = record.get("min_distance_change")
    for i, row in enumerate(record["rows"]):
        for j, col in enumerate(record["cols"]):
            v = record["values"][i][j]
            ch = (md[i][j] if md else None) or {}
            w.writerow(
                [
                    row,
                    col,
                    "" if v is None else f"{v:.6g}",
                    *(
                        "" if ch.get(k) is None else f"{ch[k]:.6g}"
                        for k in ("increased", "decreased", "mean_change")
                    ),
                ]
            )
    return buf.getvalue()


def write_matrix(out: Path, record: dict[str, Any]) -> None:
    """Write matrix.json and matrix.csv into ``out``; the report draws the plot."""
    atomic.write_json(out / RESULT_FILE, record)
    atomic.write_text(out / "matrix.csv", to_csv(record))
