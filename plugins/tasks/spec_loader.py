"""Load the task a spec file declares: rows through Hugging Face ``datasets`` (CSV, TSV, JSON,
JSONL, Parquet, hub datasets; Arrow storage and its cache), CoNLL-U through the fast reader,
then examples, labels (map, keep/drop, min count) and a seeded ratio split where needed.

Row-level problems (a missing column, an empty label, an index out of range, a span beyond the
sentence, a split left without examples) are one-line errors naming the file and row.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftprobe.api import DataFile, Example, Split, TaskData
from ftprobe.datafiles import sha256_of
from ftprobe.errors import DataError, FtprobeError
from ftprobe.plugins.tasks.spec_schema import SPLITS, Spec
from ftprobe.settings import current

BUILDERS = {"csv": "csv", "tsv": "csv", "json": "json", "jsonl": "json", "parquet": "parquet"}
HEADER_LINES = {"csv": 2, "tsv": 2, "jsonl": 1}  # line of row 0 in the file (1-based)


@dataclass
class Part:
    """The rows of one file (or hub split), turned into examples lazily."""

    rows: Any  # a datasets.Dataset, or a tuple of CoNLL-U Sentences
    file: DataFile
    first_line: int | None = None  # line of row 0 (None: rows have no line numbers)
    row_numbers: list[int] | None = None  # each row's number in its file (after a split)


@dataclass
class Collected:
    examples: list[Example] = field(default_factory=list)
    n_rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def load(spec: Spec, name: str) -> TaskData:
    """The task's splits, checked."""
    parts, rules = _parts(spec)
    splits: dict[str, Split] = {}
    collected = {s: _collect(spec, ps) for s, ps in parts.items()}
    _labels(spec, collected)
    for s, got in collected.items():
        if not got.examples:
            why = f" ({_skips(got.skipped)})" if got.skipped else ""
            raise DataError(
                f"split {s!r} has no examples{why}; add rows to it or loosen [label] "
                "keep/drop/min_count",
                spec.path,
            )
        files = list(dict.fromkeys(p.file for p in parts[s]))
        splits[s] = Split(s, got.examples, got.n_rows, files, rules.get(s, ""), dict(got.skipped))
    order = [s for s in SPLITS if s in splits]
    return TaskData(name, spec.target.kind, {s: splits[s] for s in order})  # type: ignore[arg-type]


def _skips(skipped: Counter[str]) -> str:
    return ", ".join(f"{n} {why}" for why, n in skipped.most_common())


# --------------------------------------------------------------------------- sources
def _parts(spec: Spec) -> tuple[dict[str, list[Part]], dict[str, str]]:
    """Rows per split (before any ratio split is applied: then one key, ``all``)."""
    src = spec.source
    if src.format == "conllu":
        from ftprobe.plugins.tasks.conllu_reader import read_sentences

        parts = {
            s: [
                Part(read_sentences(DataFile(f, sha256_of(f))), DataFile(f, sha256_of(f)))
                for f in fs
            ]
            for s, fs in src.files.items()
        }
    elif src.format == "hub":
        parts = _hub_parts(spec)
    else:
        parts = _file_parts(spec)
    if spec.split is None:
        return parts, {}
    if "all" not in parts:
        if "test" in parts:
            raise DataError(
                "[split] ratios split one set of rows, but the source already has a test "
                "split; drop [split]",
                spec.path,
            )
        parts = {"all": parts.pop("train")}
    return _ratio_split(spec, parts["all"])


def _file_parts(spec: Spec) -> dict[str, list[Part]]:
    src = spec.source
    datasets = _datasets()
    kwargs: dict[str, Any] = {}
    if src.format in ("csv", "tsv"):
        import csv

        # keep "NA", "null" ... as the strings they are; tokens may contain quotes in TSV
        kwargs = {"keep_default_na": False}
        if src.format == "tsv":
            kwargs.update(delimiter="\t", quoting=csv.QUOTE_NONE)
    out: dict[str, list[Part]] = {}
    for split, files in src.files.items():
        out[split] = []
        for f in files:
            try:
                ds = datasets.load_dataset(
                    BUILDERS[src.format],
                    data_files={"rows": str(f)},
                    split="rows",
                    cache_dir=str(current().cache_dir / "datasets"),
                    **kwargs,
                )
            except FtprobeError:
                raise
            except Exception as exc:  # datasets/pyarrow/pandas parse errors
                raise DataError(
                    f"cannot read it as {src.format} ({_first_line(exc)}); fix the file or set "
                    "[source] format",
                    f,
                ) from None
            out[split].append(Part(ds, DataFile(f, sha256_of(f)), HEADER_LINES.get(src.format)))
    return out


