"""The one plugin manager and the name -> record registries it fills.

Plugins (built-in ones too) come from the ``ftprobe`` entry-point group. The registries
(tasks, encoders, probes, measures) are built lazily from the plugins' ``register_*`` hooks.
(This module is not called ``plugins``: ``ftprobe.plugins`` is the package of the built-in
plugins, the top-level ``plugins/`` folder.)

``FTPROBE_LOAD_PLUGINS`` restricts loading to a comma-separated list of entry-point names
(an empty value loads none), like ``LLM_LOAD_PLUGINS`` does for llm.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any, Generic, TypeVar

import pluggy

from ftprobe import hookspecs
from ftprobe.api import EncoderSpec, ExecutorSpec, ProbeSpec, SimilaritySpec, TaskSpec
from ftprobe.errors import FtprobeError, UnknownNameError

GROUP = "ftprobe"


@dataclass
class PluginInfo:
    name: str
    version: str | None
    hooks: list[str]
    module: str
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "version": self.version,
            "hooks": self.hooks,
            "module": self.module,
        }
        if self.error:
            out["error"] = self.error
        return out


_pm: pluggy.PluginManager | None = None
_failed: dict[str, PluginInfo] = {}
_versions: dict[str, str | None] = {}


def _allowed() -> set[str] | None:
    value = os.environ.get("FTPROBE_LOAD_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed()
    seen: set[str] = set()
    for ep in metadata.entry_points(group=GROUP):
        if ep.name in seen or (allowed is not None and ep.name not in allowed):
            continue
        seen.add(ep.name)
        version = ep.dist.version if ep.dist is not None else None
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            _failed[ep.name] = PluginInfo(
                ep.name, version, [], ep.value, f"{type(exc).__name__}: {exc}"
            )
            print(f"ftprobe: plugin {ep.name!r} failed to load: {exc}", file=sys.stderr)
            continue
        _versions[ep.name] = version


def get_plugin_manager() -> pluggy.PluginManager:
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager(GROUP)
        pm.add_hookspecs(hookspecs)
        _load_entry_points(pm)
        _pm = pm
    return _pm


def register(plugin: object, name: str) -> None:
    """Register an in-process plugin (tests, notebooks) and rebuild the registries."""
    get_plugin_manager().register(plugin, name=name)
    invalidate()


def unregister(name: str) -> None:
    pm = get_plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    invalidate()


def plugin_infos() -> list[PluginInfo]:
    """Every plugin: name, version, implemented hooks (and load errors)."""
    pm = get_plugin_manager()
    infos = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in (pm.get_hookcallers(plugin) or []))
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__qualname__
        infos.append(PluginInfo(name, _versions.get(name), hooks, module))
    infos.extend(_failed.values())
    return sorted(infos, key=lambda i: i.name)


def reset() -> None:
    """Forget the plugin manager (tests that change FTPROBE_LOAD_PLUGINS)."""
    global _pm
    _pm = None
    _failed.clear()
    _versions.clear()
    invalidate()


# ----------------------------------------------------------------- registries
T = TypeVar("T", TaskSpec, EncoderSpec, ProbeSpec, SimilaritySpec, ExecutorSpec)


class DuplicateNameError(FtprobeError):
    """Two plugins registered the same name or alias."""


class Registry(Generic[T]):
    """Records of one kind, looked up by name or alias."""

    def __init__(self, kind: str, record_type: type | tuple[type, ...], hint: str = ""):
        self.kind, self.record_type, self.hint = kind, record_type, hint
        self._by_name: dict[str, T] = {}
        self._owner: dict[str, str] = {}
        self._alias: dict[str, str] = {}

    def register(self, spec: T, plugin: str = "?") -> None:
        if not isinstance(spec, self.record_type):
            types = self.record_type if isinstance(self.record_type, tuple) else (self.record_type,)
            hook = next((h for h, t, *_ in _KINDS.values() if t is type(spec)), None)
            where = f" (a {type(spec).__name__} goes through {hook})" if hook else ""
            raise FtprobeError(
                f"plugin {plugin!r} registered a {type(spec).__name__} as a {self.kind}; "
                f"register a {' or '.join(t.__name__ for t in types)}{where}"
            )
        for key in (spec.name, *spec.aliases):
            if key in self._by_name or key in self._alias:
                first = self._owner.get(key) or self._owner[self._alias[key]]
                raise DuplicateNameError(
                    f"{self.kind} name {key!r} from plugin {plugin!r} is already registered by "
                    f"plugin {first!r}; rename one of them or disable a plugin with "
                    "FTPROBE_LOAD_PLUGINS"
                )
        self._by_name[spec.name] = spec
        self._owner[spec.name] = plugin
        for alias in spec.aliases:
            self._alias[alias] = spec.name

    def get(self, name: str) -> T:
        """The record of ``name``: a registered name or alias, else the first pattern record
        whose ``accepts(name)`` is true (resolved to a concrete record where it has a
        ``resolve``)."""
        key = self._alias.get(name, name)
        if key in self._by_name:
            return self._by_name[key]
        pattern = self._pattern(name)
        if pattern is not None:
            resolve = getattr(pattern, "resolve", None)
            return resolve(name) if resolve is not None else pattern
        raise UnknownNameError(self.kind, name, self.names(), self.hint)

    def _pattern(self, name: str) -> T | None:
        for spec in self._by_name.values():
            accepts = getattr(spec, "accepts", None)
            if accepts is not None and accepts(name):
                return spec
        return None

    def owner(self, name: str) -> str:
        """The plugin that registered ``name`` (or the pattern record that accepts it)."""
        key = self._alias.get(name, name)
        if key not in self._owner:
            pattern = self._pattern(name)
            if pattern is not None:
                return self._owner[pattern.name]
        return self._owner[key]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[T]:
        return iter(self._by_name[n] for n in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name or name in self._alias

    def __len__(self) -> int:
        return len(self._by_name)


_KINDS: dict[str, tuple[str, type | tuple[type, ...], str, str]] = {
    "task": ("register_tasks", TaskSpec, "", "tasks"),
    "encoder": (
        "register_encoders",
        EncoderSpec,
        "or give a Hugging Face model id or a local model directory",
        "encoders",
    ),
    "probe": ("register_probes", ProbeSpec, "", "probes"),
    "measure": ("register_measures", SimilaritySpec, "", "measures"),
    "executor": ("register_executors", ExecutorSpec, "", "executors"),
}
_cache: dict[str, Registry[Any]] = {}


def _build(kind: str) -> Registry[Any]:
    hook_name, record_type, hint, _ = _KINDS[kind]
    reg: Registry[Any] = Registry(kind, record_type, hint)
    pm = get_plugin_manager()
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or "?"
        register: Callable[[Any], None] = lambda spec, p=plugin_name: reg.register(spec, p)  # noqa: E731
        impl.function(register=register)
    return reg


def registry(kind: str) -> Registry[Any]:
    """The registry of ``kind`` ("task", "encoder" or "probe"), built on first use."""
    if kind not in _cache:
        _cache[kind] = _build(kind)
    return _cache[kind]


def tasks() -> Registry[TaskSpec]:
    return registry("task")


def encoders() -> Registry[EncoderSpec]:
    return registry("encoder")


def probes() -> Registry[ProbeSpec]:
    return registry("probe")


def measures() -> Registry[SimilaritySpec]:
    return registry("measure")


def executors() -> Registry[ExecutorSpec]:
    return registry("executor")


def default_encoder() -> str:
    """The encoder a plugin marked ``default`` (the first by name if several do)."""
    marked = [spec.name for spec in encoders() if spec.default]
    if not marked:
        raise FtprobeError(
            "no loaded encoder plugin declares a default encoder; give --model NAME "
            "(see `ftprobe models`)"
        )
    return marked[0]


def probes_providing(part: str) -> list[ProbeSpec]:
    """The probes whose results carry the typed part ``part``, by name."""
    return [spec for spec in probes() if part in spec.provides]


def default_probe(role: str, need: str | None = None, who: str = "this") -> str:
    """The probe for ``role`` (a part or ``"run"``): the one a plugin declares the default for
    it, else the only probe providing ``need``; a one-line error (naming ``who`` needs it)
    when none or several do."""
    need = need or role
    able = [spec for spec in probes() if need == "run" or need in spec.provides]
    marked = [spec.name for spec in able if role in spec.default_for]
    if marked:
        return marked[0]
    if len(able) == 1:
        return able[0].name
    loaded = ", ".join(f"{s.name} ({', '.join(s.provides)})" for s in probes()) or "none"
    if not able:
        raise FtprobeError(f"{who} needs a probe that provides {need}; loaded: {loaded}")
    raise FtprobeError(
        f"several probes provide {need} and none is its declared default; choose one "
        f"(loaded: {loaded})"
    )


def invalidate() -> None:
    """Drop the built registries (after plugins are registered or unregistered)."""
    _cache.clear()
