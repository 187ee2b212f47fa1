"""Run directories: default names (readable part + short hash), the per-layer records that make
a run resumable, atomic writing."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ftprobe import atomic
from ftprobe.api import Accuracy, Codelength, Geometry, ProbeResult
from ftprobe.records import RunRecord

DEFAULT_RUNS_DIR = Path("ftprobe-runs")
PART_TYPES = {"accuracy": Accuracy, "geometry": Geometry, "codelength": Codelength}
RUN_SCHEMA_VERSION = RunRecord.SCHEMA
LAYER_FILE = "layer.json"


def slug(*parts: object) -> str:
    """A file-name-safe name from ``parts`` joined by ``__``."""
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)).strip("-") for p in parts)


def short_hash(obj: Any, n: int = 8) -> str:
    """The first ``n`` hex digits of sha256 over ``obj`` as canonical JSON."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def layer_dir(out: Path, layer: int) -> Path:
    return Path(out) / f"layer-{layer:02d}"


def write_layer(
    out: Path, layer: int, key: str, entry: dict[str, Any], result: ProbeResult
) -> None:
    """Write one layer's folder (probe files, plots and ``layer.json``) atomically."""
    with atomic.directory(layer_dir(out, layer)) as tmp:
        for name, text in result.files.items():
            atomic.write_text(tmp / name, text)
        for name, png in result.plots.items():
            atomic.write_bytes(tmp / name, png)
        atomic.write_json(
            tmp / LAYER_FILE,
            {
                "kind": "run-layer",
                "schema_version": RUN_SCHEMA_VERSION,
                "key": key,
                "layer": layer,
                "entry": entry,
                "parts": {
                    part: asdict(value)
                    for part in PART_TYPES
                    if (value := getattr(result, part)) is not None
                },
            },
        )


def read_layer(out: Path, layer: int, key: str) -> tuple[dict[str, Any], ProbeResult] | None:
    """A finished layer computed with the same configuration ``key``: its entry and result."""
    try:
        stored = json.loads((layer_dir(out, layer) / LAYER_FILE).read_text())
    except (OSError, ValueError):
        return None
    if stored.get("key") != key or "entry" not in stored:
        return None
    entry, parts = stored["entry"], stored.get("parts") or {}
    metrics = {k: v for k, v in entry.items() if k not in ("main_metric", "seconds")}
    typed = {part: PART_TYPES[part](**v) for part, v in parts.items() if v and part in PART_TYPES}
    result = ProbeResult(metrics, main_metric=entry["main_metric"], **typed)
    return entry, result


def write_run_dir(out: Path, record: dict, outputs: dict[int, ProbeResult]) -> None:
    """Write result.json and each layer's probe files into ``out`` atomically (all or nothing)."""
    with atomic.directory(out) as tmp:
        for layer, result in outputs.items():
            ldir = tmp / f"layer-{layer:02d}"
            for name, text in result.files.items():
                atomic.write_text(ldir / name, text)
            for name, png in result.plots.items():
                atomic.write_bytes(ldir / name, png)
        atomic.write_json(tmp / "result.json", record)
