"""The public plugin API: the records a plugin registers and the data that flows between them.

Data flows one way: a task loads :class:`Example` records per split, an encoder turns each
example into one vector per layer, a probe fits on the train vectors and evaluates on test.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ftprobe.datafiles import DataSource

TargetKind = Literal["word", "span", "pair", "sentence", "sentence-pair"]
TARGET_KINDS: tuple[str, ...] = ("word", "span", "pair", "sentence", "sentence-pair")
# How a target's subwords become one vector (``--pooling``): word-like targets (word, span,
# pair) take the mean, first or last subword of each word; sentence targets the first position
# ([CLS]) or the mean of the sentence's subwords. The first of each list is the default.
WORD_POOLINGS: tuple[str, ...] = ("mean", "first", "last")
SENTENCE_POOLINGS: tuple[str, ...] = ("cls", "mean")


# --------------------------------------------------------------------------- tasks
@dataclass(frozen=True, slots=True)
class Example:
    """One probing example.

    ``words`` is the whole sentence; ``targets`` holds 0-based word indices: one index for a
    word target, the indices of its words for a span (one or more), two (head, dependent) for
    a pair, none for a sentence target ([CLS]). A sentence-pair example holds both texts'
    words one after the other in ``words`` and one target: the index of the second text's
    first word.
    """

    words: tuple[str, ...]
    targets: tuple[int, ...]
    label: str
    sentence_id: str = ""


@dataclass(frozen=True, slots=True)
class DataFile:
    """A data file a split was read from, with its content hash."""

    path: Path
    sha256: str


@dataclass
class Split:
    """The examples of one split, with the sentence count and the files they came from."""

    name: str
    examples: list[Example]
    n_sentences: int
    files: list[DataFile] = field(default_factory=list)
    rule: str = ""  # how the split was made, when it is not a file of its own (e.g. a seeded split)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> items left out (reported)

    def fingerprint(self) -> str:
        """Hash of everything that decides this split's content (name, files, split rule)."""
        h = hashlib.sha256(f"{self.name}\0{self.rule}".encode())
        for f in sorted(self.files, key=lambda f: f.sha256):
            h.update(f.sha256.encode())
        return h.hexdigest()

    def label_counts(self) -> Counter[str]:
        return Counter(ex.label for ex in self.examples)


@dataclass
class TaskData:
    """A loaded task: its splits (``train``, ``test``, and ``dev`` where the corpus has one)."""

    task: str
    target: TargetKind
    splits: dict[str, Split]

    @property
    def labels(self) -> list[str]:
        """The label inventory: the sorted labels of the training split."""
        return sorted({ex.label for ex in self.splits["train"].examples})

    def unseen(self, split: str) -> int:
        """How many examples of ``split`` carry a label that never occurs in training."""
        known = set(self.labels)
        return sum(ex.label not in known for ex in self.splits[split].examples)


@dataclass(frozen=True)
class TaskSpec:
    """A task a plugin registers. ``load(source)`` reads the data through a
    :class:`~ftprobe.datafiles.DataSource` (local directory or verified download)."""

    name: str
    description: str
    target: TargetKind
    load: Callable[[DataSource], TaskData]
    splits: tuple[str, ...] = ("train", "test")
    aliases: tuple[str, ...] = ()
    version: str = "1"  # bump when the loader's output changes: it is part of every cache key
    # A pattern task stands for many tasks (e.g. task spec files): ``accepts(name)`` says
    # whether a name no plugin registered is one of them, ``resolve(name)`` returns the
    # concrete TaskSpec for it. The registry tries pattern tasks in registration order.
    accepts: Callable[[str], bool] | None = None
    resolve: Callable[[str], TaskSpec] | None = None
    # A pattern task that makes control tasks (Hewitt & Liang 2019) also says how to name the
    # control of a task: ``control_name(task, seed)``; ``--controls`` uses it.
    control_name: Callable[[str, int], str] | None = None


