"""The cross-task matrix, a preset over a sweep: fine-tune on task A (rows), probe task X (columns).

Rows are the original encoder, the encoder fine-tuned on each task and encoders fine-tuned
elsewhere; columns are the probed tasks. The matrix is the sweep of one model, one probe, one
layer and one seed: its cells are the sweep's run directories under ``<out>/cells/``
(skip-if-done, so an interrupted matrix resumes; any executor), and ``matrix.json`` and
``matrix.csv`` are assembled from them. With ``controls`` each column's control task is probed
too and every cell records the control accuracy and the selectivity (task minus control).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ftprobe import atomic
from ftprobe.engine.probing import layer_indices, probe_spec
from ftprobe.engine.rundir import DEFAULT_RUNS_DIR, read_layer, slug
from ftprobe.engine.stats import min_distance_change
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import default_probe, encoders, tasks
from ftprobe.records import MatrixRecord, RunRecord, read_record, write_record
from ftprobe.sweeps.plan import Cell, expand
from ftprobe.sweeps.runner import RESULT_FILE as RUN_RESULT
from ftprobe.sweeps.runner import run_sweep
from ftprobe.sweeps.spec import ProbeAxis, SweepSpec

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
    controls: bool = False  # also probe each column's control task
    executor: str = "local"
    workers: int = 1
    executor_options: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[str]:
        return [
            ORIGINAL,
            *(f"ft-{t}" for t in self.finetune_on),
            *(f"after-{m}" for m in self.after),
        ]

    def default_out(self) -> Path:
        return DEFAULT_RUNS_DIR / slug(
            "matrix", self.model, self.probe, f"layer-{self.layer}", f"seed{self.seed}"
        )


def to_spec(cfg: MatrixConfig, out: Path) -> SweepSpec:
    """The sweep behind a matrix."""
    settings: dict[str, Any] = {
        "device": cfg.device,
        "batch_size": cfg.batch_size,
        "max_train": cfg.max_train,
        "max_test": cfg.max_test,
    }
    if cfg.pooling:
        settings["pooling"] = cfg.pooling
    if cfg.controls:
        settings["controls"] = True
    return SweepSpec(
        name="matrix",
        out=out,
        models=[cfg.model],
        tasks=list(cfg.probe_on),
        probes=[ProbeAxis(cfg.probe, dict(cfg.probe_options))],
        finetuned_on=[None, *cfg.finetune_on],
        after=list(cfg.after),
        layers=[cfg.layer],
        seeds=[cfg.seed],
        settings=settings,
        finetune={k: v for k, v in cfg.finetune_options.items() if k != "seed"},
        executor={**cfg.executor_options, "name": cfg.executor, "workers": cfg.workers},
    )


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
    try:
        one = len(layer_indices(cfg.layer, 10_000)) == 1
    except FtprobeError:
        one = False
    if not one:
        raise FtprobeError(
            f"the matrix probes one layer; got --layer {cfg.layer!r} (use last or a number)"
        )


def grid(cells: list[Cell], cfg: MatrixConfig) -> dict[tuple[str, str], Cell]:
    """The sweep's run cells by (row, column); a control column is named ``<col>:control``."""
    rows = dict(
        zip(
            [(None, None), *((t, None) for t in cfg.finetune_on), *((None, m) for m in cfg.after)],
            cfg.rows(),
            strict=True,
        )
    )
    out: dict[tuple[str, str], Cell] = {}
    for cell in cells:
        if cell.kind != "run":
            continue
        c = cell.config
        row = rows[(c.get("finetuned_on"), c.get("after"))]
        col = c["task"] if c["task"] in cfg.probe_on else None
        if col is None:  # a control task: the column it controls
            col = next(t for t in cfg.probe_on if c["task"].startswith(f"{t}:")) + ":control"
        out[row, col] = cell
    return out


def cell_dir(cfg: MatrixConfig, out: Path, row: str, col: str) -> Path:
    """The run directory of one cell of the matrix (``col`` may be ``<task>:control``)."""
    return grid(expand(to_spec(cfg, out)), cfg)[row, col].directory(out)


def read_cell(out: Path, cell: Cell) -> dict[str, Any] | None:
    """A finished cell: the probed layer, its main metric, its geometry part, the encoder."""
    d = cell.directory(out)
    try:
        rec = read_record(d / RUN_RESULT)
    except FtprobeError:
        return None
    if not isinstance(rec, RunRecord) or not rec.complete or len(rec.layers) != 1:
        return None
    layer = int(next(iter(rec.layers)))
    done = read_layer(d, layer, rec.key)
    if done is None:
        return None
    entry, result = done
    return {
        "id": cell.id,
        "dir": str(Path("cells") / cell.id),
        "layer": layer,
        "main_metric": entry["main_metric"],
        "value": entry.get(entry["main_metric"]),
        "geometry": result.geometry,
        "encoder": {"name": rec.encoder["name"], "fingerprint": rec.encoder["fingerprint"]},
    }


