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


@pytest.mark.usefixtures("offline_tasks", "one_torch_thread")
def test_run_with_controls_reports_selectivity_per_layer(tiny_bert_dir, tmp_path):
    import json

    from click.testing import CliRunner

    from ftprobe.cli import cli

    out = tmp_path / "sel"
    args = ["run", "-t", "offline-pos", "-m", str(tiny_bert_dir), "-p", "linear", "--controls"]
    args += ["-o", "seeds=2", "-o", "max_iter=30", "--layers", "0,2", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    sel = json.loads((out / "selectivity.json").read_text())
    assert sel["control"] == "offline-pos:control@0" and [r["layer"] for r in sel["layers"]] == [
        0,
        2,
    ]
    task = json.loads((out / "result.json").read_text())
    control = json.loads((tmp_path / "sel-control" / "result.json").read_text())
    for row in sel["layers"]:
        t, c = task["layers"][str(row["layer"])], control["layers"][str(row["layer"])]
        assert row["task"]["accuracy"]["mean"] == pytest.approx(t["accuracy"])
        assert row["control"]["accuracy"]["mean"] == pytest.approx(c["accuracy"])
        assert row["selectivity"] == pytest.approx(t["accuracy"] - c["accuracy"])
    lines = (out / "selectivity.csv").read_text().splitlines()
    assert lines[0].startswith("layer,selectivity,task_accuracy_mean") and len(lines) == 3
    assert (out / "selectivity.png").read_bytes()[:4] == b"\x89PNG"
    assert "selectivity" in res.output
