"""Portable provenance of a result: package versions, ftprobe commit, machine, command line,
data files relative to the data directory (never absolute paths)."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from ftprobe import __version__
from ftprobe.settings import current

# Every package whose version can change a number ftprobe reports.
NUMERIC_PACKAGES = (
    "torch",
    "transformers",
    "numpy",
    "scipy",
    "highspy",
    "clarabel",
    "datasets",
    "tokenizers",
)


@functools.cache
def git_commit() -> str | None:
    """The commit of the ftprobe checkout this code runs from (editable installs), else None."""
    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions() -> dict[str, str | None]:
    """ftprobe (and its commit), Python and the versions of the packages behind the numbers."""
    out: dict[str, str | None] = {
        "ftprobe": __version__,
        "ftprobe_commit": git_commit(),
        "python": platform.python_version(),
    }
    for dist in NUMERIC_PACKAGES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def threads() -> dict[str, Any]:
    """Thread counts in force: torch's and the BLAS/OpenMP environment caps."""
    out: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if os.environ.get(var):
            out[var] = os.environ[var]
    return out


def machine(device: str) -> dict[str, Any]:
    """Where and how the result was computed."""
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": device,
        "threads": threads(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
    }


def portable_path(path: str | Path) -> str:
    """``path`` relative to the data directory (or the cache) when under it, else its name."""
    p = Path(path)
    s = current()
    for base, prefix in ((s.data_dir, ""), (s.cache_dir, "cache:")):
        if base is None:
            continue
        try:
            return prefix + str(p.resolve().relative_to(Path(base).resolve()))
        except ValueError:
            continue
    return p.name


def portable_model(name: str) -> str:
    """An encoder's name as recorded: a registered name or hub id as given; a local directory
    relative to the models directory (or the cache) when under it, else its folder name."""
    p = Path(name)
    if not p.is_dir():
        return name
    models = current().models_dir
    if models is not None:
        try:
            return str(p.resolve().relative_to(Path(models).resolve()))
        except ValueError:
            pass
    return portable_path(p)


def portable_models(model: str, after: str | None) -> dict[str, str | None]:
    """A config's ``model`` and ``after`` encoders as results record them."""
    return {"model": portable_model(model), "after": portable_model(after) if after else None}
