"""The classifier probes on real data through ``ftprobe run`` (STREUSLE ss-role, MiniLM-L3)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ftprobe.cli import cli


def run(tmp_path, *args: str):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli, ["run", "--task", "ss-role", "--model", "minilm-l3", "--out", str(out), *args]
    )
    return result, out


def layer_metrics(out) -> dict:
    record = json.loads((out / "result.json").read_text())
    (layer,) = record["layers"].values()
    return layer


def check_report(out, metrics: dict, seeds: int) -> None:
    assert metrics["main_metric"] == "accuracy"
    assert len(metrics["accuracies"]) == seeds
    # a probe on contextual vectors beats always answering the most frequent scene role
    assert metrics["accuracy"] > metrics["majority_baseline"] + 0.15
    assert metrics["train_accuracy"] >= metrics["accuracy"] - 0.05
    assert metrics["n_train"] > 2000 and metrics["n_test"] > 300
    assert set(metrics["per_label_accuracy"]) <= set(
        json.loads((out / "result.json").read_text())["task"]["labels"]
    )
    (layer_dir,) = [p for p in out.iterdir() if p.is_dir()]
    predictions = (layer_dir / "predictions.txt").read_text().splitlines()
    assert len(predictions) == metrics["n_test"]
    assert all(len(line.split("\t")) == 3 for line in predictions)  # example id, gold, predicted
    from ftprobe.api import example_id
    from ftprobe.engine.loading import load_task

    _, data = load_task("ss-role")
    known = set(data.labels)
    test = [ex for ex in data.splits["test"].examples if ex.label in known]
    assert [line.split("\t")[:2] for line in predictions] == [
        [example_id(ex), ex.label] for ex in test
    ]
    assert (layer_dir / "grid.tsv").read_text().startswith("sizes\tl2\tval_accuracy")


@pytest.mark.corpus
def test_classifier_on_ss_role(tmp_path):
    result, out = run(
        tmp_path, "--probe", "mlp", "-o", "sizes=64x64", "-o", "l2=1e-4,1e-2", "-o", "seeds=2"
    )
    assert result.exit_code == 0, result.output
    metrics = layer_metrics(out)
    check_report(out, metrics, seeds=2)
    assert metrics["config"]["hidden"] == "64x64" and len(metrics["grid"]) == 2


def test_bad_probe_option_is_one_line(tmp_path):
    result, _ = run(tmp_path, "--probe", "classifier", "-o", "sizes=64y64")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "sizes" in lines[0] and "64x64" in lines[0]


def test_bad_directprobe_option_fails_before_loading(tmp_path, monkeypatch):
    """An unknown probe option is reported before the task data or the encoder is loaded
    (here the data directory is empty: a late check would fail on the data instead)."""
    monkeypatch.setenv("FTPROBE_DATA_DIR", str(tmp_path))
    result, out = run(tmp_path, "--probe", "directprobe", "-o", "bogus=1")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown directprobe option 'bogus'" in lines[0]
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("probe", ["classifier", "linear"])
def test_default_grid_on_ss_role(tmp_path, probe):
    result, out = run(tmp_path, "--probe", probe)
    assert result.exit_code == 0, result.output
    metrics = layer_metrics(out)
    check_report(out, metrics, seeds=5)
    assert len(metrics["grid"]) == (6 if probe == "classifier" else 3)
