"""A third-party ftprobe task plugin: label each word of a small text by its shape."""

from __future__ import annotations

from importlib import resources

from ftprobe import hookimpl
from ftprobe.api import DataFile, Example, Split, TaskData, TaskSpec
from ftprobe.datafiles import DataSource, sha256_of


def shape(word: str) -> str:
    if any(ch.isdigit() for ch in word):
        return "number"
    if not any(ch.isalpha() for ch in word):
        return "punct"
    if word.isupper() and len(word) > 1:
        return "upper"
    return "capitalized" if word[0].isupper() else "lower"


def load(source: DataSource) -> TaskData:
    path = resources.files(__name__) / "sentences.txt"
    with resources.as_file(path) as local:
        lines = [ln.split() for ln in local.read_text().splitlines() if ln.strip()]
        files = [DataFile(local, sha256_of(local))]
    cut = int(len(lines) * 0.8)  # first 80% of the sentences train, the rest test
    splits = {}
    for name, sents in (("train", lines[:cut]), ("test", lines[cut:])):
        examples = [
            Example(tuple(words), (i,), shape(word), f"{name}-{n}")
            for n, words in enumerate(sents)
            for i, word in enumerate(words)
        ]
        splits[name] = Split(name, examples, len(sents), files, rule="first 80% train")
    return TaskData("word-shape", "word", splits)


@hookimpl
def register_tasks(register):
    register(
        TaskSpec(
            name="word-shape",
            description="Word shape (capitalized/lower/upper/number/punct) of a small text.",
            target="word",
            load=load,
        )
    )
