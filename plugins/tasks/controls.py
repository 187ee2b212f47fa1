"""Control tasks (Hewitt & Liang, EMNLP 2019) as a task transformation usable with any task.

``TASK:control[@SEED]`` gives each *type* one label drawn, with the seed, from the task's
empirical label distribution (the label frequencies of its train split), the same type always
getting the same label in every split. The type of an example is the lower-cased text of its
target: the word for word targets, the words of a span, the (head, dependent) pair of words
for pair targets, and, for sentence targets, the whole lower-cased sentence (or sentence pair),
so that a control label is a function of the input the probe sees alone, as a word type's is.
The draw for a type depends only on the seed and the type (a hash turned into a point of the
cumulative distribution), never on the order of the examples.

``TASK:permute[@SEED]`` shuffles the labels across the examples of each split (seeded): the
label counts stay exactly the same, and any relation between input and label is destroyed.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections import Counter
from dataclasses import replace
from functools import partial

from ftprobe import hookimpl
from ftprobe.api import Example, Split, TaskData, TaskSpec
from ftprobe.errors import FtprobeError

PATTERN = re.compile(r"^(?P<base>.+):(?P<kind>control|permute)(?:@(?P<seed>\d+))?$")
VERSION = "controls-1"


def parse(name: str) -> tuple[str, str, int]:
    """``(base task, "control" | "permute", seed)`` of a control task name."""
    m = PATTERN.match(name)
    if m is None:
        raise FtprobeError(
            f"bad control task {name!r}; write TASK:control[@SEED] or TASK:permute[@SEED]"
        )
    return m["base"], m["kind"], int(m["seed"] or 0)


def example_type(ex: Example, target: str) -> str:
    """The type an example's control label is a function of (see the module docstring)."""
    if target in ("sentence", "sentence-pair") or not ex.targets:
        return " ".join(ex.words).lower()
    return "\t".join(ex.words[i].lower() for i in ex.targets)


def _draw(kind_type: str, seed: int, labels: list[str], cumulative: list[float]) -> str:
    digest = hashlib.sha256(f"{seed}\0{kind_type}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return labels[min(bisect.bisect_right(cumulative, u), len(labels) - 1)]


def control_labels(data: TaskData, seed: int) -> TaskData:
    """``data`` with each example's label replaced by its type's control label."""
    counts = Counter(ex.label for ex in data.splits["train"].examples)
    labels = sorted(counts)
    total = sum(counts.values())
    cumulative, acc = [], 0
    for label in labels:
        acc += counts[label]
        cumulative.append(acc / total)
    drawn: dict[str, str] = {}

    def relabel(ex: Example) -> Example:
        t = example_type(ex, data.target)
        if t not in drawn:
            drawn[t] = _draw(t, seed, labels, cumulative)
        return replace(ex, label=drawn[t])

    return _with_splits(
        data, {n: [relabel(ex) for ex in s.examples] for n, s in data.splits.items()}
    )


def permuted_labels(data: TaskData, seed: int) -> TaskData:
    """``data`` with the labels of each split shuffled across its examples (seeded)."""
    import numpy as np

    out = {}
    for i, (name, split) in enumerate(sorted(data.splits.items())):
        order = np.random.default_rng([seed, i]).permutation(len(split.examples))
        labels = [split.examples[j].label for j in order]
        out[name] = [replace(ex, label=lab) for ex, lab in zip(split.examples, labels, strict=True)]
    return _with_splits(data, out)


def _with_splits(data: TaskData, examples: dict[str, list[Example]]) -> TaskData:
    splits: dict[str, Split] = {
        name: replace(split, examples=examples[name]) for name, split in data.splits.items()
    }
    return TaskData(task=data.task, target=data.target, splits=splits)


def _load(base: TaskSpec, kind: str, seed: int, name: str, source) -> TaskData:
    data = base.load(source)
    out = control_labels(data, seed) if kind == "control" else permuted_labels(data, seed)
    out.task = name
    for split in out.splits.values():
        split.rule = f"{split.rule}|{kind}@{seed}".lstrip("|")
    return out


def resolve(name: str) -> TaskSpec:
    from ftprobe.pluginmanager import tasks

    base_name, kind, seed = parse(name)
    base = tasks().get(base_name)
    return TaskSpec(
        name=name,
        description=f"{kind} task of {base.name} (seed {seed})",
        target=base.target,
        load=partial(_load, base, kind, seed, name),
        splits=base.splits,
        version=f"{base.version}+{VERSION}-{kind}@{seed}",
    )


def _pattern_load(source: object) -> None:
    raise FtprobeError("'controls' stands for control tasks: give e.g. --task pos:control@1")


@hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name="controls",
            description="control tasks of any task: TASK:control[@SEED] (a label per word type, "
            "Hewitt & Liang 2019) or TASK:permute[@SEED] (labels shuffled)",
            target="word",
            load=_pattern_load,  # type: ignore[arg-type]
            accepts=lambda name: PATTERN.match(name) is not None,
            resolve=resolve,
            control_name=lambda task, seed: f"{task}:control@{seed}",
        )
    )
