"""DirectProbe on real data, end to end through ``ftprobe run`` (slow: encodes ss-role)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

SEED_FILES = (
    "clusters.txt",
    "predictions.txt",
    "dis.txt",
    "vec.txt",
    "outside_min.txt",
    "inside_mean.txt",
    "inside_max.txt",
    "log.txt",
)


@pytest.mark.slow
def test_ss_role_minilm_l3_end_to_end(tmp_path):
    from ftprobe.cli import cli

    out = tmp_path / "run"
    res = CliRunner().invoke(
        cli,
        ["-q", "run", "-t", "ss-role", "-m", "minilm-l3", "-p", "directprobe", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    layer_dirs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(layer_dirs) == 1
    for name in SEED_FILES:
        assert (layer_dirs[0] / name).stat().st_size > 0, name
    clusters = (layer_dirs[0] / "clusters.txt").read_text().split()
    result = json.loads((out / "result.json").read_text())
    text = json.dumps(result)
    for key in ("n_clusters", "outside_min", "vec", "lp_calls", "linearly_separable"):
        assert key in text
    n_clusters = len(set(clusters))
    assert f'"n_clusters": {n_clusters}' in text
