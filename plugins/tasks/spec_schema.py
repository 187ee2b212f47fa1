"""The task spec file (TOML): what it may say, checked once, as a frozen :class:`Spec`.

Every mistake is a one-line :class:`~ftprobe.errors.DataError` naming the spec file, the field
and the fix. Paths in a spec are relative to the spec file's folder. ``ftprobe tasks template
KIND`` prints a commented example of every field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ftprobe.api import TARGET_KINDS
from ftprobe.errors import DataError

FILE_FORMATS = {
    ".conllu": "conllu",
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}
FORMATS = (*dict.fromkeys(FILE_FORMATS.values()), "hub")
SPLITS = ("train", "dev", "test")
CONLLU_FIELDS = ("UPOS", "XPOS", "DEPREL", "FEATS")
SPLITTERS = ("whitespace", "regex")
DEFAULT_PATTERN = r"\w+|[^\w\s]"

SECTIONS = {
    "": ("name", "description", "version", "source", "text", "target", "label", "split"),
    "source": ("format", "file", *SPLITS, "hub", "config", "revision"),
    "text": ("words", "text", "words_pair", "text_pair", "splitter", "pattern"),
    "target": ("kind", "index", "start", "end", "first", "second"),
    "label": ("column", "field", "feature", "map", "keep", "drop", "min_count"),
    "split": ("seed", *SPLITS),
}


@dataclass(frozen=True)
class Source:
    format: str
    files: dict[str, tuple[Path, ...]]  # split -> files ("all": one set split by ratio)
    hub: str = ""
    config: str | None = None
    revision: str | None = None
    hub_splits: dict[str, str] = dataclasses.field(
        default_factory=dict
    )  # our split -> the hub's split


@dataclass(frozen=True)
class Text:
    words: str = ""  # a column of pre-tokenised words (a list, or a string split on spaces)
    text: str = ""  # a column of raw text, split by ``splitter``
    words_pair: str = ""
    text_pair: str = ""
    splitter: str = "whitespace"
    pattern: str = DEFAULT_PATTERN


@dataclass(frozen=True)
class Target:
    kind: str
    index: str = ""
    start: str = ""
    end: str = ""
    first: str = ""
    second: str = ""


@dataclass(frozen=True)
class Label:
    column: str = ""
    field: str = ""
    feature: str = ""
    map: dict[str, str] = dataclasses.field(default_factory=dict)
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    min_count: int = 1


@dataclass(frozen=True)
class Ratio:
    seed: int
    parts: dict[str, float]  # split -> fraction of the rows (sentences)


@dataclass(frozen=True)
class Spec:
    path: Path
    name: str
    description: str
    version: str
    source: Source
    text: Text
    target: Target
    label: Label
    split: Ratio | None
    digest: str  # sha256 of the spec file's bytes


class _Reader:
    """Reads one table of the spec, naming ``spec:section.key`` in every error."""

    def __init__(self, path: Path, section: str, table: dict[str, Any]):
        self.path, self.section, self.table = path, section, table
        known = SECTIONS[section]
        for key in table:
            if key not in known:
                self.fail(key, f"unknown field; known fields here: {', '.join(known)}")

    def where(self, key: str) -> str:
        return f"{self.section}.{key}" if self.section else key

    def fail(self, key: str, why: str) -> None:
        raise DataError(f"field {self.where(key)!r}: {why}", self.path)

    def str(self, key: str, default: str = "") -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {value!r}")
        return value

    def strs(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            self.fail(key, f"must be a list of strings, got {value!r}")
        return tuple(str(v) for v in value)


def _table(path: Path, raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise DataError(f"{key!r} must be a table ([{key}]), got {value!r}", path)
    return value


def read_spec(path: Path) -> Spec:
    """Parse and check the spec file at ``path``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            "task spec file not found; give the path of a TOML spec "
            "(`ftprobe tasks template word` prints one)",
            path,
        )
    data = path.read_bytes()
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid TOML ({exc}); fix the syntax", path) from None
    top = _Reader(path, "", raw)
    name = top.str("name", path.stem) or path.stem
    description = top.str("description", f"task from {path.name}")
    version = str(raw.get("version", "1"))
    source = _source(path, _table(path, raw, "source"))
    target = _target(path, _table(path, raw, "target"), source.format == "conllu")
    text = _text(path, _table(path, raw, "text"), source, target)
    label = _label(path, _table(path, raw, "label"), source, target)
    ratio = _ratio(path, raw, source)
    return Spec(
        path=path.resolve(),
        name=name,
        description=description,
        version=version,
        source=source,
        text=text,
        target=target,
        label=label,
        split=ratio,
        digest=hashlib.sha256(data).hexdigest(),
    )


