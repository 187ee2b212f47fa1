"""STREUSLE supersense tasks on the real corpus: counts and label sets from the data README,
checked against an independent parse with the ``conllu`` package (19 named columns)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import conllu
import pytest

from ftprobe.api import TaskData
from ftprobe.datafiles import DataSource
from ftprobe.pluginmanager import tasks
from ftprobe.settings import Settings

LEX_FIELDS = [
    "id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc",
    "smwe", "lexcat", "lexlemma", "ss", "ss2", "wmwe", "wcat", "wlemma", "lextag",
]  # fmt: skip
TRAIN_ROLES = (
    "p.Agent p.Ancillary p.Approximator p.Beneficiary p.Characteristic p.Circumstance "
    "p.ComparisonRef p.Cost p.Direction p.Duration p.EndTime p.Ensemble p.Experiencer "
    "p.Explanation p.Extent p.Force p.Frequency p.Gestalt p.Goal p.Identity p.Instrument "
    "p.Interval p.Locus p.Manner p.Means p.Org p.OrgMember p.Originator p.PartPortion p.Path "
    "p.Possession p.Possessor p.Purpose p.QuantityItem p.Recipient p.SetIteration p.SocialRel "
    "p.Source p.Species p.StartTime p.Stimulus p.Stuff p.Theme p.Time p.Topic p.Whole"
).split()
# README: sentences, single-word P targets, distinct PS-role / PS-fxn among them
README = {"train": (2_725, 3_163, 46, 37), "dev": (554, 319, 38, 34), "test": (535, 343, 37, 32)}


@pytest.fixture(scope="module")
def source(data_dir: Path, session_cache: Path) -> DataSource:
    return DataSource(Settings(data_dir=data_dir, cache_dir=session_cache, offline=True))


@pytest.fixture(scope="module")
def role(source: DataSource) -> TaskData:
    return tasks().get("ss-role").load(source)


@pytest.fixture(scope="module")
def fxn(source: DataSource) -> TaskData:
    return tasks().get("ss-fxn").load(source)


def test_counts_match_readme(role: TaskData, fxn: TaskData) -> None:
    for name, (n_sent, n_targets, n_role, n_fxn) in README.items():
        r, f = role.splits[name], fxn.splits[name]
        assert r.n_sentences == f.n_sentences == n_sent
        assert len(r.examples) == len(f.examples) == n_targets
        assert len(r.label_counts()) == n_role
        assert len(f.label_counts()) == n_fxn
    assert role.labels == TRAIN_ROLES
    assert all(label.startswith("p.") for label in fxn.labels)
    assert set(fxn.labels) < set(TRAIN_ROLES)


def test_targets_agree_with_conllu_parse(role: TaskData, fxn: TaskData, data_dir: Path) -> None:
    path = data_dir / "streusle/streusle.ud_dev.conllulex"
    with open(path, encoding="utf-8") as fh:
        sents = list(conllu.parse_incr(fh, fields=LEX_FIELDS))
    expected_role, expected_fxn = [], []
    for sent in sents:
        words = sent.filter(id=lambda i: isinstance(i, int))
        for i, tok in enumerate(words):
            if tok["lexcat"] == "P" and tok["smwe"] == "_" and tok["ss"].startswith("p."):
                key = (sent.metadata["sent_id"], i, tok["form"])
                expected_role.append((*key, tok["ss"]))
                expected_fxn.append((*key, tok["ss2"]))
    got_role = [
        (ex.sentence_id, ex.targets[0], ex.words[ex.targets[0]], ex.label)
        for ex in role.splits["dev"].examples
    ]
    got_fxn = [
        (ex.sentence_id, ex.targets[0], ex.words[ex.targets[0]], ex.label)
        for ex in fxn.splits["dev"].examples
    ]
    assert got_role == expected_role
    assert got_fxn == expected_fxn


def test_special_and_multiword_targets_are_excluded(role: TaskData) -> None:
    labels = Counter(ex.label for sp in role.splits.values() for ex in sp.examples)
    assert "??" not in labels and "`$" not in labels
    # a single-word target never sits inside a strong MWE, so ``in`` of "in front of" etc.
    # and PP idioms are gone while plain prepositions remain
    forms = Counter(ex.words[ex.targets[0]].lower() for ex in role.splits["train"].examples)
    assert forms["in"] > 100 and forms["for"] > 100


def test_aliases(role: TaskData) -> None:
    assert tasks().get("ps-role").name == "ss-role"
    assert tasks().get("ps-fxn").name == "ss-fxn"
    assert tasks().get("ss-role").splits == ("train", "dev", "test")
