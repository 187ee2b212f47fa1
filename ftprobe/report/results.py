"""Collect stored results into one tidy table (one row per value) and a wide per-layer view.

Kinds read: run, compare, matrix, similarity and dynamics (its metrics are named
``step<N>.<name>``: one per checkpoint step).

Every result file names its ``kind``; one reader per kind turns it into :class:`ResultRow`
records. Timings are not results and are left out (they stay in the JSON files)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftprobe import atomic
from ftprobe.engine.rundir import short_hash
from ftprobe.errors import FtprobeError
from ftprobe.records import (
    CompareRecord,
    DynamicsRecord,
    MatrixRecord,
    RunRecord,
    SimilarityRecord,
    read_record,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

RESULT_NAMES = ("result.json", "compare.json", "matrix.json", "similarity.json", "dynamics.json")


@dataclass(frozen=True)
class ResultRow:
    """One value of one result: what was probed, with what, where, and the metric's value."""

    kind: str
    task: str
    encoder: str
    fingerprint: str
    after: str  # "" for the original encoder, else the fine-tuning task (or the other encoder)
    probe: str
    options_hash: str
    layer: int
    seed: int
    metric: str
    value: float
    source: str


COLUMNS = [f.name for f in fields(ResultRow)]
KEYS = [c for c in COLUMNS if c not in ("layer", "value", "source")]


