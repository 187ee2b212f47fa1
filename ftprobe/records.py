"""Typed result records: one per kind of result file (run, compare, matrix, dynamics,
similarity, selectivity).

Studies build a record and write it with :func:`write_record`; readers (``ftprobe results``,
``load_results``, ``ftprobe plot``, the matrix assembling its cells) get it back with
:func:`read_record`. The JSON file is the record field for field, plus ``kind`` and
``schema_version``; a file of another kind, of a newer schema or missing a field is a one-line
error naming the file. Descriptive parts whose keys vary with the plugins (a probe's metrics,
the task and encoder descriptions, the study's config) stay JSON objects inside the record.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Self, get_type_hints

from ftprobe import atomic
from ftprobe.errors import FtprobeError

Json = dict[str, Any]


@dataclass(kw_only=True)
class Record:
    """A result file's content; subclasses set ``KIND`` and ``SCHEMA``."""

    KIND: ClassVar[str] = ""
    SCHEMA: ClassVar[int] = 1
    OLDEST: ClassVar[int] = 1  # the oldest schema version this reader still accepts

    def to_json(self) -> Json:
        return {"kind": self.KIND, "schema_version": self.SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, doc: Json, where: str = "result") -> Self:
        if doc.get("kind") != cls.KIND:
            raise FtprobeError(f"{where} holds a {doc.get('kind')!r} result, not {cls.KIND!r}")
        version = doc.get("schema_version")
        if not isinstance(version, int) or not cls.OLDEST <= version <= cls.SCHEMA:
            raise FtprobeError(
                f"{where}: {cls.KIND} schema version {version!r} is not one this ftprobe reads "
                f"({cls.OLDEST}..{cls.SCHEMA}); upgrade ftprobe or rerun the study"
            )
        return _build(cls, doc, where)


def _build(cls: type, doc: Json, where: str) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in doc:
            if f.default is MISSING and f.default_factory is MISSING:
                raise FtprobeError(f"{where}: the {cls.__name__} lacks {f.name!r}; rerun the study")
            continue
        value = doc[f.name]
        item = _item_type(hints[f.name])
        if item is not None and isinstance(value, list):
            value = [_build(item, v, where) if isinstance(v, dict) else v for v in value]
        kwargs[f.name] = value
    return cls(**kwargs)


def _item_type(hint: Any) -> type | None:
    """The dataclass of a ``list[SomeRow]`` field, else None."""
    args = getattr(hint, "__args__", ())
    if (
        getattr(hint, "__origin__", None) is list
        and args
        and hasattr(args[0], "__dataclass_fields__")
    ):
        return args[0]
    return None


# ----------------------------------------------------------------------------- run
@dataclass(kw_only=True)
class RunRecord(Record):
    """``result.json`` of a run directory: one probe over the layers of one encoder."""

    KIND = "run"
    SCHEMA = 2
    OLDEST = 2
    key: str
    complete: bool
    ftprobe_version: str
    created: str
    config: Json
    seed: int
    task: Json  # name, version, target, labels, n_examples, unseen_label_examples, files
    encoder: Json  # name, fingerprint, after, finetune, num_layers, hidden_size
    pooling: str
    probe: str
    probe_options_hash: str
    layers: dict[str, Json]  # layer -> main_metric, seconds and the probe's metrics
    versions: Json
    machine: Json
    timings: Json
    computed_layers: list[int] = field(default_factory=list)
    base_encoder: Json | None = None


# ------------------------------------------------------------------------- compare
@dataclass(kw_only=True)
class CompareLayer:
    layer: int
    n_train: int
    n_test: int
    accuracy: Json  # before, before_std, after, after_std, change
    geometry: Json  # before, after: clusters, labels, separable, accuracy
    min_distance: Json  # increased, decreased, mean_change, per_label
    before_after_similarity: float | None
    train_test_similarity: Json  # before, after
    why_missing: Json = field(default_factory=dict)
    label_pairs: list[list[str]] | None = None
    pair_distances: dict[str, list[float | None] | None] = field(default_factory=dict)