def _hub_parts(spec: Spec) -> dict[str, list[Part]]:
    """A Hugging Face dataset (or a local folder laid out like one): each wanted split."""
    src = spec.source
    datasets = _datasets()
    try:
        dd = datasets.load_dataset(
            src.hub,
            src.config,
            revision=src.revision,
            cache_dir=str(current().cache_dir / "datasets"),
        )
    except Exception as exc:
        raise DataError(
            f"cannot load the dataset {src.hub!r} (config {src.config}, revision "
            f"{src.revision}): {_first_line(exc)}; check the name, config and revision (a hub "
            "dataset needs network the first time)",
            spec.path,
        ) from None
    wanted = dict(src.hub_splits)
    if not wanted:
        wanted = {s: s for s in ("train", "test") if s in dd}
        if "validation" in dd:
            wanted["test" if "test" not in wanted else "dev"] = "validation"
    if "train" not in wanted:
        raise DataError(
            f"dataset {src.hub!r} has no train split (it has {', '.join(dd)}); map one in "
            "[source], e.g. train = 'train'",
            spec.path,
        )
    out: dict[str, list[Part]] = {}
    for ours, theirs in wanted.items():
        if theirs not in dd:
            raise DataError(
                f"field 'source.{ours}': dataset {src.hub!r} has no split {theirs!r}; its "
                f"splits: {', '.join(dd)}",
                spec.path,
            )
        ds = dd[theirs]
        where = f"hf://datasets/{src.hub}/{src.config or ''}@{src.revision or ''}:{theirs}"
        out[ours] = [Part(ds, DataFile(Path(where), _hub_identity(src.hub, ds)))]
    return out


def _hub_identity(hub: str, ds: Any) -> str:
    """A local folder: the hash of its files; a hub dataset: datasets' own fingerprint (it
    covers the builder config, the revision and the data files' hashes or etags)."""
    import hashlib

    folder = Path(hub).expanduser()
    if folder.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts):
            h.update(f"{f.relative_to(folder)}\0{sha256_of(f)}\n".encode())
        return h.hexdigest()
    return str(ds._fingerprint)


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:  # pragma: no cover - a dependency
        raise FtprobeError(
            "task spec files need the datasets package: pip install datasets"
        ) from None
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    return datasets


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ratio_split(spec: Spec, parts: list[Part]) -> tuple[dict[str, list[Part]], dict[str, str]]:
    """Seeded split of the rows: numpy ``default_rng(seed).permutation`` of the row indices;
    the first ``floor(n * train)`` go to train, the next ``floor(n * dev)`` to dev, the rest
    to test; each split keeps file order."""
    import numpy as np

    assert spec.split is not None
    n = sum(len(p.rows) for p in parts)
    perm = np.random.default_rng(spec.split.seed).permutation(n)
    fr = spec.split.parts
    sizes = {"train": int(n * fr["train"]), "dev": int(n * fr.get("dev", 0.0))}
    cuts = {"train": perm[: sizes["train"]], "dev": perm[sizes["train"] : sum(sizes.values())]}
    cuts["test"] = perm[sum(sizes.values()) :]
    desc = ", ".join(f"{s} {fr[s]:g}" for s in SPLITS if s in fr)
    out: dict[str, list[Part]] = {}
    rules: dict[str, str] = {}
    for s in SPLITS:
        if s not in fr:
            continue
        keep = set(cuts[s].tolist())
        out[s], start = [], 0
        for p in parts:
            idx = [i - start for i in range(start, start + len(p.rows)) if i in keep]
            start += len(p.rows)
            out[s].append(Part(_subset(p.rows, idx), p.file, p.first_line, idx))
        rules[s] = (
            f"seeded split of {n} rows: numpy default_rng({spec.split.seed}).permutation; "
            f"{desc}; this is: {s}"
        )
    return out, rules