def _numbers(obj: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Numeric leaves of nested dicts as (dotted name, value), without timings or per-label maps."""
    if isinstance(obj, bool):
        yield prefix, float(obj)
    elif isinstance(obj, int | float):
        yield prefix, float(obj)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if "seconds" in key or key.endswith("_s") or key in ("per_label", "per_head"):
                continue
            yield from _numbers(value, f"{prefix}.{key}" if prefix else str(key))


def _run(rec: RunRecord, src: str) -> Iterator[ResultRow]:
    cfg, enc = rec.config, rec.encoder
    base = dict(
        kind="run",
        task=rec.task["name"],
        encoder=cfg.get("model") or enc.get("name", ""),
        fingerprint=enc.get("fingerprint", ""),
        after=cfg.get("finetuned_on") or cfg.get("after") or "",
        probe=rec.probe,
        options_hash=rec.probe_options_hash,
        seed=rec.seed,
        source=src,
    )
    for layer, entry in rec.layers.items():
        metrics = {k: v for k, v in entry.items() if k != "main_metric"}
        for metric, value in _numbers(metrics):
            yield ResultRow(layer=int(layer), metric=metric, value=value, **base)


def _compare(rec: CompareRecord, src: str) -> Iterator[ResultRow]:
    cfg = rec.config
    options = {k: v for k, v in cfg.items() if "option" in k and "finetune" not in k}
    base = dict(
        kind="compare",
        task=rec.task["name"],
        encoder=cfg.get("model", ""),
        fingerprint=rec.encoders.get("before", {}).get("fingerprint", ""),
        after=cfg.get("finetuned_on") or cfg.get("after") or "",
        probe="+".join(str(p) for p in rec.probes.values()),
        options_hash=short_hash(options),
        seed=int(cfg.get("seed", 0)),
        source=src,
    )
    for row in rec.layers:
        rest = {k: v for k, v in asdict(row).items() if k != "layer"}
        for metric, value in _numbers(rest):
            yield ResultRow(layer=row.layer, metric=metric, value=value, **base)
    for row in (rec.controls or {}).get("layers", []):
        for metric, value in _numbers({k: v for k, v in row.items() if k != "layer"}, "controls"):
            yield ResultRow(layer=int(row["layer"]), metric=metric, value=value, **base)


def _matrix(rec: MatrixRecord, src: str) -> Iterator[ResultRow]:
    cfg = rec.config
    md = rec.min_distance_change
    extra = {"control": rec.control_values, "selectivity": rec.selectivity}
    for i, row in enumerate(rec.rows):
        for j, col in enumerate(rec.cols):
            value = rec.values[i][j]
            if value is None:
                continue
            cell = rec.cells.get(f"{row}__{col}")
            cell = cell if isinstance(cell, dict) else {}  # schema 2 stored a file's path
            base = dict(
                kind="matrix",
                task=col,
                encoder=rec.model,
                fingerprint=cell.get("encoder", {}).get("fingerprint", ""),
                after="" if row == "original" else row.removeprefix("ft-").removeprefix("after-"),
                probe=rec.probe,
                options_hash=short_hash(cfg.get("probe_options", {})),
                layer=int(cell.get("layer", -1)),
                seed=int(cfg.get("seed", 0)),
                source=src,
            )
            yield ResultRow(metric=rec.main_metric, value=float(value), **base)
            change = (md[i][j] if md else None) or {}
            for metric, v in _numbers(change, "min_distance"):
                yield ResultRow(metric=metric, value=v, **base)
            for name, grid in extra.items():
                if grid is not None and grid[i][j] is not None:
                    metric = f"{rec.main_metric}.{name}"
                    yield ResultRow(metric=metric, value=float(grid[i][j]), **base)


def _similarity(rec: SimilarityRecord, src: str) -> Iterator[ResultRow]:
    cfg = rec.config
    base = dict(
        kind="similarity",
        task=rec.task["name"],
        encoder=cfg.get("model", ""),
        fingerprint=rec.encoders.get("a", {}).get("fingerprint", ""),
        after=cfg.get("finetuned_on") or cfg.get("against") or cfg.get("after") or "",
        probe="similarity",
        options_hash=short_hash({"split": cfg.get("split"), "max": cfg.get("max_examples")}),
        seed=int(cfg.get("seed", 0)),
        source=src,
    )
    for row in rec.layers:
        for metric, value in _numbers(row.scores):
            yield ResultRow(layer=row.layer, metric=metric, value=value, **base)


def _dynamics(rec: DynamicsRecord, src: str) -> Iterator[ResultRow]:
    cfg = rec.config
    base = dict(
        kind="dynamics",
        task=rec.task["name"],
        encoder=cfg.get("model", ""),
        fingerprint="",
        after=cfg.get("finetuned_on") or "",
        probe=rec.probe,
        options_hash=short_hash(cfg.get("probe_options", {})),
        seed=int(cfg.get("seed", 0)),
        source=src,
    )
    for step in rec.steps:
        for layer, geo in step.layers.items():
            for metric, value in _numbers(geo, f"step{step.step}"):
                yield ResultRow(layer=int(layer), metric=metric, value=value, **base)


def rows_of(path: Path, root: Path | None = None) -> list[ResultRow]:
    """The rows of one result file (an empty list for a kind without rows, e.g. selectivity,
    whose two runs are read as runs)."""
    rec = read_record(path)
    src = str(Path(path).relative_to(root)) if root else str(path)
    if isinstance(rec, RunRecord):
        return list(_run(rec, src))
    if isinstance(rec, CompareRecord):
        return list(_compare(rec, src))
    if isinstance(rec, MatrixRecord):
        return list(_matrix(rec, src))
    if isinstance(rec, SimilarityRecord):
        return list(_similarity(rec, src))
    if isinstance(rec, DynamicsRecord):
        return list(_dynamics(rec, src))
    return []


def collect(paths: Iterable[str | Path]) -> list[ResultRow]:
    """Every result under the folders (or files) ``paths``."""
    out: list[ResultRow] = []
    for p in map(Path, paths):
        if p.is_file():
            out += rows_of(p)
            continue
        if not p.is_dir():
            raise FtprobeError(f"no results folder {p}")
        for name in RESULT_NAMES:
            for f in sorted(p.rglob(name)):
                if not any(part.startswith(".") for part in f.relative_to(p).parts):
                    out += rows_of(f, p)
    return out


def load_results(paths: str | Path | Iterable[str | Path], view: str = "long") -> pd.DataFrame:
    """The results under ``paths`` as a pandas DataFrame: ``long`` (one row per value) or
    ``wide`` (one row per result and metric, one column per layer)."""
    import pandas as pd

    if isinstance(paths, str | Path):
        paths = [paths]
    df = pd.DataFrame([asdict(r) for r in collect(paths)], columns=COLUMNS)
    if view == "long":
        return df
    if view != "wide":
        raise FtprobeError(f"unknown view {view!r}; use long or wide")
    wide = df.pivot_table(index=[*KEYS, "source"], columns="layer", values="value", aggfunc="first")
    wide.columns = [f"layer_{c}" for c in wide.columns]
    return wide.reset_index()


def write_table(df: pd.DataFrame, fmt: str, out: Path | None) -> str | None:
    """Write ``df`` as csv, json or parquet to ``out`` (csv/json: returned as text if no file)."""
    if fmt == "csv":
        text = df.to_csv(index=False)
    elif fmt == "json":
        text = df.to_json(orient="records", indent=1)
    elif fmt == "parquet":
        if out is None:
            raise FtprobeError("--format parquet needs --out FILE")
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise FtprobeError(
                "parquet output needs pyarrow: pip install 'ftprobe[parquet]'"
            ) from None
        df.to_parquet(out, index=False)
        return None
    else:
        raise FtprobeError(f"unknown --format {fmt!r}; use csv, parquet or json")
    if out is None:
        return text
    atomic.write_text(out, text)
    return None
