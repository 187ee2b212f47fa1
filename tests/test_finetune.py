"""Fine-tuning on real data with the small offline encoder (minilm-l3) and tiny subsets.

``tiny_tasks`` (conftest) registers ``tiny-<task>`` variants of real tasks."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from support import FAST, MODEL

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("task", ["tiny-pos", "tiny-dep", "tiny-trec"])
def test_checkpoint_loads_and_changes_vectors(tiny_tasks, task):
    from ftprobe.engine.extract import vectors
    from ftprobe.engine.finetune import META_FILE, finetuned_checkpoint
    from ftprobe.engine.loading import load_encoder, load_task

    path = finetuned_checkpoint(MODEL, task, **FAST)
    meta = json.loads((path / META_FILE).read_text())
    assert meta["n_train"] == 32 and meta["steps"] == 2 and len(meta["loss"]) == 2
    assert all(np.isfinite(meta["loss"]))
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    spec, data = load_task(task)
    before, after = load_encoder(MODEL), load_encoder(str(path))
    assert after.fingerprint != before.fingerprint
    v0 = np.asarray(vectors(spec, data, "test", before, device="cpu", batch_size=32))
    v1 = np.asarray(vectors(spec, data, "test", after, device="cpu", batch_size=32))
    assert v0.shape == v1.shape
    # the last layer moved; the original encoder in memory kept its weights
    assert np.abs(v1[-1] - v0[-1]).mean() > 1e-3
    v0_again = np.asarray(
        vectors(spec, data, "test", load_encoder(MODEL), device="cpu", batch_size=32)
    )
    assert np.array_equal(v0, v0_again)


def test_second_call_reuses_checkpoint(tiny_tasks):
    from ftprobe.engine.finetune import finetuned_checkpoint

    first = finetuned_checkpoint(MODEL, "tiny-pos", **FAST)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    again = finetuned_checkpoint(MODEL, "tiny-pos", **FAST)
    assert again == first and (first / "model.safetensors").stat().st_mtime_ns == stamp


def test_key_covers_encoder_task_hyperparameters_and_seed(tiny_tasks):
    from ftprobe.engine.finetune import FinetuneConfig, checkpoint_key
    from ftprobe.engine.loading import load_encoder, load_task

    enc = load_encoder(MODEL)
    spec, data = load_task("tiny-pos")
    base = FinetuneConfig(epochs=1)
    keys = {checkpoint_key(enc, spec, data, base)}
    for change in (
        {"epochs": 2},
        {"lr": 1e-4},
        {"batch_size": 8},
        {"seed": 1},
        {"warmup": 0.0},
        {"max_examples": 10},
    ):
        keys.add(checkpoint_key(enc, spec, data, replace(base, **change)))
    spec2, data2 = load_task("tiny-trec")
    keys.add(checkpoint_key(enc, spec2, data2, base))
    keys.add(checkpoint_key(replace(enc, fingerprint="other"), spec, data, base))
    assert len(keys) == 9
    assert checkpoint_key(enc, spec, data, base) == checkpoint_key(enc, spec, data, base)


def test_save_every_keeps_checkpoints_and_training_is_seeded(tiny_tasks, tmp_path, monkeypatch):
    from ftprobe import settings
    from ftprobe.engine.finetune import checkpoint_series, finetuned_checkpoint, read_meta
    from ftprobe.engine.loading import load_encoder

    first = finetuned_checkpoint(MODEL, "tiny-trec", **FAST)
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(tmp_path))
    settings.reset()
    path = finetuned_checkpoint(MODEL, "tiny-trec", **{**FAST, "save_every": 1})
    assert path.name == first.name and path != first  # same key, other cache
    series = checkpoint_series(path)
    assert [s for s, _ in series] == [1, 2]
    assert series[-1][1] == path and read_meta(path)["save_every"] == 1
    assert load_encoder(str(series[0][1])).num_layers == 3
    # same seed, same data: the same loss curve (save_every does not change training)
    assert read_meta(path)["loss"] == pytest.approx(read_meta(first)["loss"], rel=1e-4)


def test_schedule_warms_up_then_decays():
    from ftprobe.engine.finetune import _schedule

    f = _schedule(20, 0.1)
    assert [f(s) for s in range(3)] == pytest.approx([0.5, 1.0, 1.0])
    assert f(11) == pytest.approx(0.5) and f(20) == 0.0
    assert all(f(s) >= f(s + 1) for s in range(2, 20))


def test_bad_options_are_one_line_errors(tiny_tasks):
    from ftprobe.engine.finetune import finetuned_checkpoint
    from ftprobe.errors import FtprobeError, UnknownNameError

    with pytest.raises(FtprobeError, match="--epochs must be at least 1"):
        finetuned_checkpoint(MODEL, "tiny-pos", epochs=0)
    with pytest.raises(FtprobeError, match="--lr must be positive"):
        finetuned_checkpoint(MODEL, "tiny-pos", lr=-1.0)
    with pytest.raises(UnknownNameError, match="unknown task"):
        finetuned_checkpoint(MODEL, "no-such-task")


def test_finetune_command(tiny_tasks):
    from click.testing import CliRunner

    from ftprobe.cli import cli

    args = [
        "finetune",
        "--task",
        "tiny-pos",
        "--model",
        MODEL,
        "--epochs",
        "1",
        "--ft-batch-size",
        "16",
        "--max-train-examples",
        "32",
        "--device",
        "cpu",
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    path = res.output.strip().splitlines()[-1]
    assert (json.loads(open(f"{path}/ftprobe-finetune.json").read())["task"]) == "tiny-pos"
    res = CliRunner().invoke(cli, [*args, "--lr", "0"])
    assert res.exit_code == 2 and "--lr must be positive" in res.output
