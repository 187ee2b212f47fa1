"""Plots: valid PNGs with the expected panels, from stored-result records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftprobe import atomic
from ftprobe.errors import FtprobeError
from ftprobe.report import plots
from ftprobe.studies.dynamics import CENTROIDS_FILE, centroid_key

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LABELS = ["ADJ", "NOUN", "VERB"]


def _png_ok(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert img.std() > 0  # something was drawn


def _dynamics(tmp_path, steps=(0, 2, 4), layers=(2, 3)):
    rng = np.random.default_rng(0)
    from ftprobe.records import DynamicsRecord

    rec = DynamicsRecord(
        probe="geo",
        config={},
        checkpoint="ckpt",
        seconds=0.0,
        task={"name": "pos", "labels": LABELS},
        layers_probed=list(layers),
        steps=[],
    ).to_json()
    arrays = {}
    for s in steps:
        entry = {"step": s, "checkpoint": f"step-{s}", "layers": {}}
        for layer in layers:
            entry["layers"][str(layer)] = {
                "label_min_distance": {lab: 1.0 + 0.1 * s + i for i, lab in enumerate(LABELS)},
                "similarity_to_original": 1.0 - 0.05 * s,
                "pair_distances": [1.0, 2.0, 3.0],
            }
            arrays[centroid_key(s, layer)] = rng.normal(size=(len(LABELS), 8)) + s
        rec["steps"].append(entry)
    atomic.write_json(tmp_path / "dynamics.json", rec)
    np.savez(tmp_path / CENTROIDS_FILE, **arrays)
    return rec, arrays


def _compare_record():
    def row(layer):
        geo = {"clusters": 5, "labels": 3, "separable": False, "accuracy": 0.7}
        return {
            "layer": layer,
            "accuracy": {"before": 0.8, "after": 0.9, "change": 0.1},
            "geometry": {"before": geo, "after": {**geo, "clusters": 3}},
            "min_distance": {"increased": 2, "decreased": 1, "mean_change": 0.2, "per_label": {}},
            "before_after_similarity": 0.7,
            "train_test_similarity": {"before": None, "after": 0.9},
        }

    from ftprobe.records import CompareLayer, CompareRecord

    return CompareRecord(
        config={"task": "pos", "model": "m", "finetuned_on": "pos"},
        probes={"accuracy": "classifier", "geometry": "directprobe"},
        layers=[CompareLayer(n_train=9, n_test=3, **row(i)) for i in range(3)],
        ftprobe_version="0",
        created="",
        task={"name": "pos"},
        pooling="first",
        encoders={},
        seconds=0.0,
    ).to_json()


def _matrix_record(with_md=True):
    md = [[None, None], [{"mean_change": 0.3}, {"mean_change": -0.1}]] if with_md else None
    from ftprobe.records import MatrixRecord

    return MatrixRecord(
        model="m",
        probe="directprobe",
        layer="last",
        rows=["original", "ft-pos"],
        cols=["pos", "ss-fxn"],
        main_metric="accuracy",
        values=[[0.8, 0.7], [0.9, None]],
        min_distance_change=md,
        config={},
        complete=False,
        cells={},
    ).to_json()


def test_dynamics_figures_have_one_panel_per_layer(tmp_path):
    rec, arrays = _dynamics(tmp_path)
    assert len(plots.figure_min_distance(rec).axes) == 2
    assert len(plots.figure_min_distance(rec, [3]).axes) == 1
    fig = plots.figure_centroids(rec, arrays, ["NOUN", "VERB"], [2])
    assert len(fig.axes) == 1
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    sim = plots.figure_similarity(rec)
    assert len(sim.axes) == 1 and len(sim.axes[0].get_lines()) == 2
    # the similarity line carries the stored values
    assert list(sim.axes[0].get_lines()[0].get_ydata()) == pytest.approx([1.0, 0.9, 0.8])
    with pytest.raises(FtprobeError, match="not probed"):
        plots.figure_min_distance(rec, [7])
    with pytest.raises(FtprobeError, match="unknown label"):
        plots.figure_centroids(rec, arrays, ["XYZ"])


def test_pca_2d_keeps_distances_of_planar_points():
    rng = np.random.default_rng(2)
    plane = rng.normal(size=(6, 2))
    basis, _ = np.linalg.qr(rng.normal(size=(5, 2)))
    pts = plane @ basis.T + 3.0
    proj = plots.pca_2d(pts)
    d = lambda a: np.linalg.norm(a[:, None] - a[None], axis=-1)  # noqa: E731
    assert np.allclose(d(proj), d(pts))


def test_compare_and_matrix_figures(tmp_path):
    assert len(plots.figure_compare(_compare_record()).axes) == 3
    fig = plots.figure_matrix(_matrix_record())
    heat = [ax for ax in fig.axes if ax.get_images()]
    assert len(heat) == 2  # main metric + min-distance change (plus colorbars)
    assert (
        len([ax for ax in plots.figure_matrix(_matrix_record(False)).axes if ax.get_images()]) == 1
    )
    path = plots.plot_matrix(_matrix_record(), tmp_path / "m.png")
    _png_ok(path)


def test_regenerate_rebuilds_every_plot(tmp_path):
    _dynamics(tmp_path / "dyn")
    atomic.write_json(tmp_path / "cmp" / "compare.json", _compare_record())
    atomic.write_json(tmp_path / "mat" / "matrix.json", _matrix_record())
    written = plots.regenerate(tmp_path)
    names = sorted(p.name for p in written)
    assert names == [
        "centroids.png",
        "compare.png",
        "matrix.png",
        "min_distance.png",
        "similarity.png",
    ]
    for p in written:
        _png_ok(p)


def test_regenerate_errors_are_one_line(tmp_path):
    with pytest.raises(FtprobeError, match="no result.json, compare.json"):
        plots.regenerate(tmp_path)
    with pytest.raises(FtprobeError, match="no results directory"):
        plots.regenerate(tmp_path / "missing")
    (tmp_path / "matrix.json").write_text("{broken")
    with pytest.raises(FtprobeError, match="unreadable"):
        plots.regenerate(tmp_path)


def test_plot_command(tmp_path):
    from click.testing import CliRunner

    from ftprobe.cli import cli

    atomic.write_json(tmp_path / "matrix.json", _matrix_record())
    res = CliRunner().invoke(cli, ["plot", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "matrix.png").is_file()
    res = CliRunner().invoke(cli, ["plot", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no results directory" in res.output
    json.loads((tmp_path / "matrix.json").read_text())
