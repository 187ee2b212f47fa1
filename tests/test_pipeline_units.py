"""Pipeline pieces that need no model: layer parsing, options, atomic run directories."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftprobe import atomic
from ftprobe.api import Example, ProbeResult, Split, TaskData
from ftprobe.engine.probing import layer_indices, parse_options, probe_data
from ftprobe.engine.rundir import write_run_dir
from ftprobe.errors import FtprobeError


@pytest.mark.parametrize(
    ("option", "expected"),
    [("last", [6]), ("all", list(range(7))), ("3", [3]), ("0,3,6", [0, 3, 6]), ("-1", [6])],
)
def test_layer_indices(option, expected):
    assert layer_indices(option, 6) == expected


@pytest.mark.parametrize("option", ["7", "x", "", "1,,9"])
def test_bad_layers_are_one_line_errors(option):
    with pytest.raises(FtprobeError, match="layer"):
        layer_indices(option, 6)


def test_parse_options_types():
    got = parse_options(("sizes=64x64", "l2=1e-4", "seeds=5", "paper-grid=true"))
    assert got == {"sizes": "64x64", "l2": 1e-4, "seeds": 5, "paper_grid": True}
    with pytest.raises(FtprobeError, match="key=value"):
        parse_options(("oops",))


def test_probe_data_drops_and_counts_unseen_test_labels():
    ex = lambda label: Example(("w",), (0,), label)  # noqa: E731
    data = TaskData(
        "t",
        "word",
        {
            "train": Split("train", [ex("a"), ex("b")], 1),
            "test": Split("test", [ex("b"), ex("zzz"), ex("a")], 1),
        },
    )
    vecs = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    pd = probe_data(data, vecs, 1, "test")
    assert data.unseen("test") == 1
    assert pd.y.tolist() == [1, 0] and pd.X.tolist() == [vecs[1, 0].tolist(), vecs[1, 2].tolist()]


def test_run_dir_is_all_or_nothing(tmp_path):
    out = tmp_path / "run"
    write_run_dir(out, {"v": 1}, {3: ProbeResult({"accuracy": 1.0}, files={"log.txt": "x"})})
    assert json.loads((out / "result.json").read_text()) == {"v": 1}
    assert (out / "layer-03" / "log.txt").read_text() == "x"
    with pytest.raises(RuntimeError), atomic.directory(out) as tmp:
        (tmp / "result.json").write_text("half")
        raise RuntimeError("killed")
    assert json.loads((out / "result.json").read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_device_reaches_only_probes_that_declare_it():
    from ftprobe.engine.probing import with_device

    assert with_device("classifier", {}, "cuda") == {"device": "cuda"}
    assert with_device("classifier", {"device": "cpu"}, "cuda") == {"device": "cpu"}
    assert with_device("directprobe", {"top_k": 2}, "cuda") == {"top_k": 2}
    assert with_device("classifier", {}, "cpu") == {}
