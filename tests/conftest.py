"""Shared fixtures. Real data and models are found through FTPROBE_DATA_DIR and
FTPROBE_MODELS_DIR (CI sets them to ../shared/data and ../shared/models); a developer
checkout falls back to ../shared beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _located(var: str, sub: str) -> Path:
    value = os.environ.get(var)
    path = Path(value) if value else REPO.parent / "shared" / sub
    if not path.is_dir():
        pytest.fail(f"{var} is not set and {path} does not exist: point {var} at the {sub} folder")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _located("FTPROBE_DATA_DIR", "data")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return _located("FTPROBE_MODELS_DIR", "models")


@pytest.fixture(scope="session")
def minilm_l3_dir(models_dir: Path) -> Path:
    return models_dir / "paraphrase-MiniLM-L3-v2"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ftprobe-cache")


@pytest.fixture(autouse=True)
def _ftprobe_env(monkeypatch: pytest.MonkeyPatch, session_cache: Path, request) -> None:
    """Every test sees the real data/model folders, a session-wide cache, offline mode and
    fresh settings; a test that needs an empty cache sets FTPROBE_CACHE_DIR itself."""
    from ftprobe import settings

    data = os.environ.get("FTPROBE_DATA_DIR") or str(REPO.parent / "shared" / "data")
    models = os.environ.get("FTPROBE_MODELS_DIR") or str(REPO.parent / "shared" / "models")
    monkeypatch.setenv("FTPROBE_DATA_DIR", data)
    monkeypatch.setenv("FTPROBE_MODELS_DIR", models)
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(session_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FTPROBE_QUIET", "1")
    settings.reset()
    yield
    settings.reset()
