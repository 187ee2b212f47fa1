"""TREC question classification (Li & Roth 2002): ``trec`` (50 fine labels such as
``HUM:ind``) and ``trec-coarse`` (6 coarse labels), on ``train_5500.label`` / ``TREC_10.label``.

Each line is ``COARSE:fine question tokens ...`` in ISO-8859-1 (latin-1). An example is the
whole (already tokenised) question with a sentence target ``()``; its ``sentence_id`` is
``train-<line>`` or ``test-<line>`` (1-based line number).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ftprobe import hookimpl
from ftprobe.api import Example, Split, TaskData, TaskSpec
from ftprobe.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from ftprobe.datafiles import DataSource

FILES = {
    "train": (
        "trec/train_5500.label",
        "https://cogcomp.seas.upenn.edu/Data/QA/QC/train_5500.label",
        "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
    ),
    "test": (
        "trec/TREC_10.label",
        "https://cogcomp.seas.upenn.edu/Data/QA/QC/TREC_10.label",
        "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
    ),
}
COARSE_LABELS = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
# bytes that are no printable latin-1 text: C0 controls other than tab/LF/CR, DEL, C1 controls
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_FIX = "each line must be 'COARSE:fine question words' (latin-1); fix the file or re-fetch it"


def parse(text: str, path: Path, split: str) -> list[tuple[str, tuple[str, ...], str]]:
    """``(fine_label, words, sentence_id)`` per line of ``text``; strict, with line numbers."""
    rows = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        label, _, question = line.partition(" ")
        coarse, colon, fine = label.partition(":")
        words = tuple(question.split())
        if not colon or not fine or not words:
            raise DataError(f"cannot read the line {line[:40]!r}; {_FIX}", path, number)
        if coarse not in COARSE_LABELS:
            raise DataError(
                f"unknown coarse label {coarse!r} (known: {', '.join(COARSE_LABELS)}); {_FIX}",
                path,
                number,
            )
        rows.append((label, words, f"{split}-{number}"))
    if not rows:
        raise DataError(f"the file is empty: no questions; {_FIX}", path, 1)
    return rows


@lru_cache(maxsize=8)
def _read(path: str, sha256: str, split: str) -> list[tuple[str, tuple[str, ...], str]]:
    p = Path(path)
    data = p.read_bytes()
    bad = _CONTROL.search(data)
    if bad:
        raise DataError(
            f"unexpected byte 0x{bad.group().hex()} (a control code, not latin-1 text); {_FIX}",
            p,
            data.count(b"\n", 0, bad.start()) + 1,
        )
    return parse(data.decode("latin-1"), p, split)


def load(task: str, coarse: bool, source: DataSource) -> TaskData:
    splits = {}
    for name, args in FILES.items():
        file = source.fetch(*args)
        rows = _read(str(file.path), file.sha256, name)
        examples = [
            Example(words, (), label.partition(":")[0] if coarse else label, sid)
            for label, words, sid in rows
        ]
        splits[name] = Split(name, examples, len(rows), files=[file])
    return TaskData(task, "sentence", splits)


@hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name="trec",
            description="TREC question type, 50 fine labels (Li & Roth 2002)",
            target="sentence",
            load=lambda source: load("trec", False, source),
        )
    )
    register(
        TaskSpec(
            name="trec-coarse",
            description="TREC question type, 6 coarse labels (Li & Roth 2002)",
            target="sentence",
            load=lambda source: load("trec-coarse", True, source),
        )
    )