def _subset(rows: Any, idx: list[int]) -> Any:
    return rows.select(idx) if hasattr(rows, "select") else tuple(rows[i] for i in idx)


# -------------------------------------------------------------------------- examples
def _collect(spec: Spec, parts: list[Part]) -> Collected:
    got = Collected()
    for part in parts:
        numbers = part.row_numbers
        if spec.source.format == "conllu":
            rows: Iterable[tuple[int, Any]] = enumerate(part.rows)
            make = _conllu_examples
        else:
            _check_columns(spec, part)
            rows = enumerate(part.rows)
            make = _row_examples
        for r, row in rows:
            got.n_rows += 1
            at = _At(part, numbers[r] if numbers is not None else r)
            for ex in make(spec, row, at, got.skipped):
                got.examples.append(ex)
    return got


@dataclass
class _At:
    part: Part
    row: int

    def fail(self, why: str) -> None:
        p = self.part
        line = None if p.first_line is None else p.first_line + self.row
        raise DataError(f"row {self.row + 1}: {why}", p.file.path, line)

    @property
    def sentence_id(self) -> str:
        return f"{self.part.file.path.name}#{self.row + 1}"


def _needed_columns(spec: Spec) -> list[tuple[str, str]]:
    t, tg = spec.text, spec.target
    out = [
        (f"text.{k}", getattr(t, k))
        for k in ("words", "text", "words_pair", "text_pair")
        if getattr(t, k)
    ]
    out += [
        (f"target.{k}", getattr(tg, k))
        for k in ("index", "start", "end", "first", "second")
        if getattr(tg, k)
    ]
    return [*out, ("label.column", spec.label.column)]


def _check_columns(spec: Spec, part: Part) -> None:
    have = list(part.rows.column_names)
    for where, col in _needed_columns(spec):
        if col not in have:
            raise DataError(
                f"column {col!r} (spec field {where}) is not in the data; its columns: "
                f"{', '.join(have)}; fix the spec {spec.path.name}",
                part.file.path,
            )


_WS = re.compile(r"\S+")


def _words(spec: Spec, value: Any, raw: bool, at: _At, col: str) -> tuple[str, ...]:
    if value is None:
        at.fail(f"column {col!r} is empty; every row needs its text")
    if raw or isinstance(value, str):
        if not isinstance(value, str):
            at.fail(f"column {col!r} holds {type(value).__name__}, not text")
        pattern = _WS if not raw or spec.text.splitter == "whitespace" else spec.text.pattern
        words = tuple(re.findall(pattern, value))
    elif isinstance(value, list | tuple):
        words = tuple(str(w) for w in value)
    else:
        at.fail(f"column {col!r} holds {value!r}: give a list of words or a string")
    if not words:
        at.fail(f"column {col!r} has no words; remove the row or fill it")
    return words


def _index(row: dict[str, Any], col: str, at: _At) -> int:
    value = row[col]
    if isinstance(value, bool) or not isinstance(value, int | str):
        at.fail(f"column {col!r} holds {value!r}, not a word index")
    try:
        return int(value)
    except ValueError:
        at.fail(f"column {col!r} holds {value!r}, not a word index")
        raise  # unreachable


