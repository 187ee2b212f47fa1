"""Universal Dependencies tasks: ``pos`` / ``dep`` on English PUD, ``pos-ewt`` / ``dep-ewt`` on
English-EWT (official train/dev/test files).

* ``pos``: one example per syntactic word (multiword-token ranges and empty nodes skipped),
  target ``(i,)``, label UPOS.
* ``dep``: one example per word whose head is not the root, target ``(head, dependent)``
  (0-based word indices), label DEPREL with its subtype as annotated (``nmod:poss``).

PUD split (the corpus is one 1,000-sentence test file; the paper's split is unpublished):
sentences are ranked by ``sha256("ftprobe-pud-split-v1:" + sent_id)`` (hex digest, ascending);
the first 80% (800) form ``train`` and the rest ``test``; each split keeps corpus order. The
rule depends only on the sentence ids, so it never changes between runs, machines or library
versions. Its text, naming the part (train or test), is stored in ``Split.rule`` and so
enters every cache key (both parts come from the same file, so the rule must tell them apart).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ftprobe import hookimpl
from ftprobe.api import DataFile, Example, Split, TaskData, TaskSpec
from ftprobe.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from ftprobe.datafiles import DataSource
    from ftprobe.plugins.tasks.conllu_reader import Sentence

PUD_FILE = (
    "ud_english_pud/en_pud-ud-test.conllu",
    "https://raw.githubusercontent.com/UniversalDependencies/UD_English-PUD/master/"
    "en_pud-ud-test.conllu",
    "c80584f2bc2b31d5bada78a1136f9feec7ac49e5e18898db02dea434b5b8f0aa",
)
_EWT_URL = "https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.16/"
EWT_FILES = {
    "train": (
        "ud_english_ewt/en_ewt-ud-train.conllu",
        _EWT_URL + "en_ewt-ud-train.conllu",
        "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b",
    ),
    "dev": (
        "ud_english_ewt/en_ewt-ud-dev.conllu",
        _EWT_URL + "en_ewt-ud-dev.conllu",
        "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6",
    ),
    "test": (
        "ud_english_ewt/en_ewt-ud-test.conllu",
        _EWT_URL + "en_ewt-ud-test.conllu",
        "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd",
    ),
}
PUD_SPLIT_SALT = "ftprobe-pud-split-v1:"
PUD_TRAIN_FRACTION = (4, 5)  # 80 / 20
PUD_SPLIT_RULE = (
    "rank sentences by sha256('ftprobe-pud-split-v1:' + sent_id) hex ascending; "
    "first 4/5 (floor) train, rest test; corpus order kept within each split"
)

ExampleMaker = Callable[["Sentence"], Iterable[Example]]


def pos_examples(sent: Sentence) -> Iterable[Example]:
    """One UPOS example per word."""
    words = sent.forms
    for i, tag in enumerate(sent.upos):
        yield Example(words, (i,), tag, sent.sent_id)


def dep_examples(sent: Sentence) -> Iterable[Example]:
    """One (head, dependent) example per word whose head is not the root."""
    words = sent.forms
    for i, (head, rel) in enumerate(zip(sent.heads, sent.deprels, strict=True)):
        if head != 0:
            yield Example(words, (head - 1, i), rel, sent.sent_id)


def pud_partition(sent_ids: list[str]) -> tuple[set[str], set[str]]:
    """The PUD train/test partition of ``sent_ids`` (see the module docstring)."""
    ranked = sorted(
        sent_ids, key=lambda s: hashlib.sha256((PUD_SPLIT_SALT + s).encode()).hexdigest()
    )
    num, den = PUD_TRAIN_FRACTION
    cut = len(ranked) * num // den
    return set(ranked[:cut]), set(ranked[cut:])


def _split(
    name: str, sentences: Sequence[Sentence], make: ExampleMaker, files: list[DataFile], rule=""
) -> Split:
    examples = [ex for sent in sentences for ex in make(sent)]
    return Split(name, examples, len(sentences), files=files, rule=rule)


def load_pud(task: str, make: ExampleMaker, source: DataSource) -> TaskData:
    from ftprobe.plugins.tasks.conllu_reader import read_sentences

    file = source.fetch(*PUD_FILE)
    sentences = read_sentences(file)
    ids = [s.sent_id for s in sentences]
    if len(set(ids)) != len(ids):
        dup = next(s for s in sentences if ids.count(s.sent_id) > 1)
        raise DataError(
            f"duplicate sent_id {dup.sent_id!r}; the PUD split needs unique sentence ids",
            file.path,
            dup.line,
        )
    train_ids, _ = pud_partition(ids)
    train = [s for s in sentences if s.sent_id in train_ids]
    test = [s for s in sentences if s.sent_id not in train_ids]
    return TaskData(
        task,
        "word" if make is pos_examples else "pair",
        {
            "train": _split("train", train, make, [file], f"{PUD_SPLIT_RULE}; this is: train"),
            "test": _split("test", test, make, [file], f"{PUD_SPLIT_RULE}; this is: test"),
        },
    )


def load_ewt(task: str, make: ExampleMaker, source: DataSource) -> TaskData:
    from ftprobe.plugins.tasks.conllu_reader import read_sentences

    splits = {}
    for name, args in EWT_FILES.items():
        file = source.fetch(*args)
        splits[name] = _split(name, read_sentences(file), make, [file])
    return TaskData(task, "word" if make is pos_examples else "pair", splits)


@hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name="pos",
            description="UPOS of each word, English PUD (seeded 80/20 sentence split)",
            target="word",
            load=lambda source: load_pud("pos", pos_examples, source),
        )
    )
    register(
        TaskSpec(
            name="dep",
            description="DEPREL of each (head, dependent) pair, English PUD (seeded 80/20 split)",
            target="pair",
            load=lambda source: load_pud("dep", dep_examples, source),
        )
    )
    register(
        TaskSpec(
            name="pos-ewt",
            description="UPOS of each word, UD English-EWT v2.16 train/dev/test",
            target="word",
            load=lambda source: load_ewt("pos-ewt", pos_examples, source),
            splits=("train", "dev", "test"),
        )
    )
    register(
        TaskSpec(
            name="dep-ewt",
            description="DEPREL of each (head, dependent) pair, UD English-EWT v2.16",
            target="pair",
            load=lambda source: load_ewt("dep-ewt", dep_examples, source),
            splits=("train", "dev", "test"),
        )
    )