@dataclass(kw_only=True)
class CompareRecord(Record):
    """``compare.json``: the encoder before and after fine-tuning, per layer."""

    KIND = "compare"
    SCHEMA = 2
    OLDEST = 2
    probes: Json  # part -> probe name
    ftprobe_version: str
    created: str
    config: Json
    task: Json
    pooling: str
    encoders: Json  # before, after: name, source, fingerprint, num_layers, hidden_size
    layers: list[CompareLayer]
    seconds: float
    controls: Json | None = None  # task: the control task; layers: its numbers and selectivity


# -------------------------------------------------------------------------- matrix
@dataclass(kw_only=True)
class MatrixRecord(Record):
    """``matrix.json``: encoders (rows) × probed tasks (columns), from a sweep's cells."""

    KIND = "matrix"
    SCHEMA = 3
    OLDEST = 2
    model: str
    probe: str
    layer: str
    config: Json
    rows: list[str]
    cols: list[str]
    main_metric: str
    values: list[list[float | None]]
    min_distance_change: list[list[Json | None]] | None
    complete: bool
    cells: dict[str, Any]  # "row__col" -> id, dir, layer, encoder
    control_values: list[list[float | None]] | None = None
    selectivity: list[list[float | None]] | None = None
    new_cells: int = 0
    failed: list[Json] = field(default_factory=list)


# ------------------------------------------------------------------------ dynamics
@dataclass(kw_only=True)
class DynamicsStep:
    step: int
    checkpoint: str
    layers: dict[str, Json]  # layer -> geometry fields and similarity_to_original


@dataclass(kw_only=True)
class DynamicsRecord(Record):
    """``dynamics.json``: geometry at every saved checkpoint of a fine-tuning."""

    KIND = "dynamics"
    SCHEMA = 2
    OLDEST = 2
    probe: str
    config: Json
    task: Json
    checkpoint: str
    layers_probed: list[int]
    steps: list[DynamicsStep]
    seconds: float


# ---------------------------------------------------------------------- similarity
@dataclass(kw_only=True)
class SimilarityLayer:
    layer: int
    scores: dict[str, float | None]
    per_head: dict[str, list[float]]
    why_missing: dict[str, str]


@dataclass(kw_only=True)
class SimilarityRecord(Record):
    """``similarity.json``: representation and attention similarity of two encoders."""

    KIND = "similarity"
    SCHEMA = 1
    ftprobe_version: str
    created: str
    config: Json
    task: Json
    encoders: Json  # a, b
    measures: list[Json]
    layers: list[SimilarityLayer]
    seconds: float


# --------------------------------------------------------------------- selectivity
@dataclass(kw_only=True)
class SelectivityRecord(Record):
    """``selectivity.json``: a run and the same probe on the task's control task."""

    KIND = "selectivity"
    SCHEMA = 1
    task: str
    control: str
    probe: str
    encoder: str
    runs: dict[str, str]  # task, control: their run directories
    layers: list[Json]  # layer, task and control parts, selectivity


KINDS: dict[str, type[Record]] = {
    r.KIND: r
    for r in (
        RunRecord,
        CompareRecord,
        MatrixRecord,
        DynamicsRecord,
        SimilarityRecord,
        SelectivityRecord,
    )
}


def read_record(path: str | Path) -> Record:
    """The typed record of a result file (its ``kind`` picks the class)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise FtprobeError(f"no result file {path}") from None
    except (OSError, ValueError) as exc:
        raise FtprobeError(f"{path}: unreadable result file ({exc}); rerun the study") from None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind not in KINDS:
        raise FtprobeError(
            f"{path} is not an ftprobe result (kind {kind!r}; known: {', '.join(KINDS)})"
        )
    return KINDS[kind].from_json(doc, str(path))


def write_record(path: str | Path, record: Record) -> None:
    """Write ``record`` to ``path`` atomically."""
    atomic.write_json(Path(path), record.to_json())


__all__ = [
    "CompareLayer",
    "CompareRecord",
    "DynamicsRecord",
    "DynamicsStep",
    "MatrixRecord",
    "Record",
    "RunRecord",
    "SelectivityRecord",
    "SimilarityLayer",
    "SimilarityRecord",
    "KINDS",
    "read_record",
    "write_record",
]