def _target(path: Path, table: dict[str, Any], conllu: bool) -> Target:
    r = _Reader(path, "target", table)
    kind = r.str("kind")
    if kind not in TARGET_KINDS:
        r.fail("kind", f"is {kind or 'missing'!r}; use one of {', '.join(TARGET_KINDS)}")
    t = Target(kind, *(r.str(k) for k in ("index", "start", "end", "first", "second")))
    if conllu:  # the CoNLL-U rows say which words: no index columns
        given = [k for k in ("index", "start", "end", "first", "second") if getattr(t, k)]
        if given:
            r.fail(given[0], "a CoNLL-U source takes no index columns; drop it")
        return t
    if kind == "span" and not (t.start and t.end):
        r.fail("start", "a span target needs the columns start and end (end exclusive, 0-based)")
    if kind == "pair" and not (t.first and t.second):
        r.fail("first", "a pair target needs the columns first and second (0-based indices)")
    return t


def _files(path: Path, r: _Reader, key: str) -> tuple[Path, ...]:
    names = r.strs(key)
    out = []
    for name in names:
        f = (path.parent / name).expanduser()
        if not f.is_file():
            r.fail(key, f"file {f} does not exist; give a path relative to the spec file")
        out.append(f.resolve())
    return tuple(out)


def _source(path: Path, table: dict[str, Any]) -> Source:
    r = _Reader(path, "source", table)
    hub = r.str("hub")
    given = {s: _files(path, r, s) for s in SPLITS if s in table and not hub}
    if "file" in table:
        if given:
            r.fail("file", "give either file (one file, split by [split]) or train/test files")
        given = {"all": _files(path, r, "file")}
    fmt = r.str("format")
    if hub:
        if fmt and fmt != "hub":
            r.fail("format", f"a hub dataset has format 'hub', not {fmt!r}")
        if "file" in table:
            r.fail("file", "a hub dataset takes no local file; drop file or hub")
        return Source(
            "hub",
            {},
            hub=hub,
            config=r.str("config") or None,
            revision=r.str("revision") or None,
            hub_splits={s: r.str(s) for s in SPLITS if s in table},
        )
    if not given:
        r.fail("train", "no data: give train and test files, one file (plus [split]) or hub")
    if "all" not in given and not {"train", "test"} <= set(given):
        r.fail("test", "give both train and test files (or one file split by [split])")
    suffixes = {f.suffix.lower() for fs in given.values() for f in fs}
    if not fmt:
        if len(suffixes) != 1 or next(iter(suffixes)) not in FILE_FORMATS:
            r.fail(
                "format",
                f"cannot tell the format from the suffixes {sorted(suffixes)}; "
                f"set format to one of {', '.join(FORMATS)}",
            )
        fmt = FILE_FORMATS[next(iter(suffixes))]
    if fmt not in FORMATS:
        r.fail("format", f"is {fmt!r}; use one of {', '.join(FORMATS)}")
    return Source(fmt, given)


