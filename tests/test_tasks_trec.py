"""TREC tasks on the real files: counts and coarse distributions from the data README."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ftprobe.api import TaskData
from ftprobe.datafiles import DataSource
from ftprobe.pluginmanager import tasks
from ftprobe.settings import Settings

COARSE = {
    "train": {"ABBR": 86, "DESC": 1_162, "ENTY": 1_250, "HUM": 1_223, "LOC": 835, "NUM": 896},
    "test": {"ABBR": 9, "DESC": 138, "ENTY": 94, "HUM": 65, "LOC": 81, "NUM": 113},
}


@pytest.fixture(scope="module")
def source(data_dir: Path, session_cache: Path) -> DataSource:
    return DataSource(Settings(data_dir=data_dir, cache_dir=session_cache, offline=True))


@pytest.fixture(scope="module")
def trec(source: DataSource) -> TaskData:
    return tasks().get("trec").load(source)


def test_counts_match_readme(trec: TaskData) -> None:
    train, test = trec.splits["train"], trec.splits["test"]
    assert (len(train.examples), len(test.examples)) == (5_452, 500)
    assert (train.n_sentences, test.n_sentences) == (5_452, 500)
    assert len(trec.labels) == 50
    assert len(test.label_counts()) == 42
    assert trec.unseen("test") == 0
    assert trec.target == "sentence"
    for name, split in trec.splits.items():
        coarse = Counter(ex.label.split(":")[0] for ex in split.examples)
        assert coarse == COARSE[name]


def test_examples_are_whole_questions(trec: TaskData, data_dir: Path) -> None:
    raw = (data_dir / "trec/TREC_10.label").read_text(encoding="latin-1").splitlines()
    first = trec.splits["test"].examples[0]
    assert first.targets == ()
    assert first.sentence_id == "test-1"
    assert (first.label + " " + " ".join(first.words)) == raw[0]
    assert all(ex.targets == () and ex.words for ex in trec.splits["train"].examples)


def test_latin1_byte_is_decoded(trec: TaskData) -> None:
    line66 = trec.splits["train"].examples[65]
    assert line66.sentence_id == "train-66"
    assert any("\u00f0" in w for w in line66.words)  # byte 0xF0 read as latin-1 'ð'


def test_coarse_task(source: DataSource, trec: TaskData) -> None:
    coarse = tasks().get("trec-coarse").load(source)
    assert coarse.labels == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert [ex.label for ex in coarse.splits["test"].examples] == [
        ex.label.split(":")[0] for ex in trec.splits["test"].examples
    ]
