"""The house rules: layered imports without cycles, a core that names no plugin, probes picked
by what they provide, and one CLI vocabulary."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import grimp
import numpy as np
import pytest
from click.testing import CliRunner
from support import FAST, MODEL

from ftprobe import hookimpl, pluginmanager
from ftprobe.api import Accuracy, Geometry, ProbeResult, ProbeSpec
from ftprobe.cli import cli, hoist_global_options

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CORE = Path(__file__).resolve().parents[1] / "ftprobe"


def test_no_import_cycle_in_the_core():
    graph = grimp.build_graph("ftprobe", exclude_type_checking_imports=True)
    modules = {m for m in graph.modules if not m.startswith("ftprobe.plugins")}
    for module in sorted(modules):
        for other in graph.find_modules_directly_imported_by(module) & modules:
            if other == module or module.startswith(other + "."):
                continue  # a module importing its own package
            back = graph.find_shortest_chain(importer=other, imported=module)
            assert back is None, f"import cycle: {module} -> {other} -> ... {back}"


def _code_strings_and_names(path: Path) -> list[str]:
    """Every string constant and identifier of a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                found.append(node.value)
        elif isinstance(node, ast.Name):
            found.append(node.id)
        elif isinstance(node, ast.Attribute):
            found.append(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_the_core_names_no_plugin(path):
    bad = re.compile(r"^(directprobe|classifier)$|minilm|bert-base|n_clusters|outside_min")
    hits = [s for s in _code_strings_and_names(path) if bad.search(s)]
    assert not hits, f"{path.name} names plugin details: {hits}"
    assert not [s for s in _code_strings_and_names(path) if s.startswith("ftprobe.plugins")]


def test_global_options_are_accepted_after_the_command():
    assert hoist_global_options(["run", "-t", "pos", "-q"]) == ["-q", "run", "-t", "pos"]
    assert hoist_global_options(["run", "--cache-dir", "/c", "-t", "x"]) == [
        "--cache-dir",
        "/c",
        "run",
        "-t",
        "x",
    ]
    assert hoist_global_options(["run", "--", "-q"]) == ["run", "--", "-q"]


def test_probes_list_their_options_and_parts():
    res = CliRunner().invoke(cli, ["probes", "--options", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["directprobe"]["provides"] == ["accuracy", "geometry"]
    assert {o["name"]: o["default"] for o in rows["directprobe"]["options"]}["top_k"] == 3
    sizes = {o["name"]: o for o in rows["classifier"]["options"]}["sizes"]
    assert sizes["default"] == [[64, 64], [256, 256]] and "64x64" in sizes["help"]
    assert rows["cka"]["kind"] == "similarity"
    table = CliRunner().invoke(cli, ["probes", "--options"])
    assert table.exit_code == 0 and "label_lp_limit" in table.output


def test_unknown_probe_option_is_one_line_with_the_known_list():
    res = CliRunner().invoke(cli, ["run", "-t", "pos", "-p", "classifier", "-o", "sizez=3"])
    assert res.exit_code == 2
    assert "unknown classifier option 'sizez'; known: sizes, l2," in res.output
    res = CliRunner().invoke(cli, ["run", "-t", "pos", "-p", "linear", "-o", "directprobe.k=1"])
    assert res.exit_code == 2 and "names probe 'directprobe'" in res.output


def test_compare_without_a_geometry_probe_says_what_it_needs(tmp_path):
    env = {**os.environ, "FTPROBE_LOAD_PLUGINS": "ud,encoders,classifier"}
    res = subprocess.run(
        [sys.executable, "-m", "ftprobe.cli", "compare", "-t", "pos", "--finetuned-on", "pos"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines == [
        "Error: compare needs a probe that provides geometry; "
        "loaded: classifier (accuracy), linear (accuracy)"
    ]


class CentroidProbe:
    """Nearest label centroid: one 'cluster' per label, distances between label centroids."""

    def fit(self, train, *, seed=0):
        self.labels = train.labels
        self.present = np.unique(train.y)
        self.centroids = {int(i): train.X[train.y == i].mean(axis=0) for i in self.present}

    def evaluate(self, test):
        keys = sorted(self.centroids)
        C = np.stack([self.centroids[k] for k in keys])
        pred = np.array(keys)[np.argmin(((test.X[:, None, :] - C) ** 2).sum(-1), axis=1)]
        acc = float((pred == test.y).mean())
        names = [self.labels[k] for k in keys]
        pairs = [[a, b] for i, a in enumerate(names) for b in names[i + 1 :]]
        dist = [
            float(np.linalg.norm(C[i] - C[j]))
            for i in range(len(keys))
            for j in range(i + 1, len(keys))
        ]
        mins = {
            n: min(
                (float(np.linalg.norm(C[i] - C[j])) for j in range(len(keys)) if j != i),
                default=None,
            )
            for i, n in enumerate(names)
        }
        geo = Geometry(len(keys), len(self.labels), len(keys), True, pairs, dist, mins)
        return ProbeResult({"accuracy": acc}, accuracy=Accuracy(mean=acc), geometry=geo)


class CentroidPlugin:
    @hookimpl
    def register_probes(self, register):
        register(
            ProbeSpec(
                "centroid",
                "nearest label centroid",
                CentroidProbe,
                provides=("accuracy", "geometry"),
            )
        )


def test_a_third_party_geometry_probe_works_in_compare(tiny_tasks, tmp_path):
    from ftprobe.studies.compare import CompareConfig, compare

    pluginmanager.register(CentroidPlugin(), name="centroid-plugin")
    try:
        cfg = CompareConfig(
            task="tiny-pos",
            model=MODEL,
            finetuned_on="tiny-pos",
            layers="3",
            accuracy_probe="centroid",
            geometry_probe="centroid",
            finetune_options=FAST,
            out=tmp_path / "cmp",
        )
        rec = compare(cfg)
    finally:
        pluginmanager.unregister("centroid-plugin")
    row = rec["layers"][0]
    assert rec["probes"] == {"accuracy": "centroid", "geometry": "centroid"}
    assert 0.0 <= row["accuracy"]["before"] <= 1.0 and row["accuracy"]["after"] is not None
    assert row["geometry"]["before"]["clusters"] == len(rec["task"]["labels"])
    assert -1.0 <= row["before_after_similarity"] <= 1.0
    assert row["min_distance"]["n_compared"] > 0
