"""STREUSLE 4.7.1 preposition supersense tasks ``ss-role`` (scene role, column ``SS``) and
``ss-fxn`` (function, column ``SS2``), on the official train/dev/test ``.conllulex`` files.

A target is a single-word preposition: LEXCAT (column 12) is ``P``, the token is not part of
a strong MWE (SMWE, column 11, is ``_``) and ``SS`` (column 14) starts with ``p.``; the
special values ``??`` and ``` `$ ``` are therefore excluded. Columns as in ``CONLLULEX.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ftprobe import hookimpl
from ftprobe.api import Example, Split, TaskData, TaskSpec
from ftprobe.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from ftprobe.datafiles import DataSource
    from ftprobe.plugins.tasks.conllu_reader import Sentence

_URL = "https://raw.githubusercontent.com/nert-nlp/streusle/v4.7.1/"
FILES = {
    "train": (
        "streusle/streusle.ud_train.conllulex",
        _URL + "train/streusle.ud_train.conllulex",
        "adf7244b95c600a1d1e72fa4eb61009bdce3ba41722581e57283e0f6727cd229",
    ),
    "dev": (
        "streusle/streusle.ud_dev.conllulex",
        _URL + "dev/streusle.ud_dev.conllulex",
        "ef5e72648b9c3673abeb15c4641a68f849e1d652bad3a6b15cca73124b1e5d46",
    ),
    "test": (
        "streusle/streusle.ud_test.conllulex",
        _URL + "test/streusle.ud_test.conllulex",
        "7d159c49a015214944eab3acbfe7b0aefaa112e0928500a3dada7a4cc1048a18",
    ),
}
# 0-based positions within the 9 columns that follow the 10 CoNLL-U columns
SMWE, LEXCAT, SS, SS2 = 0, 1, 3, 4


def preposition_examples(sent: Sentence, column: int) -> Iterable[Example]:
    """Single-word preposition targets of ``sent`` labelled by ``column`` (SS or SS2)."""
    for i, lex in enumerate(sent.extra):
        if lex[LEXCAT] == "P" and lex[SMWE] == "_" and lex[SS].startswith("p."):
            yield Example(sent.forms, (i,), lex[column], sent.sent_id)


def load(task: str, column: int, source: DataSource) -> TaskData:
    from ftprobe.plugins.tasks.conllu_reader import CONLLULEX_COLUMNS, read_sentences

    splits: dict[str, Split] = {}
    for name, args in FILES.items():
        file = source.fetch(*args)
        sentences = read_sentences(file, CONLLULEX_COLUMNS)
        examples = []
        for sent in sentences:
            for ex in preposition_examples(sent, column):
                if not ex.label.startswith("p."):
                    raise DataError(
                        f"preposition target {ex.words[ex.targets[0]]!r} has SS2 {ex.label!r}, "
                        "not a p.* supersense; fix the file",
                        file.path,
                        sent.line,
                    )
                examples.append(ex)
        splits[name] = Split(name, examples, len(sentences), files=[file])
    return TaskData(task, "word", splits)


@hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name="ss-role",
            description="SNACS scene role (SS) of single-word prepositions, STREUSLE 4.7.1",
            target="word",
            load=lambda source: load("ss-role", SS, source),
            splits=("train", "dev", "test"),
            aliases=("ps-role",),
        )
    )
    register(
        TaskSpec(
            name="ss-fxn",
            description="SNACS function (SS2) of single-word prepositions, STREUSLE 4.7.1",
            target="word",
            load=lambda source: load("ss-fxn", SS2, source),
            splits=("train", "dev", "test"),
            aliases=("ps-fxn",),
        )
    )
