"""Where data, models and caches live: environment variables, overridden by CLI options.

| variable              | option         | meaning                                             |
|-----------------------|----------------|-----------------------------------------------------|
| FTPROBE_DATA_DIR      | --data-dir     | a directory laid out like the corpus folders        |
| FTPROBE_MODELS_DIR    | --models-dir   | a directory of local encoder folders                |
| FTPROBE_CACHE_DIR     | --cache-dir    | vectors, checkpoints, downloads (~/.cache/ftprobe) |
| FTPROBE_OFFLINE       |                | 1: never try the network (HF_HUB_OFFLINE=1 implies it) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path


def _path(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class Settings:
    data_dir: Path | None = None
    models_dir: Path | None = None
    cache_dir: Path = Path("~/.cache/ftprobe").expanduser()
    offline: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        xdg = os.environ.get("XDG_CACHE_HOME")
        default_cache = (Path(xdg) if xdg else Path("~/.cache").expanduser()) / "ftprobe"
        offline = any(
            os.environ.get(v, "").lower() in ("1", "true", "yes")
            for v in ("FTPROBE_OFFLINE", "HF_HUB_OFFLINE")
        )
        return cls(
            data_dir=_path("FTPROBE_DATA_DIR"),
            models_dir=_path("FTPROBE_MODELS_DIR"),
            cache_dir=_path("FTPROBE_CACHE_DIR") or default_cache,
            offline=offline,
        )


_current: Settings | None = None


def current() -> Settings:
    """The settings in force (environment, then any CLI overrides)."""
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def configure(**overrides: object) -> Settings:
    """Override settings (None values are ignored). Returns the new settings."""
    global _current
    clean = {k: v for k, v in overrides.items() if v is not None}
    for key in ("data_dir", "models_dir", "cache_dir"):
        if key in clean:
            clean[key] = Path(str(clean[key])).expanduser()
    _current = replace(current(), **clean)
    return _current


def reset() -> None:
    """Forget overrides and re-read the environment on next use (tests)."""
    global _current
    _current = None
