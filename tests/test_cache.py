"""The vector cache: hits without a forward pass, invalidation on data change, resume after
a crash, atomic entries, and the `encode` / `cache ls|clear` commands (real MiniLM-L3)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from ftprobe import hookimpl, pluginmanager, settings
from ftprobe.api import DataFile, Example, Split, TaskData, TaskSpec
from ftprobe.datafiles import DataSource, sha256_of
from ftprobe.engine import cache, extract, pooling

LINES = [
    "NOUN\t1\tThe hippopotamuses swam",
    "VERB\t2\tThe hippopotamuses swam",
    "ADJ\t0\tunbelievably photosynthetic plants grow",
    "NOUN\t2\tunbelievably photosynthetic plants grow",
    "PRON\t0\tthey misbehaved repeatedly",
    "ADV\t2\tthey misbehaved repeatedly",
    "NOUN\t1\tA cat .",
]


def write_data(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def make_task(path: Path) -> TaskSpec:
    """A word-target task over ``path`` (label TAB word-index TAB sentence); the first five
    lines are train, the rest test."""

    def load(source: DataSource) -> TaskData:
        rows = [line.split("\t") for line in path.read_text().splitlines() if line]
        exs = [Example(tuple(s.split()), (int(t),), lab, s) for lab, t, s in rows]
        f = [DataFile(path, sha256_of(path))]
        return TaskData(
            "tiny",
            "word",
            {
                "train": Split("train", exs[:5], 3, f, "first five"),
                "test": Split("test", exs[5:], 2, f, "rest"),
            },
        )

    return TaskSpec("tiny", "a tiny word task", "word", load)


@pytest.fixture(scope="module")
def l3(minilm_l3_dir: Path):
    from ftprobe.plugins.models.hf import load_directory

    return load_directory(minilm_l3_dir, "minilm-l3")


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(tmp_path / "cache"))
    settings.reset()
    return tmp_path / "cache"


@pytest.fixture
def forward_calls(monkeypatch) -> list[int]:
    """Counts forward passes (plans run)."""
    calls: list[int] = []
    real = pooling.run_plan

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pooling, "run_plan", counting)
    return calls


def test_hit_on_second_call_without_forward(l3, tmp_path, fresh_cache, forward_calls):
    spec = make_task(write_data(tmp_path / "d.tsv", LINES))
    data = spec.load(DataSource())
    first = extract.vectors(spec, data, "train", l3, batch_size=2)
    assert len(forward_calls) >= 2
    expected = extract.extract(l3, data.splits["train"].examples, "word")
    np.testing.assert_allclose(first, expected, atol=1e-5)
    forward_calls.clear()
    again = extract.vectors(spec, spec.load(DataSource()), "train", l3)
    assert forward_calls == []
    assert isinstance(again, np.memmap) and not again.flags.writeable
    np.testing.assert_array_equal(again, first)
    assert [e.complete for e in cache.entries()] == [True]


def test_data_change_invalidates(l3, tmp_path, fresh_cache, forward_calls):
    path = write_data(tmp_path / "d.tsv", LINES)
    spec = make_task(path)
    before = np.array(extract.vectors(spec, spec.load(DataSource()), "train", l3))
    changed = [LINES[0].replace("swam", "dove"), *LINES[1:]]
    write_data(path, changed)
    forward_calls.clear()
    after = extract.vectors(spec, spec.load(DataSource()), "train", l3)
    assert forward_calls  # recomputed
    assert not np.allclose(before[:, 0], after[:, 0])  # contextual vector of "hippopotamuses"
    np.testing.assert_allclose(before[:, 2:], after[:, 2:], atol=1e-5)  # other sentences
    assert len(cache.entries()) == 2


def test_resume_after_crash(l3, tmp_path, fresh_cache, monkeypatch, forward_calls):
    spec = make_task(write_data(tmp_path / "d.tsv", LINES))
    data = spec.load(DataSource())
    monkeypatch.setattr(extract, "CHUNK_EXAMPLES", 1)  # one chunk per train sentence: 3
    real = pooling.run_plan
    state = {"left": 2}

    def dying(*args, **kwargs):
        if state["left"] == 0:
            raise KeyboardInterrupt  # the run is killed during the third chunk
        state["left"] -= 1
        return real(*args, **kwargs)

    monkeypatch.setattr(pooling, "run_plan", dying)
    with pytest.raises(KeyboardInterrupt):
        extract.vectors(spec, data, "train", l3, batch_size=1)
    [entry] = cache.entries()
    assert not entry.complete and entry.progress == "2/3 chunks"
    assert entry.meta["task"] == "tiny"
    key = cache.make_key(extract.cache_parts(spec, data, "train", l3, 512))
    assert key == entry.key and cache.load(key) is None  # no readable half entry

    calls: list[int] = []
    monkeypatch.setattr(pooling, "run_plan", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = extract.vectors(spec, data, "train", l3, batch_size=1)
    assert len(calls) == 1  # only the unfinished chunk's one sentence
    expected = extract.extract(l3, data.splits["train"].examples, "word")
    np.testing.assert_allclose(resumed, expected, atol=1e-5)
    assert [e.complete for e in cache.entries()] == [True]


def test_corrupt_partial_is_rebuilt(l3, tmp_path, fresh_cache):
    spec = make_task(write_data(tmp_path / "d.tsv", LINES))
    data = spec.load(DataSource())
    key = cache.make_key(extract.cache_parts(spec, data, "test", l3, 512))
    partial = fresh_cache / "vectors" / f"{key}.partial"
    partial.mkdir(parents=True)
    (partial / "vectors.npy").write_bytes(b"\x93NUMPY garbage")
    (partial / "done.json").write_text('{"n_chunks": 1, "done": [0]}')
    got = extract.vectors(spec, data, "test", l3)
    np.testing.assert_allclose(got, extract.extract(l3, data.splits["test"].examples, "word"))


class TinyPlugin:
    def __init__(self, path: Path):
        self.spec = make_task(path)

    @hookimpl
    def register_tasks(self, register):
        register(self.spec)


@pytest.fixture
def cli_group(tmp_path: Path):
    from ftprobe.cli.encode import cache, encode

    pluginmanager.register(TinyPlugin(write_data(tmp_path / "d.tsv", LINES)), name="tiny-test")
    group = click.Group()
    group.add_command(encode)
    group.add_command(cache)
    yield group
    pluginmanager.unregister("tiny-test")


def test_encode_command_exports_and_cache_commands(cli_group, tmp_path, fresh_cache, minilm_l3_dir):
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(
        cli_group,
        ["encode", "--task", "tiny", "--model", str(minilm_l3_dir), "--out", str(out)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    assert "tiny/train: 5 examples x 4 layers x 384 dims" in res.output
    layers = sorted(p.name for p in (out / "train").glob("layer_*.npy"))
    assert layers == [f"layer_{k:02d}.npy" for k in range(4)]
    assert (out / "test" / "labels.txt").read_text().split() == ["ADV", "NOUN"]
    entries = {e.meta["split"]: e for e in cache.entries()}
    cached = np.load(entries["train"].path / "vectors.npy")
    np.testing.assert_array_equal(np.load(out / "train" / "layer_02.npy"), cached[2])
    meta = json.loads((out / "train" / "meta.json").read_text())
    assert meta["labels"] == ["ADJ", "NOUN", "PRON", "VERB"] and meta["examples"] == 5

    listed = json.loads(runner.invoke(cli_group, ["cache", "ls", "--json"]).output)
    assert sorted(e["split"] for e in listed) == ["test", "train"]
    assert all(e["complete"] and e["task"] == "tiny" for e in listed)
    table = runner.invoke(cli_group, ["cache", "ls"]).output
    assert "tiny" in table and "complete" in table

    res = runner.invoke(cli_group, ["cache", "clear", "--task", "other"])
    assert "removed 0 cache entries" in res.output and len(cache.entries()) == 2
    res = runner.invoke(cli_group, ["cache", "clear", "--model", str(minilm_l3_dir)])
    assert "removed 2 cache entries" in res.output and cache.entries() == []


def test_encode_bad_split_is_a_user_error(cli_group, fresh_cache):
    from ftprobe.errors import FtprobeError

    with pytest.raises(FtprobeError, match="no split 'dev'"):
        CliRunner().invoke(
            cli_group,
            ["encode", "--task", "tiny", "--model", "minilm-l3", "--split", "dev"],
            catch_exceptions=False,
        )
