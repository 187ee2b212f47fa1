"""The cross-task matrix on real data: cells stored one by one, an interrupted run resumes."""

from __future__ import annotations

import json

import pytest
from support import FAST, MODEL

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLF = {"sizes": "32x32", "l2": "1e-4", "seeds": 1, "max_iter": 30}


def _cfg(out, **kw):
    from ftprobe.sweeps.matrix import MatrixConfig

    base = dict(
        model=MODEL,
        finetune_on=["tiny-pos"],
        probe_on=["tiny-pos", "tiny-ss-fxn"],
        probe="classifier",
        probe_options=CLF,
        finetune_options=FAST,
        out=out,
    )
    return MatrixConfig(**{**base, **kw})


def test_matrix_resumes_after_interruption(tiny_tasks, tmp_path):
    from ftprobe.report.plots import plot_matrix
    from ftprobe.sweeps.matrix import cell_dir, run_matrix

    out = tmp_path / "m"
    first = run_matrix(_cfg(out, max_cells=1))
    plot_matrix(first, out / "matrix.png")  # the report layer draws the plot
    assert first["new_cells"] == 1 and not first["complete"]
    assert first["values"][0][0] is not None and first["values"][1][0] is None
    done = cell_dir(_cfg(out), out, "original", "tiny-pos") / "result.json"
    stamp = done.stat().st_mtime_ns
    # partial outputs are written too
    assert (out / "matrix.json").is_file() and (out / "matrix.png").is_file()

    second = run_matrix(_cfg(out, max_cells=2))
    assert second["new_cells"] == 2 and not second["complete"]
    assert done.stat().st_mtime_ns == stamp  # the finished cell was not recomputed

    third = run_matrix(_cfg(out))
    assert third["new_cells"] == 1 and third["complete"]
    assert third["rows"] == ["original", "ft-tiny-pos"]
    assert third["cols"] == ["tiny-pos", "tiny-ss-fxn"]
    assert third["main_metric"] == "accuracy"
    for row in third["values"]:
        assert all(0.0 <= v <= 1.0 for v in row)
    assert third["min_distance_change"] is None  # not a DirectProbe matrix
    assert run_matrix(_cfg(out))["new_cells"] == 0
    plot_matrix(third, out / "matrix.png")

    csv_lines = (out / "matrix.csv").read_text().splitlines()
    assert csv_lines[0].startswith("encoder,probed_task,accuracy") and len(csv_lines) == 5
    cell = json.loads(done.read_text())
    assert cell["task"]["name"] == "tiny-pos" and list(cell["layers"]) == ["3"]
    assert cell["layers"]["3"]["accuracy"] == pytest.approx(third["values"][0][0])
    assert third["cells"]["original__tiny-pos"]["layer"] == 3
    assert (out / "matrix.png").read_bytes()[:4] == b"\x89PNG"

    # other settings: the stored cells do not count, they are recomputed
    changed = run_matrix(_cfg(out, probe_options={**CLF, "l2": "1e-2"}, max_cells=1))
    assert changed["new_cells"] == 1 and not changed["complete"]


def test_matrix_command_and_errors(tiny_tasks, tmp_path):
    from click.testing import CliRunner

    from ftprobe.cli import cli

    out = tmp_path / "cli"
    args = [
        "matrix",
        "--model",
        MODEL,
        "--probe-on",
        "tiny-ss-fxn",
        "--probe",
        "classifier",
        "-o",
        "sizes=32x32",
        "-o",
        "l2=1e-4",
        "-o",
        "seeds=1",
        "-o",
        "max_iter=30",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "1 new cells, complete" in res.output
    assert json.loads((out / "matrix.json").read_text())["rows"] == ["original"]
    res = CliRunner().invoke(cli, [*args[:-2], "--finetune-on", "nope", "--out", str(out)])
    assert res.exit_code == 2 and "unknown task 'nope'" in res.output
    res = CliRunner().invoke(cli, [*args, "--layer", "all"])
    assert res.exit_code == 2 and "one layer" in res.output


def test_directprobe_matrix_reports_min_distance_change(tiny_tasks, tmp_path):
    from ftprobe.engine.stats import min_distance_change
    from ftprobe.sweeps.matrix import cell_dir, run_matrix

    out = tmp_path / "dp"
    cfg = _cfg(
        out,
        probe_on=["tiny-pos"],
        probe="directprobe",
        probe_options={"top_k": 1},
        max_train=120,
        max_test=40,
    )
    rec = run_matrix(cfg)
    assert rec["complete"] and rec["main_metric"] == "accuracy"
    md = rec["min_distance_change"]
    assert md[0][0] is None  # the original row is the reference

    def metrics(row):
        rec = json.loads((cell_dir(cfg, out, row, "tiny-pos") / "result.json").read_text())
        return rec["layers"]["3"]

    orig, tuned = metrics("original"), metrics("ft-tiny-pos")
    want = min_distance_change(orig["outside_min"], tuned["outside_min"])
    assert md[1][0]["increased"] == want["increased"] > 0 or want["decreased"] > 0
    assert md[1][0]["mean_change"] == pytest.approx(want["mean_change"])
    assert md[1][0]["decreased"] == want["decreased"]
    line = (out / "matrix.csv").read_text().splitlines()[2].split(",")
    assert line[:2] == ["ft-tiny-pos", "tiny-pos"] and float(line[5]) == pytest.approx(
        want["mean_change"], rel=1e-5
    )


def test_matrix_with_controls(tiny_tasks, tmp_path):
    """--controls adds each column's control task and the selectivity of every cell."""
    import pandas as pd

    from ftprobe.sweeps.matrix import cell_dir, run_matrix

    out = tmp_path / "ctl"
    cfg = _cfg(out, finetune_on=[], controls=True, max_train=300)
    rec = run_matrix(cfg)
    assert rec["complete"] and rec["new_cells"] == 4, rec["failed"]  # 2 tasks, 2 controls
    path = cell_dir(cfg, out, "original", "tiny-pos:control") / "result.json"
    assert json.loads(path.read_text())["task"]["name"] == "tiny-pos:control@0"
    for t, k, s in zip(
        *(rec[k][0] for k in ("values", "control_values", "selectivity")), strict=True
    ):
        assert s == pytest.approx(t - k) and 0 <= k <= 1
    table = pd.read_csv(out / "matrix.csv")
    assert table["selectivity"].tolist() == pytest.approx(rec["selectivity"][0], abs=1e-5)
    assert run_matrix(cfg)["new_cells"] == 0
