"""Runs that resume and never collide: per-layer results written as they finish, skip-if-done,
hashed default run directories, portable provenance, the cross-process checkpoint lock, and
the tidy results table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import build_tiny_bert_with_tokenizer

from ftprobe import hookimpl, pluginmanager
from ftprobe.api import ProbeResult, ProbeSpec

LINEAR = {"seeds": 1, "threads": 1, "l2": "1e-4", "max_iter": 30}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_l3_dir) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with MiniLM's tokenizer, saved locally."""
    return build_tiny_bert_with_tokenizer(
        tmp_path_factory.mktemp("models") / "tiny-bert", minilm_l3_dir
    )


def _cli():
    from ftprobe.cli import cli

    return cli


def _config(model: Path, out: Path | None, **kw):
    from ftprobe.studies.run import RunConfig

    base = dict(
        task="ss-role",
        model=str(model),
        probe="linear",
        layers="0,1",
        probe_options=LINEAR,
        max_train=200,
        max_test=100,
        out=out,
    )
    return RunConfig(**{**base, **kw})


def test_run_reuses_done_layers_and_overwrite_recomputes(tiny_bert, tmp_path):
    from ftprobe.studies.run import run

    out = tmp_path / "r"
    first = run(_config(tiny_bert, out))
    assert first["complete"] and first["computed_layers"] == [0, 1]
    assert first["kind"] == "run" and first["schema_version"] == 2
    stamp = (out / "layer-00" / "layer.json").stat().st_mtime_ns
    more = run(_config(tiny_bert, out, layers="all"))
    assert more["computed_layers"] == [2]  # layers 0 and 1 were done with this configuration
    assert (out / "layer-00" / "layer.json").stat().st_mtime_ns == stamp
    for layer in ("0", "1"):
        assert more["layers"][layer] == first["layers"][layer]
    changed = run(_config(tiny_bert, out, probe_options={**LINEAR, "l2": "1e-2"}))
    assert changed["computed_layers"] == [0, 1]  # another option: another key, recomputed
    again = run(_config(tiny_bert, out, probe_options={**LINEAR, "l2": "1e-2"}, overwrite=True))
    assert again["computed_layers"] == [0, 1]


class _FailOnLayer:
    """A probe that fails on the third fit of the process (the third layer of one run)."""

    fits = 0

    def fit(self, train, *, seed=0):
        type(self).fits += 1
        if type(self).fits == 3:
            raise RuntimeError("killed at layer 2")
        self.n = len(train.y)

    def evaluate(self, test):
        return ProbeResult({"accuracy": 0.5, "n_train": self.n}, files={"log.txt": "ok"})


class _FlakyPlugin:
    @hookimpl
    def register_probes(self, register):
        register(ProbeSpec("flaky-probe", "Fails once, at its third fit.", factory=_FailOnLayer))


def test_each_layer_is_on_disk_as_soon_as_it_is_done(tiny_bert, tmp_path):
    from ftprobe.studies.run import run

    pluginmanager.register(_FlakyPlugin(), name="flaky")
    try:
        _FailOnLayer.fits = 0
        out = tmp_path / "r"
        cfg = _config(tiny_bert, out, probe="flaky-probe", probe_options={}, layers="all")
        with pytest.raises(RuntimeError, match="killed at layer 2"):
            run(cfg)
        partial = json.loads((out / "result.json").read_text())
        assert not partial["complete"] and sorted(partial["layers"]) == ["0", "1"]
        assert (out / "layer-01" / "log.txt").read_text() == "ok"
        assert not (out / "layer-02").exists()
        rerun = run(cfg)
        assert rerun["complete"] and rerun["computed_layers"] == [2]
    finally:
        pluginmanager.unregister("flaky")


def test_default_run_dirs_differ_by_options_and_keep_the_readable_part(
    tiny_bert, tmp_path, monkeypatch
):
    from ftprobe.studies.run import run

    monkeypatch.chdir(tmp_path)
    a = Path(run(_config(tiny_bert, None))["config"]["out"])
    b = Path(run(_config(tiny_bert, None, probe_options={**LINEAR, "l2": "1e-2"}))["config"]["out"])
    assert a != b and a.parent == b.parent
    for d in (a, b):
        assert d.name.startswith("ss-role__tiny-bert__linear__layer-0-1__seed0__")
        assert len(d.name.rsplit("__", 1)[1]) == 8
    assert run(_config(tiny_bert, None))["computed_layers"] == []  # same config: same dir, done


