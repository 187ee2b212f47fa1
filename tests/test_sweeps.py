"""Sweeps: plan, shards, skip-if-done, failures recorded per cell, and the executors (local at 1
and 2 workers, Ray on a local instance, Slurm through submitit's local executor) giving the same
result table; a SIGKILLed sweep rerun computes only the missing cells."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import build_tiny_bert_with_tokenizer

SPEC = """
[sweep]
name = "tiny"
out = "{out}"
[axes]
models = ["{model}"]
finetuned_on = ["", "ss-fxn"]
tasks = ["ss-role", "ss-fxn"]
layers = ["{layers}"]
seeds = [0, 1]
[[probes]]
name = "linear"
options = {{ seeds = 1, threads = 1, l2 = "1e-4", max_iter = 30 }}
[settings]
max_train = 200
max_test = 100
[finetune]
epochs = 1
max_examples = 32
"""


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_l3_dir) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with MiniLM's tokenizer, saved locally."""
    return build_tiny_bert_with_tokenizer(
        tmp_path_factory.mktemp("models") / "tiny-bert", minilm_l3_dir
    )


def _spec(tmp: Path, model: Path, out: str = "out", layers: str = "all") -> Path:
    path = tmp / f"{out}.toml"
    path.write_text(SPEC.format(out=out, model=model, layers=layers))
    return path


def _cli():
    from ftprobe.cli import cli

    return cli


def _table(out: Path):
    import ftprobe

    df = ftprobe.load_results(out)
    return df.sort_values(["source", "layer", "metric"]).reset_index(drop=True)