def _text(path: Path, table: dict[str, Any], source: Source, target: Target) -> Text:
    r = _Reader(path, "text", table)
    t = Text(*(r.str(k) for k in ("words", "text", "words_pair", "text_pair")))
    t = Text(
        t.words,
        t.text,
        t.words_pair,
        t.text_pair,
        r.str("splitter", "whitespace"),
        r.str("pattern", DEFAULT_PATTERN),
    )
    if t.splitter not in SPLITTERS:
        r.fail("splitter", f"is {t.splitter!r}; use whitespace or regex (with pattern)")
    try:
        re.compile(t.pattern)
    except re.error as exc:
        r.fail("pattern", f"is not a regular expression ({exc})")
    if source.format == "conllu":
        if table:
            r.fail(next(iter(table)), "a CoNLL-U source has its words already; drop [text]")
        return t
    if bool(t.words) == bool(t.text):
        r.fail("words", "give exactly one of words (a pre-tokenised column) or text (raw text)")
    if target.kind == "sentence-pair" and bool(t.words_pair) == bool(t.text_pair):
        r.fail("text_pair", "a sentence-pair target needs words_pair or text_pair (2nd text)")
    return t


def _label(path: Path, table: dict[str, Any], source: Source, target: Target) -> Label:
    r = _Reader(path, "label", table)
    mapping = table.get("map", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        r.fail("map", 'must be a table of old = "new" labels, e.g. map = { "0" = "negative" }')
    min_count = table.get("min_count", 1)
    if not isinstance(min_count, int) or min_count < 1:
        r.fail("min_count", f"must be a whole number of at least 1, got {min_count!r}")
    lab = Label(
        column=r.str("column"),
        field=r.str("field").upper(),
        feature=r.str("feature"),
        map={str(k): v for k, v in mapping.items()},
        keep=r.strs("keep"),
        drop=r.strs("drop"),
        min_count=min_count,
    )
    if source.format == "conllu":
        fld = lab.field or ("FEATS" if lab.feature else "")
        if lab.column:
            r.fail("column", f"a CoNLL-U source labels by field ({', '.join(CONLLU_FIELDS)})")
        if fld not in CONLLU_FIELDS:
            r.fail("field", f"is {fld or 'missing'!r}; use one of {', '.join(CONLLU_FIELDS)}")
        if fld == "FEATS" and not lab.feature:
            r.fail("feature", "FEATS needs the feature key to label by, e.g. feature = 'Number'")
        if fld != "FEATS" and lab.feature:
            r.fail("feature", f"a feature key goes with field = 'FEATS', not {fld!r}")
        if target.kind not in ("word", "pair") or (target.kind == "pair") != (fld == "DEPREL"):
            r.fail(
                "field",
                f"{fld} labels {'(head, dependent) pairs' if fld == 'DEPREL' else 'words'}; "
                f"a CoNLL-U {target.kind} target does not fit: use kind = 'word' with UPOS, "
                "XPOS, FEATS or DEPREL, or kind = 'pair' with DEPREL",
            )
        return replace(lab, field=fld)
    if lab.field or lab.feature:
        r.fail("field", "field/feature are for CoNLL-U sources; use column for this format")
    if not lab.column:
        r.fail("column", "give the column that holds the label")
    return lab


def _ratio(path: Path, raw: dict[str, Any], source: Source) -> Ratio | None:
    table = _table(path, raw, "split")
    r = _Reader(path, "split", table)
    one_file = "all" in source.files
    if not table:
        if one_file:
            r.fail("train", "one data file needs [split] ratios, e.g. train = 0.8, test = 0.2")
        return None
    seed = table.get("seed", 0)
    if not isinstance(seed, int):
        r.fail("seed", f"must be a whole number, got {seed!r}")
    parts = {}
    for s in SPLITS:
        if s in table:
            v = table[s]
            if not isinstance(v, int | float) or not 0 < v < 1:
                r.fail(s, f"must be a fraction between 0 and 1, got {v!r}")
            parts[s] = float(v)
    if not {"train", "test"} <= set(parts):
        r.fail("test", "give at least train and test fractions")
    if abs(sum(parts.values()) - 1.0) > 1e-9:
        r.fail("test", f"the fractions add up to {sum(parts.values()):g}; make them add up to 1")
    if not one_file and source.format != "hub":
        r.fail("train", "[split] splits one file; this spec already gives train/test files")
    return Ratio(seed, parts)