def test_result_json_provenance_is_portable(tiny_bert, tmp_path, data_dir):
    from ftprobe.studies.run import run

    record = run(_config(tiny_bert, tmp_path / "r"))
    text = (tmp_path / "r" / "result.json").read_text()
    assert str(data_dir) not in text and str(tiny_bert) not in text
    files = record["task"]["files"]["train"]
    assert files[0]["path"] == "streusle/streusle.ud_train.conllulex"
    assert len(files[0]["sha256"]) == 64
    assert record["encoder"]["name"] == "tiny-bert"
    assert record["encoder"]["fingerprint"]
    for package in ("torch", "transformers", "numpy", "scipy", "highspy", "clarabel", "datasets"):
        assert package in record["versions"]
    assert record["versions"]["highspy"] and record["versions"]["ftprobe"]
    machine = record["machine"]
    assert machine["device"] == "cpu" and machine["host"] and machine["threads"]["cpu_count"]
    assert isinstance(machine["command"], list)


# ------------------------------------------------------------------------- locks
def test_lock_waits_for_a_live_holder_and_breaks_a_stale_one(tmp_path):
    from ftprobe.engine.locking import file_lock

    lock = tmp_path / "x.lock"
    held = threading.Event()
    released = []

    def holder():
        with file_lock(lock, heartbeat=0.1, stale_after=0.5):
            held.set()
            time.sleep(1.5)  # three times the stale age: only the heartbeat keeps it alive
            released.append(time.monotonic())

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    with file_lock(lock, heartbeat=0.1, stale_after=0.5, poll=0.05):
        got = time.monotonic()
    t.join()
    assert released and got >= released[0]
    assert not lock.exists()

    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "t"}))
    old = time.time() - 3600
    os.utime(lock, (old, old))
    start = time.monotonic()
    with file_lock(lock, stale_after=60):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert time.monotonic() - start < 5


def test_lock_of_a_dead_local_process_is_broken_at_once(tmp_path):
    import socket

    from ftprobe.engine.locking import file_lock

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lock = tmp_path / "y.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead), "token": "t"}))
    with file_lock(lock, stale_after=3600):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


SCRIPT = """
import json, os, sys
from ftprobe.engine.finetune import finetuned_checkpoint, read_meta
path = finetuned_checkpoint(sys.argv[1], "ss-fxn", epochs=1, max_examples=32, seed=0,
                            device="cpu")
meta = read_meta(path)
print(json.dumps({"pid": os.getpid(), "path": str(path), "trained_by": meta["trained_by"]}))
"""


