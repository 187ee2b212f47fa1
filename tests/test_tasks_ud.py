"""UD tasks on the real corpora: counts from the data README, the PUD split, and agreement
of the hand parser with the ``conllu`` package."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import conllu
import pytest

from ftprobe.api import TaskData
from ftprobe.datafiles import DataSource
from ftprobe.pluginmanager import tasks
from ftprobe.plugins.tasks import ud
from ftprobe.plugins.tasks.conllu_reader import read_sentences
from ftprobe.settings import Settings

UPOS = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
EWT_TRAIN_DEPREL = (
    "acl acl:relcl advcl advcl:relcl advmod amod appos aux aux:pass case cc cc:preconj ccomp "
    "compound compound:prt conj cop csubj csubj:outer csubj:pass dep det det:predet discourse "
    "dislocated expl fixed flat goeswith iobj list mark nmod nmod:desc nmod:poss nmod:unmarked "
    "nsubj nsubj:outer nsubj:pass nummod obj obl obl:agent obl:unmarked orphan parataxis punct "
    "reparandum root vocative xcomp"
).split()
# sha256 of the sorted sent_ids of the PUD test split (rule v1); pinned so that a change shows
PUD_TEST_DIGEST = "4a513085450b91742107313f36262b3a2430df398a50a4ef50160224b074ca86"


@pytest.fixture(scope="module")
def source(data_dir: Path, session_cache: Path) -> DataSource:
    return DataSource(Settings(data_dir=data_dir, cache_dir=session_cache, offline=True))


@pytest.fixture(scope="module")
def pos(source: DataSource) -> TaskData:
    return tasks().get("pos").load(source)


@pytest.fixture(scope="module")
def dep(source: DataSource) -> TaskData:
    return tasks().get("dep").load(source)


def _reference(path: Path) -> tuple[list[conllu.TokenList], list[conllu.TokenList]]:
    """The file parsed by the ``conllu`` package: syntactic words only, and as parsed."""
    with open(path, encoding="utf-8") as fh:
        sents = list(conllu.parse_incr(fh))
    return [s.filter(id=lambda i: isinstance(i, int)) for s in sents], sents


def test_pud_counts_match_readme(pos: TaskData) -> None:
    train, test = pos.splits["train"], pos.splits["test"]
    assert list(pos.splits) == ["train", "test"]
    assert (train.n_sentences, test.n_sentences) == (800, 200)
    assert len(train.examples) + len(test.examples) == 21_180
    assert pos.labels == UPOS
    assert pos.target == "word"
    assert len({ex.sentence_id for ex in train.examples + test.examples}) == 1_000


def test_pud_split_is_the_documented_rule(pos: TaskData, data_dir: Path) -> None:
    _, sents = _reference(data_dir / "ud_english_pud/en_pud-ud-test.conllu")
    ids = [s.metadata["sent_id"] for s in sents]
    ranked = sorted(
        ids, key=lambda i: hashlib.sha256(f"ftprobe-pud-split-v1:{i}".encode()).digest()
    )
    assert {ex.sentence_id for ex in pos.splits["train"].examples} == set(ranked[:800])
    assert {ex.sentence_id for ex in pos.splits["test"].examples} == set(ranked[800:])
    # corpus order is kept inside a split
    order = {sid: k for k, sid in enumerate(ids)}
    seen = [order[ex.sentence_id] for ex in pos.splits["test"].examples]
    assert seen == sorted(seen)
    assert "ftprobe-pud-split-v1" in pos.splits["train"].rule


def test_pud_split_is_stable(pos: TaskData, dep: TaskData) -> None:
    ids = sorted({ex.sentence_id for sp in pos.splits.values() for ex in sp.examples})
    shuffled = ids[:]
    random.Random(7).shuffle(shuffled)
    assert ud.pud_partition(shuffled) == ud.pud_partition(ids)
    # pinned: the test sentences of split v1 never change between runs, machines or versions
    test_ids = sorted({ex.sentence_id for ex in pos.splits["test"].examples})
    digest = hashlib.sha256("\n".join(test_ids).encode()).hexdigest()
    assert test_ids[:3] == ["n01003013", "n01011017", "n01016032"]
    assert digest == PUD_TEST_DIGEST
    # pos and dep use the same sentences, and the rule enters the cache fingerprint
    dep_test = {ex.sentence_id for ex in dep.splits["test"].examples}
    assert dep_test <= set(test_ids)
    assert pos.splits["test"].fingerprint() == dep.splits["test"].fingerprint()
    assert pos.splits["train"].fingerprint() != pos.splits["test"].fingerprint()


def test_dep_pairs_follow_the_heads(dep: TaskData, data_dir: Path) -> None:
    words, _ = _reference(data_dir / "ud_english_pud/en_pud-ud-test.conllu")
    n_words = sum(len(s) for s in words)
    all_examples = dep.splits["train"].examples + dep.splits["test"].examples
    assert len(all_examples) == n_words - 1_000  # every word but the one root per sentence
    assert "root" not in dep.labels
    assert "nmod:poss" in dep.labels  # subtypes kept as annotated
    by_id = {s.metadata["sent_id"]: s for s in words}
    for ex in all_examples[::37]:
        head, dependent = ex.targets
        tok = by_id[ex.sentence_id][dependent]
        assert tok["head"] == head + 1
        assert tok["deprel"] == ex.label
        assert ex.words[head] == by_id[ex.sentence_id][head]["form"]
    # test labels unseen in train are counted, not dropped
    unseen = [ex for ex in dep.splits["test"].examples if ex.label not in set(dep.labels)]
    assert dep.unseen("test") == len(unseen) > 0


@pytest.mark.parametrize(
    "relpath", ["ud_english_pud/en_pud-ud-test.conllu", "ud_english_ewt/en_ewt-ud-dev.conllu"]
)
def test_reader_agrees_with_conllu_package(source: DataSource, relpath: str) -> None:
    file = source.fetch(relpath)
    mine = read_sentences(file)
    reference, _ = _reference(file.path)
    assert len(mine) == len(reference)
    for sent, ref in zip(mine, reference, strict=True):
        assert sent.sent_id == ref.metadata["sent_id"]
        assert sent.forms == tuple(t["form"] for t in ref)
        assert sent.upos == tuple(t["upos"] for t in ref)
        assert sent.heads == tuple(t["head"] for t in ref)
        assert sent.deprels == tuple(t["deprel"] for t in ref)


def test_ewt_counts_match_readme(source: DataSource) -> None:
    pos_ewt = tasks().get("pos-ewt").load(source)
    assert tasks().get("pos-ewt").splits == ("train", "dev", "test")
    got = {k: (s.n_sentences, len(s.examples)) for k, s in pos_ewt.splits.items()}
    assert got == {"train": (12_544, 204_577), "dev": (2_001, 25_147), "test": (2_077, 25_094)}
    assert pos_ewt.labels == UPOS
    dep_ewt = tasks().get("dep-ewt").load(source)
    assert dep_ewt.labels == [rel for rel in EWT_TRAIN_DEPREL if rel != "root"]
    train = dep_ewt.splits["train"]
    assert len(train.examples) == 204_577 - 12_544
    assert {ex.label for ex in dep_ewt.splits["dev"].examples} <= set(dep_ewt.labels)
