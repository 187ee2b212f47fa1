"""A third-party plugin package installs with pip and works through the entry point alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "ftprobe-example-task"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """pip-install the example into a private target folder (the test venv is left untouched)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def _ftprobe(site: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "FTPROBE_QUIET": "1", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "ftprobe.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_example_is_listed_by_plugins_and_tasks(installed):
    res = _ftprobe(installed, "plugins", "--json")
    assert res.returncode == 0, res.stderr
    infos = {p["name"]: p for p in json.loads(res.stdout)}
    assert infos["word-shape"]["version"] == "0.1.0"
    assert infos["word-shape"]["hooks"] == ["register_tasks"]
    res = _ftprobe(installed, "tasks", "--json")
    tasks = {t["name"]: t for t in json.loads(res.stdout)}
    assert tasks["word-shape"]["plugin"] == "word-shape"


@pytest.mark.corpus
def test_example_task_runs_end_to_end(installed, tmp_path):
    out = tmp_path / "run"
    res = _ftprobe(
        installed,
        "run",
        "--task",
        "word-shape",
        "--model",
        "minilm-l3",
        "--probe",
        "directprobe",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    record = json.loads((out / "result.json").read_text())
    assert record["task"]["name"] == "word-shape"
    assert record["task"]["labels"] == ["capitalized", "lower", "number", "punct", "upper"]
    layer = record["layers"][str(record["encoder"]["num_layers"])]
    assert 0.5 < layer["accuracy"] <= 1.0