def run_matrix(cfg: MatrixConfig) -> dict[str, Any]:
    """Run the matrix's sweep (up to ``max_cells`` new cells), then write matrix.json/csv from
    every finished cell. ``complete`` in the result says whether all cells are done."""
    if not cfg.probe:
        cfg = replace(cfg, probe=default_probe("run", who="matrix"))
    _validate(cfg)
    out = Path(cfg.out) if cfg.out else cfg.default_out()
    spec = to_spec(cfg, out)
    summary = run_sweep(spec, max_cells=cfg.max_cells)
    cells = expand(spec)
    runs = {c.id for c in cells if c.kind == "run"}
    record = assemble(cfg, out, cells)
    record.new_cells = sum(1 for c in summary["cells"] if c["status"] == "done" and c["id"] in runs)
    record.failed = [c for c in summary["cells"] if c["status"] == "failed"]
    write_matrix(out, record)
    return record.to_json()


def assemble(cfg: MatrixConfig, out: Path, cells: list[Cell]) -> MatrixRecord:
    """The matrix record from the stored cells (missing cells are None)."""
    rows, cols = cfg.rows(), list(cfg.probe_on)
    by_place = grid(cells, cfg)
    found = {place: read_cell(out, cell) for place, cell in by_place.items()}
    task_cells = {(r, c): found.get((r, c)) for r in rows for c in cols}
    main = next((c["main_metric"] for c in task_cells.values() if c), None)
    values = [[(task_cells[r, c] or {}).get("value") for c in cols] for r in rows]
    md = None
    if any(c and c["geometry"] for c in task_cells.values()):
        md = []
        for r in rows:
            line = []
            for c in cols:
                base, cell = task_cells[ORIGINAL, c], task_cells[r, c]
                if r == ORIGINAL or not base or not cell:
                    line.append(None)
                    continue
                ch = min_distance_change(
                    base["geometry"].label_min_distance if base["geometry"] else {},
                    cell["geometry"].label_min_distance if cell["geometry"] else {},
                )
                line.append({k: ch[k] for k in ("increased", "decreased", "mean_change")})
            md.append(line)
    record = MatrixRecord(
        model=cfg.model,
        probe=cfg.probe,
        layer=cfg.layer,
        config={**asdict(cfg), "out": str(out)},
        rows=rows,
        cols=cols,
        main_metric=main or "accuracy",
        values=values,
        min_distance_change=md,
        complete=all(v is not None for v in found.values()) and len(found) == len(by_place),
        cells={
            f"{r}__{c}": {k: v[k] for k in ("id", "dir", "layer", "encoder")}
            for (r, c), v in found.items()
            if v
        },
    )
    if cfg.controls:
        control = [
            [(found.get((r, f"{c}:control")) or {}).get("value") for c in cols] for r in rows
        ]
        record.control_values = control
        record.selectivity = [
            [None if t is None or k is None else t - k for t, k in zip(tr, kr, strict=True)]
            for tr, kr in zip(values, control, strict=True)
        ]
    return record


def to_csv(record: dict[str, Any]) -> str:
    """Long format: one line per cell."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    controls = record.get("selectivity") is not None
    extra = ["control", "selectivity"] if controls else []
    w.writerow(
        [
            "encoder",
            "probed_task",
            record["main_metric"],
            "min_dist_increased",
            "min_dist_decreased",
            "min_dist_mean_change",
            *extra,
        ]
    )
    md = record.get("min_distance_change")

    def num(v: Any) -> str:
        return "" if v is None else f"{v:.6g}"

    for i, row in enumerate(record["rows"]):
        for j, col in enumerate(record["cols"]):
            ch = (md[i][j] if md else None) or {}
            more = (
                [num(record["control_values"][i][j]), num(record["selectivity"][i][j])]
                if controls
                else []
            )
            w.writerow(
                [
                    row,
                    col,
                    num(record["values"][i][j]),
                    *(num(ch.get(k)) for k in ("increased", "decreased", "mean_change")),
                    *more,
                ]
            )
    return buf.getvalue()


def write_matrix(out: Path, record: MatrixRecord) -> None:
    """Write matrix.json and matrix.csv into ``out``; the report draws the plot."""
    write_record(out / RESULT_FILE, record)
    atomic.write_text(out / "matrix.csv", to_csv(record.to_json()))
