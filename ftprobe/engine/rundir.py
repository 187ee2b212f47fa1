"""Run directories: default names, the versions a result records, atomic writing."""

from __future__ import annotations

import platform
import re
from importlib import metadata
from pathlib import Path

from ftprobe import __version__, atomic
from ftprobe.api import ProbeResult

DEFAULT_RUNS_DIR = Path("ftprobe-runs")


def slug(*parts: object) -> str:
    """A file-name-safe name from ``parts`` joined by ``__``."""
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)).strip("-") for p in parts)


def versions() -> dict[str, str | None]:
    """ftprobe, Python and the versions of the packages that can change a number."""
    out: dict[str, str | None] = {"ftprobe": __version__, "python": platform.python_version()}
    for dist in ("torch", "transformers", "numpy", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def write_run_dir(out: Path, record: dict, outputs: dict[int, ProbeResult]) -> None:
    """Write result.json and each layer's probe files into ``out`` atomically (all or nothing)."""
    with atomic.directory(out) as tmp:
        for layer, result in outputs.items():
            layer_dir = tmp / f"layer-{layer:02d}"
            for name, text in result.files.items():
                atomic.write_text(layer_dir / name, text)
            for name, png in result.plots.items():
                atomic.write_bytes(layer_dir / name, png)
        atomic.write_json(tmp / "result.json", record)
