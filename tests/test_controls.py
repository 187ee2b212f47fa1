"""Control tasks (``TASK:control[@SEED]``, ``TASK:permute[@SEED]``) built by the controls
plugin over any task: properties that follow from their construction."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pytest

from ftprobe.datafiles import DataSource
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import tasks
from ftprobe.plugins.tasks.controls import example_type


def _load(name: str):
    return tasks().get(name).load(DataSource())


def _type_labels(data) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = defaultdict(set)
    for split in data.splits.values():
        for ex in split.examples:
            seen[example_type(ex, data.target)].add(ex.label)
    return seen


@pytest.mark.usefixtures("offline_tasks")
def test_control_labels_are_a_function_of_the_word_type():
    base, control = _load("offline-pos"), _load("offline-pos:control@1")
    assert control.task == "offline-pos:control@1"
    assert all(len(labels) == 1 for labels in _type_labels(control).values())
    # the base task's word classes are also a function of the type here, but different ones
    assert set(control.labels) <= set(base.labels)
    for name in base.splits:
        a, b = base.splits[name].examples, control.splits[name].examples
        assert [(x.words, x.targets) for x in a] == [(x.words, x.targets) for x in b]
    other = _type_labels(_load("offline-pos:control@2"))
    assert _type_labels(control) != other  # the seed decides


@pytest.mark.usefixtures("offline_tasks")
def test_sentence_controls_depend_on_the_whole_sentence():
    control = _load("offline-topic:control")
    assert all(len(labels) == 1 for labels in _type_labels(control).values())
    assert tasks().get("offline-topic:control").version != tasks().get("offline-topic").version


@pytest.mark.usefixtures("offline_tasks")
def test_permuted_labels_keep_the_counts_exactly():
    base, perm = _load("offline-pos"), _load("offline-pos:permute@3")
    changed = 0
    for name, split in base.splits.items():
        labels = [ex.label for ex in split.examples]
        plabels = [ex.label for ex in perm.splits[name].examples]
        assert Counter(labels) == Counter(plabels)
        changed += sum(a != b for a, b in zip(labels, plabels, strict=True))
    assert changed > 0
    assert _load("offline-pos:permute@3").splits["train"].examples == perm.splits["train"].examples


def test_bad_control_names_are_one_line_errors():
    with pytest.raises(FtprobeError, match="unknown task 'nope'"):
        tasks().get("nope:control")


@pytest.mark.corpus
def test_control_labels_follow_the_task_distribution_over_types():
    """Each type's label is an independent draw from the train label distribution p, so over
    n types a label's share has standard deviation sqrt(p(1-p)/n): 4 of them bound it."""
    base, control = _load("pos"), _load("pos:control@0")
    counts = Counter(ex.label for ex in base.splits["train"].examples)
    total = sum(counts.values())
    per_type = {t: next(iter(ls)) for t, ls in _type_labels(control).items()}
    n = len(per_type)
    assert n > 3000
    shares = Counter(per_type.values())
    for label, c in counts.items():
        p = c / total
        assert abs(shares[label] / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1 / n, label
