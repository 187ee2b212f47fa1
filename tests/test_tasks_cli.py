"""``ftprobe tasks info NAME [--json]`` on the real data, and its one-line errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import conllu
import pytest
from click.testing import CliRunner

from ftprobe.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_info_json_pos(data_dir: Path) -> None:
    result = invoke("tasks", "info", "pos", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["task"] == "pos" and info["target"] == "word" and info["plugin"] == "ud"
    assert len(info["labels"]) == 17
    train, test = info["splits"]["train"], info["splits"]["test"]
    assert (train["sentences"], test["sentences"]) == (800, 200)
    assert train["examples"] + test["examples"] == 21_180
    assert train["labels"] == 17
    top = train["top_labels"]
    assert len(top) == 10
    assert [n for _, n in top] == sorted((n for _, n in top), reverse=True)
    assert sum(n for _, n in top) <= train["examples"]
    pud = data_dir / "ud_english_pud/en_pud-ud-test.conllu"
    want = hashlib.sha256(pud.read_bytes()).hexdigest()
    assert train["files"] == [{"path": str(pud), "sha256": want}]
    assert "ftprobe-pud-split-v1" in train["rule"]
    assert train["fingerprint"] != test["fingerprint"]


def test_info_json_counts_unseen_labels(data_dir: Path) -> None:
    info = json.loads(invoke("tasks", "info", "dep", "--json").output)
    # independent reference: the conllu package and the documented split rule
    with open(data_dir / "ud_english_pud/en_pud-ud-test.conllu", encoding="utf-8") as fh:
        sents = list(conllu.parse_incr(fh))
    ranked = sorted(sents, key=lambda s: _rank(s.metadata["sent_id"]))
    rels = {
        part: [t["deprel"] for s in group for t in s if isinstance(t["id"], int) and t["head"]]
        for part, group in (("train", ranked[:800]), ("test", ranked[800:]))
    }
    train_labels = sorted(set(rels["train"]))
    unseen = [rel for rel in rels["test"] if rel not in train_labels]
    test = info["splits"]["test"]
    assert info["labels"] == train_labels
    assert test["examples"] == len(rels["test"])  # unseen examples are kept ...
    assert test["unseen_examples"] == len(unseen) > 0  # ... and counted
    assert test["unseen_labels"] == sorted(set(unseen))


def _rank(sent_id: str) -> str:
    return hashlib.sha256(f"ftprobe-pud-split-v1:{sent_id}".encode()).hexdigest()


@pytest.mark.corpus
def test_info_table_ewt() -> None:
    result = invoke("tasks", "info", "pos-ewt")
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ("splits", "10 most frequent labels", "data files", "204,577", "25,147", "NOUN"):
        assert text in out
    assert "dev" in out and "sha256" in out


def test_info_unknown_task() -> None:
    result = invoke("tasks", "info", "poss")
    assert result.exit_code == 2
    assert "unknown task 'poss'" in result.output and "did you mean 'pos'" in result.output


def test_info_malformed_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "trec/train_5500.label"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"HUM:ind Who is he ?\nno label here\n")
    (tmp_path / "trec/TREC_10.label").write_bytes(b"HUM:ind Who ?\n")
    result = invoke("--data-dir", str(tmp_path), "tasks", "info", "trec")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith(f"Error: {bad}:2: cannot read the line")
