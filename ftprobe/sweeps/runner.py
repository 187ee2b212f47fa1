"""Run a sweep's cells through an executor (skip-if-done; a failed cell is recorded in its
directory and does not stop the others) and report their status."""

from __future__ import annotations

import json
import socket
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ftprobe import atomic, settings
from ftprobe.engine.finetune import finetuned_checkpoint
from ftprobe.engine.provenance import portable_path
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import executors
from ftprobe.progress import log
from ftprobe.records import RunRecord, read_record
from ftprobe.studies.run import RunConfig, run
from ftprobe.sweeps.plan import Cell, expand, select_shard, shard_of, validate
from ftprobe.sweeps.spec import SweepSpec

ERROR_FILE = "error.json"
DONE_FILE = "done.json"  # a fine-tuning cell's marker
RESULT_FILE = "result.json"  # a run cell's result
PLAN_FILE = "plan.jsonl"
SWEEP_FILE = "sweep.json"


def cell_state(cell: Cell, out: Path) -> str:
    """``done``, ``failed``, ``partial`` (some layers done) or ``pending``."""
    d = cell.directory(out)
    if cell.kind == "finetune":
        if (d / DONE_FILE).is_file():
            return "done"
    else:
        try:
            record = read_record(d / RESULT_FILE)
            if isinstance(record, RunRecord) and record.complete:
                return "done"
        except FtprobeError:  # missing or damaged: the cell is not done
            pass
    if (d / ERROR_FILE).is_file():
        return "failed"
    return "partial" if (d / RESULT_FILE).is_file() else "pending"


