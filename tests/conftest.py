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
    """Every test sees the real data/model folders, a session-wide cache, offline mode,
    DirectProbe's LP engines in shadow mode and fresh settings; a test that needs an empty
    cache sets FTPROBE_CACHE_DIR itself."""
    from ftprobe import settings

    data = os.environ.get("FTPROBE_DATA_DIR") or str(REPO.parent / "shared" / "data")
    models = os.environ.get("FTPROBE_MODELS_DIR") or str(REPO.parent / "shared" / "models")
    monkeypatch.setenv("FTPROBE_DATA_DIR", data)
    monkeypatch.setenv("FTPROBE_MODELS_DIR", models)
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(session_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FTPROBE_QUIET", "1")
    # DirectProbe's hull-gap LPs on the dense engine and HiGHS both, raising on a different
    # decision (shadow mode), unless the run asks for one engine
    monkeypatch.setenv("FTPROBE_LP_ENGINE", os.environ.get("FTPROBE_LP_ENGINE", "shadow"))
    settings.reset()
    yield
    settings.reset()


@pytest.fixture
def one_torch_thread():
    """One torch thread: on a shared 2-core machine, two threads per process oversubscribe the
    cores and small MLP steps get ~100x slower (measured 0.3 s vs 2.7 ms per step)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_tasks():
    """``tiny-<task>``: the first sentences of real tasks (needs the corpora)."""
    from support import TinyTasks

    from ftprobe import pluginmanager

    pluginmanager.register(TinyTasks(), name="tiny-tasks")
    yield
    pluginmanager.unregister("tiny-tasks")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT saved to a folder (no download, no corpus)."""
    from support import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def offline_tasks():
    """In-memory tasks ``offline-pos`` and ``offline-topic`` (no corpus)."""
    from support import OfflineTasks

    from ftprobe import pluginmanager

    pluginmanager.register(OfflineTasks(), name="offline-tasks")
    yield
    pluginmanager.unregister("offline-tasks")


CORPUS_FIXTURES = {"data_dir", "models_dir", "minilm_l3_dir", "tiny_tasks"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that read the real corpora or models are marked ``corpus`` (by the fixtures they
    use, or explicitly), so ``-m "not corpus"`` runs the suite without ``../shared``."""
    for item in items:
        if CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.corpus)
