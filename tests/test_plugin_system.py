"""The plugin system: entry-point discovery, in-process registration, registries, meta-tests."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ftprobe import hookimpl, hookspecs, pluginmanager
from ftprobe import pluginmanager as registry
from ftprobe.api import (
    EncoderSpec,
    Example,
    ExecutorSpec,
    ProbeResult,
    ProbeSpec,
    SimilaritySpec,
    Split,
    TaskData,
    TaskSpec,
)
from ftprobe.errors import UnknownNameError

REPO = Path(__file__).resolve().parents[1]
HOOK_NAMES = sorted(n for n in dir(hookspecs) if n.startswith("register_"))
BUILTINS = {"ud", "streusle", "trec", "encoders", "classifier", "directprobe"}


def _tiny_task(source) -> TaskData:
    ex = [Example(("a", "b"), (0,), "x"), Example(("a", "b"), (1,), "y")]
    return TaskData("tiny", "word", {"train": Split("train", ex, 1), "test": Split("test", ex, 1)})


class _Probe:
    def fit(self, train, *, seed=0):
        self.n = len(train.y)

    def evaluate(self, test):
        return ProbeResult({"accuracy": 1.0, "n_train": self.n})


class _InOrder:
    def __init__(self, workers=1):
        self.workers = workers

    def map(self, fn, items):
        return [fn(item) for item in items]


class AllHooks:
    """An in-process plugin that implements every hookspec and records the calls."""

    called: set[str] = set()

    @hookimpl
    def register_tasks(self, register):
        self.called.add("register_tasks")
        register(TaskSpec("tiny-task", "A two-example task.", "word", _tiny_task))

    @hookimpl
    def register_encoders(self, register):
        self.called.add("register_encoders")
        register(EncoderSpec("tiny-encoder", "Never loaded.", load=lambda name: None))

    @hookimpl
    def register_probes(self, register):
        self.called.add("register_probes")
        register(ProbeSpec("tiny-probe", "Always right.", factory=_Probe))

    @hookimpl
    def register_measures(self, register):
        self.called.add("register_measures")
        register(SimilaritySpec("tiny-measure", "Always one.", compute=lambda a, b: 1.0))

    @hookimpl
    def register_executors(self, register):
        self.called.add("register_executors")
        register(ExecutorSpec("tiny-executor", "In order.", factory=_InOrder))

    @hookimpl
    def register_commands(self, cli):
        self.called.add("register_commands")

        @cli.command(name="tiny-hello")
        def hello():
            click.echo("hello from a plugin")


@pytest.fixture
def all_hooks():
    """Register AllHooks in-process; always unregistered afterwards."""
    AllHooks.called = set()
    pluginmanager.register(AllHooks(), name="all-hooks")
    try:
        yield AllHooks
    finally:
        pluginmanager.unregister("all-hooks")
        from ftprobe.cli import cli

        cli.commands.pop("tiny-hello", None)


def test_builtins_are_loaded_through_entry_points():
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="ftprobe")}
    assert BUILTINS <= set(eps)
    assert all(v.startswith("ftprobe.plugins.") for k, v in eps.items() if k in BUILTINS)
    names = {info.name for info in pluginmanager.plugin_infos()}
    assert BUILTINS <= names


def test_no_bare_plugins_module_is_importable():
    import subprocess
    import sys
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    assert not (site / "plugins").exists() and not (site / "plugins.py").exists()
    code = (
        "import importlib.util as u; print(u.find_spec('plugins'), u.find_spec('ftprobe.plugins'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=site.anchor, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "None" and out[1] != "None"


def test_plugins_json_lists_every_builtin_with_version_and_hooks():
    res = CliRunner().invoke(_cli(), ["plugins", "--json"])
    assert res.exit_code == 0, res.output
    infos = {p["name"]: p for p in json.loads(res.output)}
    assert BUILTINS <= set(infos)
    assert "register_tasks" in infos["ud"]["hooks"]
    assert "register_encoders" in infos["encoders"]["hooks"]
    assert "register_probes" in infos["directprobe"]["hooks"]
    assert infos["ud"]["version"] == metadata.version("ftprobe")


def test_in_process_plugin_registers_every_hook(all_hooks):
    from ftprobe import cli as cli_module

    assert registry.tasks().get("tiny-task").target == "word"
    assert registry.encoders().get("tiny-encoder").name == "tiny-encoder"
    assert registry.probes().get("tiny-probe").name == "tiny-probe"
    assert registry.measures().get("tiny-measure").name == "tiny-measure"
    executor = registry.executors().get("tiny-executor").factory(workers=2)
    assert executor.map(str, [1, 2]) == ["1", "2"]
    pm = pluginmanager.get_plugin_manager()
    pm.hook.register_commands(cli=cli_module.cli)
    res = CliRunner().invoke(cli_module.cli, ["tiny-hello"])
    assert res.output.strip() == "hello from a plugin"
    assert all_hooks.called == set(HOOK_NAMES)
    infos = {p.name: p for p in pluginmanager.plugin_infos()}
    assert infos["all-hooks"].hooks == HOOK_NAMES


def test_unregister_removes_the_records(all_hooks):
    assert "tiny-task" in registry.tasks()
    pluginmanager.unregister("all-hooks")
    assert "tiny-task" not in registry.tasks()
    pluginmanager.register(AllHooks(), name="all-hooks")  # the fixture unregisters it again


def test_duplicate_names_are_rejected_with_both_plugins_named(all_hooks):
    class Clash:
        @hookimpl
        def register_tasks(self, register):
            register(TaskSpec("tiny-task", "Clash.", "word", _tiny_task))

    pluginmanager.register(Clash(), name="clash")
    try:
        with pytest.raises(registry.DuplicateNameError, match="'tiny-task'.*'clash'.*'all-hooks'"):
            registry.tasks()
    finally:
        pluginmanager.unregister("clash")


def test_unknown_name_suggests_and_lists():
    with pytest.raises(UnknownNameError) as info:
        registry.tasks().get("ss-rol")
    msg = str(info.value)
    assert "did you mean 'ss-role'" in msg and "known tasks:" in msg and "trec" in msg


@pytest.mark.parametrize(
    ("args", "kind", "bad"),
    [
        (["run", "--task", "postag", "--model", "minilm-l3"], "task", "postag"),
        (
            ["run", "--task", "pos", "--model", "no-such-model", "--probe", "classifier"],
            "encoder",
            "no-such-model",
        ),
        (["run", "--task", "pos", "--model", "minilm-l3", "--probe", "direct"], "probe", "direct"),
    ],
)
def test_cli_unknown_names_exit_2_with_the_list(args, kind, bad):
    res = CliRunner().invoke(_cli(), args)
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output
    assert f"unknown {kind} {bad!r}" in lines[0] and f"known {kind}s:" in lines[0]


def test_load_plugins_env_restricts(monkeypatch):
    monkeypatch.setenv("FTPROBE_LOAD_PLUGINS", "trec")
    pluginmanager.reset()
    try:
        assert {i.name for i in pluginmanager.plugin_infos()} == {"trec"}
        assert "pos" not in registry.tasks()
    finally:
        monkeypatch.delenv("FTPROBE_LOAD_PLUGINS")
        pluginmanager.reset()


def test_broken_plugin_is_reported_and_others_still_load(monkeypatch, capsys):
    real = metadata.entry_points

    def with_broken(**kwargs):
        eps = list(real(**kwargs))
        eps.append(metadata.EntryPoint("broken", "ftprobe_no_such_module", "ftprobe"))
        return eps

    monkeypatch.setattr(metadata, "entry_points", with_broken)
    pluginmanager.reset()
    try:
        infos = {i.name: i for i in pluginmanager.plugin_infos()}
        assert "ModuleNotFoundError" in infos["broken"].error
        assert "broken" in capsys.readouterr().err
        assert "pos" in registry.tasks()  # the others still work
    finally:
        monkeypatch.setattr(metadata, "entry_points", real)
        pluginmanager.reset()


def test_every_hookspec_is_tested_and_documented():
    """Meta-test (datasette style): each hook is implemented by AllHooks above and has its own
    section in the README's "Writing a plugin" part."""
    implemented = {n for n in dir(AllHooks) if n.startswith("register_")}
    assert implemented == set(HOOK_NAMES)
    readme = (REPO / "README.md").read_text()
    plugin_part = readme.split("## Writing a plugin", 1)[1]
    for name in HOOK_NAMES:
        assert re.search(rf"^#+ `{name}\(", plugin_part, re.M), f"{name} undocumented in README"


def _cli():
    from ftprobe.cli import cli

    return cli