def execute_cell(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one cell (in whatever process or machine the executor chose); never raises."""
    settings.configure(**payload["settings"])
    cell = Cell(**{k: v for k, v in payload["cell"].items() if k != "schema_version"})
    out = Path(payload["out"])
    d = cell.directory(out)
    if not payload.get("overwrite") and cell_state(cell, out) == "done":
        return {"id": cell.id, "status": "skipped", "seconds": 0.0}
    t0 = time.perf_counter()
    try:
        if cell.kind == "finetune":
            cfg = dict(cell.config)
            path = finetuned_checkpoint(cfg.pop("model"), cfg.pop("task"), **cfg)
            atomic.write_json(
                d / DONE_FILE,
                {
                    "kind": "sweep-finetune",
                    "schema_version": 1,
                    "cell": cell.as_dict(),
                    "checkpoint": portable_path(path),
                },
            )
        else:
            run(RunConfig(**cell.config, out=d, overwrite=bool(payload.get("overwrite"))))
    except Exception as exc:  # a failed cell is recorded and the sweep goes on
        message = f"{type(exc).__name__}: {exc}"
        atomic.write_json(
            d / ERROR_FILE,
            {
                "kind": "sweep-error",
                "schema_version": 1,
                "cell": cell.id,
                "error": message,
                "traceback": traceback.format_exc(),
                "host": socket.gethostname(),
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
        return {
            "id": cell.id,
            "status": "failed",
            "error": message,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    (d / ERROR_FILE).unlink(missing_ok=True)
    return {"id": cell.id, "status": "done", "seconds": round(time.perf_counter() - t0, 3)}


def _settings_payload() -> dict[str, Any]:
    s = settings.current()
    return {k: (str(v.resolve()) if isinstance(v, Path) else v) for k, v in asdict(s).items()}


def plan(spec: SweepSpec, shards: int = 1) -> list[Cell]:
    """Validate and expand the spec; write ``plan.jsonl`` and ``sweep.json`` into its folder."""
    validate(spec)
    cells = expand(spec)
    owner = shard_of(cells, shards)
    cells = [Cell(**{**asdict(c), "shard": owner.get(c.id)}) for c in cells]
    lines = "".join(json.dumps(c.as_dict(), sort_keys=True) + "\n" for c in cells)
    atomic.write_text(spec.out / PLAN_FILE, lines)
    atomic.write_json(
        spec.out / SWEEP_FILE,
        {
            "kind": "sweep",
            "schema_version": 1,
            "name": spec.name,
            "source": str(spec.source) if spec.source else None,
            "cells": len(cells),
            "shards": shards,
        },
    )
    return cells


def run_sweep(
    spec: SweepSpec,
    *,
    shard: tuple[int, int] = (0, 1),
    executor: str | None = None,
    workers: int | None = None,
    executor_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    max_cells: int | None = None,
) -> dict[str, Any]:
    """Run the pending cells of one shard: fine-tuning cells first, then the run cells (at most
    ``max_cells`` new run cells, in plan order; a rerun goes on). Fine-tuning cells run only
    for the run cells that need them.

    Returns counts per status and each cell's outcome."""
    cells = select_shard(plan(spec, shard[1]), *shard)
    name = executor or spec.executor.get("name") or "local"
    options = {k: v for k, v in spec.executor.items() if k not in ("name", "workers")}
    options.update(executor_options or {})
    k = workers or spec.executor.get("workers") or 1
    factory = executors().get(name).factory
    try:
        pool = factory(workers=int(k), **options)
    except TypeError as exc:
        raise FtprobeError(f"bad option for executor {name!r}: {exc}") from None
    out = str(Path(spec.out).resolve())
    base = {"settings": _settings_payload(), "out": out, "overwrite": overwrite}
    outcomes: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    runs = [c for c in cells if c.kind == "run"]
    pending = [c for c in runs if overwrite or cell_state(c, spec.out) != "done"]
    outcomes += [
        {"id": c.id, "status": "skipped", "seconds": 0.0} for c in runs if c not in pending
    ]
    if max_cells is not None:
        pending = pending[:max_cells]
    needed = {n for c in pending for n in c.needs}
    fts = [c for c in cells if c.kind == "finetune" and c.id in needed]
    outcomes += [
        {"id": c.id, "status": "skipped", "seconds": 0.0}
        for c in cells
        if c.kind == "finetune" and c.id not in needed
    ]
    try:
        for kind, group in (("finetune", fts), ("run", pending)):
            todo = []
            for c in group:
                if kind == "finetune" and not overwrite and cell_state(c, spec.out) == "done":
                    outcomes.append({"id": c.id, "status": "skipped", "seconds": 0.0})
                    continue
                failed_needs = [
                    n
                    for n in c.needs
                    if any(o["id"] == n and o["status"] == "failed" for o in outcomes)
                ]
                if failed_needs:
                    message = f"FtprobeError: fine-tuning cell {failed_needs[0]} failed"
                    atomic.write_json(
                        c.directory(spec.out) / ERROR_FILE,
                        {
                            "kind": "sweep-error",
                            "schema_version": 1,
                            "cell": c.id,
                            "error": message,
                        },
                    )
                    outcomes.append({"id": c.id, "status": "failed", "error": message})
                    continue
                todo.append(c)
            if todo:
                log(f"{kind} cells: {len(todo)} to compute ({name})")
            outcomes += pool.map(execute_cell, [{**base, "cell": c.as_dict()} for c in todo])
    finally:
        close = getattr(pool, "close", None)
        if close is not None:
            close()
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o["status"]] = counts.get(o["status"], 0) + 1
    return {
        "executor": name,
        "workers": int(k),
        "shard": list(shard),
        "counts": counts,
        "cells": outcomes,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def status(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every cell with its state (and error, for a failed one)."""
    rows = []
    for cell in expand(spec):
        state = cell_state(cell, spec.out)
        row = {"id": cell.id, "kind": cell.kind, "state": state, "cost": cell.cost}
        if state == "failed":
            try:
                row["error"] = json.loads((cell.directory(spec.out) / ERROR_FILE).read_text())[
                    "error"
                ]
            except (OSError, ValueError, KeyError):
                row["error"] = "?"
        rows.append(row)
    return rows