def test_plan_ids_hashes_and_balanced_deterministic_shards(tiny_bert, tmp_path):
    from ftprobe.sweeps import plan as planning
    from ftprobe.sweeps.runner import plan
    from ftprobe.sweeps.spec import load_spec

    spec = load_spec(_spec(tmp_path, tiny_bert))
    cells = plan(spec)
    runs = [c for c in cells if c.kind == "run"]
    fts = [c for c in cells if c.kind == "finetune"]
    assert len(runs) == 8 and len(fts) == 2  # one fine-tuning per (model, task, seed)
    assert [c.kind for c in cells[:2]] == ["finetune", "finetune"]
    assert all(c.id.endswith(c.hash) for c in cells) and len({c.id for c in cells}) == 10
    assert {r.needs for r in runs if r.config["finetuned_on"]} == {(f.id,) for f in fts}
    lines = (spec.out / "plan.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [c.id for c in cells]
    assert [c.id for c in planning.expand(spec)] == [c.id for c in cells]  # deterministic

    for n in (1, 3, 8):
        shards = [planning.select_shard(cells, i, n) for i in range(n)]
        got = sorted(c.id for s in shards for c in s if c.kind == "run")
        assert got == sorted(c.id for c in runs)  # a partition of the run cells
        for s in shards:
            need = {i for c in s for i in c.needs}
            assert need == {c.id for c in s if c.kind == "finetune"}
        loads = [sum(c.cost for c in s if c.kind == "run") for s in shards]
        assert max(loads) - min(loads) <= max(c.cost for c in runs) + 1e-9
    # largest first onto the least loaded shard: 5,4,3,3,2,1 splits 9 / 9
    weighted = [
        planning.Cell("run", f"c{i}", "h", {}, cost=w) for i, w in enumerate([5, 4, 3, 3, 2, 1])
    ]
    owner = planning.shard_of(weighted, 2)
    loads = [sum(c.cost for c in weighted if owner[c.id] == i) for i in range(2)]
    assert loads == [9, 9] and owner == planning.shard_of(list(reversed(weighted)), 2)
    with pytest.raises(Exception, match="I/N"):
        planning.parse_shard("3/3")


def test_executors_give_identical_tables(tiny_bert, tmp_path):
    from ftprobe.sweeps.runner import run_sweep
    from ftprobe.sweeps.spec import load_spec

    tables = {}
    for name, executor, workers, options in [
        ("local1", "local", 1, {}),
        ("local2", "local", 2, {}),
        ("submitit", "slurm", 2, {"cluster": "local", "folder": str(tmp_path / "slurm-logs")}),
    ]:
        spec = load_spec(_spec(tmp_path, tiny_bert, name))
        summary = run_sweep(spec, executor=executor, workers=workers, executor_options=options)
        assert summary["counts"] == {"done": 10}, summary
        tables[name] = _table(spec.out)
    assert len(tables["local1"]) >= 8 * 3
    for name in ("local2", "submitit"):
        assert tables[name].equals(tables["local1"]), name
    again = run_sweep(load_spec(_spec(tmp_path, tiny_bert, "local1")))
    assert again["counts"] == {"skipped": 10}


@pytest.mark.slow
def test_ray_on_a_local_instance_gives_the_same_table(tiny_bert, tmp_path):
    from ftprobe.sweeps.runner import run_sweep
    from ftprobe.sweeps.spec import load_spec

    tables = []
    for name, executor in (("seq", "local"), ("ray", "ray")):
        spec = load_spec(_spec(tmp_path, tiny_bert, name))
        summary = run_sweep(spec, executor=executor, workers=2)
        assert summary["counts"] == {"done": 10}, summary
        tables.append(_table(spec.out))
    assert tables[1].equals(tables[0])


def test_a_failed_cell_is_recorded_and_the_others_run(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path, tiny_bert, "bad", layers="1,9")  # the tiny encoder has no layer 9
    good = tmp_path / "good.toml"
    good.write_text(spec.read_text().replace('"1,9"', '"1"').replace('out = "bad"', 'out = "bad"'))
    res = CliRunner().invoke(_cli(), ["sweep", "run", str(spec)])
    assert res.exit_code == 1
    assert "failed:" in res.output and "layer 9 is out of range" in res.output
    assert "2 done, 8 failed" in res.output  # the fine-tuning cells ran
    errors = list((tmp_path / "bad" / "cells").glob("*/error.json"))
    assert len(errors) == 8 and "out of range" in json.loads(errors[0].read_text())["error"]
    res = CliRunner().invoke(_cli(), ["sweep", "status", str(spec)])
    assert res.exit_code == 0 and "2 done, 8 failed" in res.output
    res = CliRunner().invoke(_cli(), ["sweep", "run", str(spec)])  # a rerun retries them
    assert res.exit_code == 1 and "2 skipped" in res.output and "8 failed" in res.output


def test_missing_extra_and_unknown_executor_are_one_line_errors(tiny_bert, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    spec = _spec(tmp_path, tiny_bert, "x")
    res = CliRunner().invoke(_cli(), ["sweep", "run", str(spec), "--executor", "ray"])
    assert res.exit_code == 2 and "pip install 'ftprobe[ray]'" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(_cli(), ["sweep", "run", str(spec), "--executor", "nope"])
    assert res.exit_code == 2 and "unknown executor 'nope'" in res.output


def test_bad_spec_keys_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[axes]\nmodels = ["m"]\ntasks = ["pos"]\nlayer = ["1"]\n')
    res = CliRunner().invoke(_cli(), ["sweep", "plan", str(bad)])
    assert res.exit_code == 2 and "unknown key 'layer' in [axes]" in res.output


def test_sigkilled_sweep_rerun_computes_only_missing_cells(tiny_bert, tmp_path):
    from ftprobe.sweeps.runner import run_sweep
    from ftprobe.sweeps.spec import load_spec

    spec_path = _spec(tmp_path, tiny_bert, "killed")
    spec = load_spec(spec_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftprobe.cli", "-q", "sweep", "run", str(spec_path)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def done() -> dict[str, int]:
        stamps = {}
        for f in (spec.out / "cells").glob("*/result.json"):
            try:
                if json.loads(f.read_text()).get("complete"):
                    stamps[f.parent.name] = f.stat().st_mtime_ns
            except (OSError, ValueError):
                pass
        return stamps

    deadline = time.monotonic() + 300
    while len(done()) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = done()
    assert 3 <= len(before) < 8, before
    summary = run_sweep(spec)
    computed = {c["id"] for c in summary["cells"] if c["status"] == "done"}
    assert computed.isdisjoint(before) and len(computed) == 8 - len(before)
    after = done()
    assert len(after) == 8 and all(after[k] == v for k, v in before.items())


def test_shards_run_separately_cover_the_sweep_and_plot(tiny_bert, tmp_path):
    from ftprobe.sweeps import plan as planning
    from ftprobe.sweeps.spec import load_spec

    spec = _spec(tmp_path, tiny_bert, "sharded")
    first = planning.select_shard(planning.expand(load_spec(spec)), 0, 2)
    outs = []
    for shard in ("0/2", "1/2"):
        res = CliRunner().invoke(_cli(), ["sweep", "run", str(spec), "--shard", shard])
        assert res.exit_code == 0, res.output
        outs.append(res.output)
        if shard == "0/2":
            status = CliRunner().invoke(_cli(), ["sweep", "status", str(spec)])
            assert f"{len(first)} done, {10 - len(first)} pending" in status.output
    assert sum(c.kind == "run" for c in first) == 4
    assert f"{len(first)} done" in outs[0]  # its fine-tuning cells, then its 4 run cells
    status = CliRunner().invoke(_cli(), ["sweep", "status", str(spec)])
    assert status.output.strip().endswith("10 done")
    res = CliRunner().invoke(_cli(), ["plot", str(tmp_path / "sharded")])
    assert res.exit_code == 0 and (tmp_path / "sharded" / "sweep.png").is_file()
    assert len(list((tmp_path / "sharded" / "cells").glob("*/layers.png"))) == 8


def test_controls_and_after_axes_expand_into_cells(tiny_bert, tmp_path):
    """settings.controls adds each task's control task; axes.after adds encoders fine-tuned
    elsewhere as more variants (no fine-tuning cell); a task listed there is a clear error."""
    from ftprobe.errors import FtprobeError
    from ftprobe.sweeps.plan import expand, validate
    from ftprobe.sweeps.spec import load_spec

    text = _spec(tmp_path, tiny_bert).read_text()
    path = tmp_path / "ctl.toml"
    path.write_text(
        text.replace("[settings]\n", "[settings]\ncontrols = true\n").replace(
            'finetuned_on = ["", "ss-fxn"]', f'finetuned_on = [""]\nafter = ["{tiny_bert}"]'
        )
    )
    spec = load_spec(path)
    validate(spec)
    cells = expand(spec)
    runs = [c for c in cells if c.kind == "run"]
    assert not [c for c in cells if c.kind == "finetune"]
    assert len(runs) == 2 * 2 * 2 * 2  # variants × (tasks + controls) × seeds
    tasks = {(c.config["task"], c.config["seed"]) for c in runs}
    assert ("ss-role:control@1", 1) in tasks and ("ss-fxn:control@0", 0) in tasks
    assert sum(1 for c in runs if c.config.get("after") == str(tiny_bert)) == 8
    path.write_text(text.replace('finetuned_on = ["", "ss-fxn"]', 'after = ["ss-fxn"]'))
    with pytest.raises(FtprobeError, match="is a task; to fine-tune on it, list it in axes"):
        validate(load_spec(path))