def test_two_processes_asking_for_one_checkpoint_train_it_once(tiny_bert, tmp_path):
    env = {**os.environ, "FTPROBE_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(tiny_bert)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert outs[0]["path"] == outs[1]["path"]
    trainer = outs[0]["trained_by"]["pid"]
    assert trainer == outs[1]["trained_by"]["pid"]
    assert sorted(o["pid"] == trainer for o in outs) == [False, True]
    ckpt = Path(outs[0]["path"])
    assert not ckpt.with_name(ckpt.name + ".lock").exists()
    assert [p.name for p in ckpt.parent.iterdir() if p.name.startswith(".")] == []


# ----------------------------------------------------------------------- results
def test_results_table_of_run_compare_and_matrix_matches_the_json(tiny_bert, tmp_path):
    import pandas as pd

    import ftprobe

    root = tmp_path / "all"
    model = str(tiny_bert)
    ft = ["--epochs", "1", "--max-train-examples", "32"]
    runs = [
        [
            "run",
            "-t",
            "ss-role",
            "-m",
            model,
            "-p",
            "linear",
            "--layers",
            "all",
            "--max-train",
            "200",
            "--max-test",
            "100",
            "-o",
            "seeds=1",
            "-o",
            "threads=1",
            "--out",
            str(root / "run"),
        ],
        [
            "compare",
            "-t",
            "ss-role",
            "-m",
            model,
            "--finetuned-on",
            "ss-fxn",
            "--layers",
            "1,2",
            "--max-train",
            "150",
            "--max-test",
            "80",
            "-o",
            "classifier.seeds=1",
            "-o",
            "classifier.sizes=16",
            "-o",
            "classifier.l2=1e-4",
            "--out",
            str(root / "cmp"),
            *ft,
        ],
        [
            "matrix",
            "-m",
            model,
            "--finetune-on",
            "ss-fxn",
            "--probe-on",
            "ss-role,ss-fxn",
            "-p",
            "linear",
            "-o",
            "seeds=1",
            "--max-train",
            "150",
            "--max-test",
            "80",
            "--out",
            str(root / "mx"),
            *ft,
        ],
    ]
    for args in runs:
        res = CliRunner().invoke(_cli(), args)
        assert res.exit_code == 0, res.output
    out = tmp_path / "table.csv"
    res = CliRunner().invoke(_cli(), ["results", str(root), "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, keep_default_na=False)
    assert set(df["kind"]) == {"run", "compare", "matrix"}
    assert list(df.columns[:11]) == [
        "kind",
        "task",
        "encoder",
        "fingerprint",
        "after",
        "probe",
        "options_hash",
        "layer",
        "seed",
        "metric",
        "value",
    ]

    run = json.loads((root / "run" / "result.json").read_text())
    runs = df[(df.kind == "run") & df.source.str.startswith("run")]  # the matrix's cells are runs
    got = runs[runs.metric == "accuracy"].set_index("layer")["value"]
    assert {str(k): v for k, v in got.items()} == {
        k: pytest.approx(v["accuracy"]) for k, v in run["layers"].items()
    }
    assert set(runs["fingerprint"]) == {run["encoder"]["fingerprint"]}
    assert len(df[(df.kind == "run") & df.source.str.startswith("mx")].task.unique()) == 2

    cmp = json.loads((root / "cmp" / "compare.json").read_text())
    got = df[(df.kind == "compare") & (df.metric == "accuracy.after")].set_index("layer")["value"]
    assert got.to_dict() == {
        r["layer"]: pytest.approx(r["accuracy"]["after"]) for r in cmp["layers"]
    }
    assert set(df[df.kind == "compare"]["after"]) == {"ss-fxn"}

    mx = json.loads((root / "mx" / "matrix.json").read_text())
    cells = df[(df.kind == "matrix") & (df.metric == mx["main_metric"])]
    for i, row in enumerate(mx["rows"]):
        for j, col in enumerate(mx["cols"]):
            after = "" if row == "original" else row.removeprefix("ft-")
            hit = cells[(cells.after == after) & (cells.task == col)]
            assert hit["value"].tolist() == [pytest.approx(mx["values"][i][j])]
            assert hit["layer"].tolist() == [2]

    # the same through the Python API, and the wide per-layer view
    long = ftprobe.load_results(root)
    assert len(long) == len(df)
    wide = ftprobe.load_results([root], view="wide")
    row = wide[
        (wide.kind == "run") & (wide.metric == "accuracy") & wide.source.str.startswith("run")
    ]
    assert row[["layer_0", "layer_1", "layer_2"]].values.tolist()[0] == [
        pytest.approx(run["layers"][k]["accuracy"]) for k in ("0", "1", "2")
    ]
    res = CliRunner().invoke(_cli(), ["plot", str(root / "run")])
    assert res.exit_code == 0 and (root / "run" / "layers.png").is_file()
    res = CliRunner().invoke(_cli(), ["results", str(root), "--format", "json"])
    assert len(json.loads(res.output)) == len(df)


def test_results_of_an_empty_folder_is_a_one_line_error(tmp_path):
    res = CliRunner().invoke(_cli(), ["results", str(tmp_path)])
    assert res.exit_code == 2 and "no results under" in res.output


def test_results_read_dynamics_and_similarity_records(tmp_path):
    import ftprobe
    from ftprobe.records import DynamicsRecord, DynamicsStep, SimilarityLayer, SimilarityRecord

    dyn = DynamicsRecord(
        probe="geo",
        config={"model": "m", "finetuned_on": "pos", "seed": 1},
        task={"name": "ss-role"},
        checkpoint="ckpt",
        layers_probed=[3],
        steps=[
            DynamicsStep(
                step=0,
                checkpoint="m",
                layers={"3": {"clusters": 5, "separable": True, "pair_distances": [1]}},
            ),
            DynamicsStep(
                step=10,
                checkpoint="ckpt",
                layers={"3": {"clusters": 7, "similarity_to_original": None}},
            ),
        ],
        seconds=1.0,
    ).to_json()
    sim = SimilarityRecord(
        ftprobe_version="0",
        created="",
        config={"model": "m", "against": "m2", "seed": 0, "split": "test"},
        task={"name": "pos"},
        encoders={},
        measures=[],
        layers=[
            SimilarityLayer(
                layer=0, scores={"cka": 0.5, "attn-js": None}, per_head={}, why_missing={}
            )
        ],
        seconds=1.0,
    ).to_json()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "dynamics.json").write_text(json.dumps(dyn))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "similarity.json").write_text(json.dumps(sim))
    df = ftprobe.load_results(tmp_path)
    got = sorted(zip(df.kind, df.metric, df.layer, df.value, df.after, strict=True))
    assert got == [
        ("dynamics", "step0.clusters", 3, 5.0, "pos"),
        ("dynamics", "step0.separable", 3, 1.0, "pos"),
        ("dynamics", "step10.clusters", 3, 7.0, "pos"),
        ("similarity", "cka", 0, 0.5, "m2"),
    ]