def _label_of(value: Any, col: str, at: _At) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        at.fail(f"label column {col!r} is empty; fill it or remove the row")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _row_examples(
    spec: Spec, row: dict[str, Any], at: _At, skipped: Counter[str]
) -> Iterator[Example]:
    t, tg, col = spec.text, spec.target, spec.label.column
    raw = bool(t.text)
    words = _words(spec, row[t.text or t.words], raw, at, t.text or t.words)
    sid = at.sentence_id
    n = len(words)
    if tg.kind == "sentence":
        yield Example(words, (), _label_of(row[col], col, at), sid)
    elif tg.kind == "sentence-pair":
        second = t.text_pair or t.words_pair
        words2 = _words(spec, row[second], bool(t.text_pair), at, second)
        yield Example(words + words2, (n,), _label_of(row[col], col, at), sid)
    elif tg.kind == "word" and not tg.index:  # tagging: one label per word
        tags = row[col]
        if isinstance(tags, str):
            tags = _WS.findall(tags)
        if not isinstance(tags, list | tuple):
            at.fail(
                f"label column {col!r} holds {tags!r}: give one label per word (a list or "
                "a space-separated string), or set target.index"
            )
        if len(tags) != n:
            at.fail(f"{n} words but {len(tags)} labels in column {col!r}; give one per word")
        for i, tag in enumerate(tags):
            yield Example(words, (i,), _label_of(tag, col, at), sid)
    else:
        label = _label_of(row[col], col, at)
        if tg.kind == "word":
            targets: tuple[int, ...] = (_index(row, tg.index, at),)
        elif tg.kind == "pair":
            targets = (_index(row, tg.first, at), _index(row, tg.second, at))
        else:  # span, end exclusive
            start, end = _index(row, tg.start, at), _index(row, tg.end, at)
            if not 0 <= start < end <= n:
                at.fail(
                    f"span [{start}, {end}) is beyond the sentence of {n} words or empty; "
                    "start and end are 0-based, end exclusive"
                )
            targets = tuple(range(start, end))
        for i in targets:
            if not 0 <= i < n:
                at.fail(
                    f"word index {i} is out of range (the sentence has {n} words; "
                    "indices are 0-based)"
                )
        yield Example(words, targets, label, sid)


def _conllu_examples(spec: Spec, sent: Any, at: _At, skipped: Counter[str]) -> Iterator[Example]:
    fld, feature = spec.label.field, spec.label.feature
    words = sent.forms
    if fld == "DEPREL" and spec.target.kind == "pair":
        for i, (head, rel) in enumerate(zip(sent.heads, sent.deprels, strict=True)):
            if head == 0:
                skipped["root words (no head)"] += 1
                continue
            yield Example(words, (head - 1, i), rel, sent.sent_id)
        return
    values = {"UPOS": sent.upos, "XPOS": sent.xpos, "DEPREL": sent.deprels}.get(fld)
    for i in range(len(words)):
        if fld == "FEATS":
            label = _feature(sent.feats[i], feature)
            if label is None:
                skipped[f"words without {feature}"] += 1
                continue
        else:
            label = values[i]
            if label == "_":
                skipped[f"words with {fld} _"] += 1
                continue
        yield Example(words, (i,), label, sent.sent_id)


def _feature(feats: str, key: str) -> str | None:
    """The value of ``key`` in a FEATS column (``Number=Sing|Person=3``), or None."""
    if feats == "_":
        return None
    for item in feats.split("|"):
        k, _, v = item.partition("=")
        if k == key:
            return v
    return None


# ---------------------------------------------------------------------------- labels
def _labels(spec: Spec, collected: dict[str, Collected]) -> None:
    """Map, keep/drop, then drop labels seen fewer than ``min_count`` times in train."""
    lab = spec.label
    keep, drop = set(lab.keep), set(lab.drop)
    for got in collected.values():
        out = []
        for ex in got.examples:
            label = lab.map.get(ex.label, ex.label)
            if (keep and label not in keep) or label in drop:
                got.skipped["examples with a filtered label"] += 1
                continue
            out.append(
                ex if label == ex.label else Example(ex.words, ex.targets, label, ex.sentence_id)
            )
        got.examples = out
    if lab.min_count > 1 and "train" in collected:
        counts = Counter(ex.label for ex in collected["train"].examples)
        rare = {label for label, c in counts.items() if c < lab.min_count}
        for got in collected.values():
            before = len(got.examples)
            got.examples = [ex for ex in got.examples if ex.label not in rare]
            if before - len(got.examples):
                got.skipped[f"examples with a label seen < {lab.min_count} times in train"] += (
                    before - len(got.examples)
                )