# ------------------------------------------------------------------------- encoders
@dataclass
class LoadedEncoder:
    """An encoder ready to run: a Hugging Face model (all hidden states) and its fast tokenizer."""

    name: str
    model: Any  # transformers.PreTrainedModel
    tokenizer: Any  # transformers.PreTrainedTokenizerFast
    fingerprint: str  # identity of the weights, part of every cache key
    source: str  # hub id or local directory it was loaded from

    @property
    def num_layers(self) -> int:
        """Transformer layers; extraction returns ``num_layers + 1`` (layer 0 = embeddings)."""
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def max_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 512))


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder a plugin registers. ``load(requested)`` gets the name or path the user typed.

    ``accepts`` makes a pattern encoder (e.g. any Hugging Face id or local directory): it is
    tried, in registration order, for names that match no registered name or alias.
    ``default`` marks the encoder commands use when ``--model`` is not given (one plugin
    should claim it); ``finetune_epochs`` is the paper's epoch count for this encoder
    (None: the fine-tuning default).
    """

    name: str
    description: str
    load: Callable[[str], LoadedEncoder]
    aliases: tuple[str, ...] = ()
    accepts: Callable[[str], bool] | None = None
    default: bool = False
    finetune_epochs: int | None = None


# --------------------------------------------------------------------------- probes
@dataclass
class ProbeData:
    """Vectors of one split at one layer: ``X`` (n, d) float32, ``y`` (n,) label indices and,
    where known, ``ids``: one example id per row (:func:`example_id`) for joining predictions
    with the data."""

    X: np.ndarray
    y: np.ndarray
    labels: list[str]
    ids: tuple[str, ...] | None = None


def example_id(example: Example) -> str:
    """``<sentence id>:<target word indices>`` (``s12:3`` a word, ``s12:3,5`` a pair, ``s12:`` a
    sentence): what a line of ``predictions.txt`` refers to."""
    return f"{example.sentence_id}:{','.join(map(str, example.targets))}"


def id_column(data: ProbeData, row: int) -> str:
    """The example id of ``row`` followed by a tab (empty when ``data`` has no ids)."""
    return f"{data.ids[row]}\t" if data.ids is not None else ""


@dataclass(frozen=True)
class Accuracy:
    """The ``accuracy`` part: how well a probe predicts the test labels.

    ``mean`` over the probe's seeds (one value for a deterministic probe), their ``std``, the
    majority-label baseline and the accuracy per label where the probe reports them."""

    mean: float
    std: float | None = None
    majority: float | None = None
    per_label: dict[str, float] | None = None


@dataclass(frozen=True)
class Geometry:
    """The ``geometry`` part: the shape of the probed space (DirectProbe's report).

    ``clusters`` label-pure clusters over points carrying ``train_labels`` distinct labels of an
    inventory of ``labels``; ``separable`` when there is one cluster per label.
    ``pair_distances`` is the label-pair distance vector in ``label_pairs`` order (None where a
    pair is missing) and ``label_min_distance`` each label's minimum distance to the others."""

    clusters: int
    labels: int
    train_labels: int
    separable: bool
    label_pairs: list[list[str]]
    pair_distances: list[float | None]
    label_min_distance: dict[str, float | None]


@dataclass(frozen=True)
class Codelength:
    """The ``codelength`` part: the online (prequential) code of the training labels given the
    representations (Voita & Titov 2020), in bits, against the uniform code ``n * log2(K)``.

    ``block_ends`` are the prefix sizes; ``block_bits[i]`` the bits of block ``i`` (the first
    block under the uniform code, each later one under a probe trained on the data before it).
    """

    online_bits: float
    uniform_bits: float
    compression: float
    block_ends: list[int]
    block_bits: list[float]


PARTS: tuple[str, ...] = ("accuracy", "geometry", "codelength")


@dataclass
class ProbeResult:
    """What a probe reports: JSON-ready metrics, human files (name -> text) to write, and the
    typed parts it provides (the ones its :class:`ProbeSpec` declares in ``provides``)."""

    metrics: dict[str, Any]
    main_metric: str = "accuracy"
    files: dict[str, str] = field(default_factory=dict)
    plots: dict[str, bytes] = field(default_factory=dict)  # name.png -> PNG bytes
    accuracy: Accuracy | None = None
    geometry: Geometry | None = None
    codelength: Codelength | None = None


class Probe(Protocol):
    """A probe instance: ``fit`` on train vectors, then ``evaluate`` on test vectors."""

    def fit(self, train: ProbeData, *, seed: int = 0) -> None: ...

    def evaluate(self, test: ProbeData) -> ProbeResult: ...


@dataclass(frozen=True)
class ProbeSpec:
    """A probe a plugin registers. ``factory(**options)`` makes a fresh :class:`Probe`;
    options come from ``-o key=value`` on the command line.

    ``provides`` names the typed parts its results carry (see :data:`PARTS`); studies pick
    probes by what they provide. ``default_for`` names the roles it is the default probe for:
    a part (``"accuracy"``, ``"geometry"``) or ``"run"`` (``ftprobe run`` without ``--probe``).
    ``options`` is a dataclass whose fields declare the options (name, type, default, and
    ``field(metadata={"help": ...})``); the core rejects unknown keys with the known list and
    ``ftprobe probes --options`` prints them. Converting and checking values stays with the
    factory.
    """

    name: str
    description: str
    factory: Callable[..., Probe]
    aliases: tuple[str, ...] = ()
    device_option: bool = False  # the factory takes ``device``: ``ftprobe run --device`` sets it
    provides: tuple[str, ...] = ("accuracy",)
    default_for: tuple[str, ...] = ()
    options: type | None = None


@dataclass(frozen=True)
class SimilaritySpec:
    """A representation-similarity measure, registered through ``register_measures``. It
    compares the same examples under two encoders (e.g. before and after
    fine-tuning), one layer at a time; ``ftprobe similarity`` runs it.

    ``input="vectors"``: ``compute(a, b)`` gets two (n, d) float arrays (rows = the same
    examples) and returns a float. ``input="attentions"``: ``compute(a, b)`` gets two lists (one
    entry per sentence) of (heads, tokens, tokens) attention arrays of one layer and returns
    ``{"mean": float, "per_head": [float, ...]}``. ``kind`` says how to read the score.
    """

    name: str
    description: str
    compute: Callable[[Any, Any], Any]
    aliases: tuple[str, ...] = ()
    input: Literal["vectors", "attentions"] = "vectors"
    kind: Literal["similarity", "divergence"] = "similarity"


# --------------------------------------------------------------------------- executors
class Executor(Protocol):
    """Runs independent jobs: ``map(fn, items)`` calls the top-level (picklable) ``fn`` on each
    item, in any order and on any machine, and returns the results in the order of ``items``.
    ``fn`` never raises for a failed job (it records the failure and returns its status).
    An executor may also have ``close()``: the sweep calls it after its last ``map``, so a pool
    can serve several ``map`` calls (the fine-tuning cells, then the run cells)."""

    def map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]: ...


@dataclass(frozen=True)
class ExecutorSpec:
    """A way to run a sweep's cells, registered through ``register_executors``.

    ``factory(workers=K, **options)`` returns an :class:`Executor`; ``options`` come from the
    sweep spec's ``[executor]`` table and ``--executor-option key=value``. ``extra`` names the
    pip extra it needs (``ftprobe[ray]``); a factory whose extra is missing raises
    ``FtprobeError`` naming it."""

    name: str
    description: str
    factory: Callable[..., Executor]
    aliases: tuple[str, ...] = ()
    extra: str | None = None
