"""The one plugin manager. Plugins (built-in ones too) come from the ``ftprobe`` entry-point group.

``FTPROBE_LOAD_PLUGINS`` restricts loading to a comma-separated list of entry-point names
(an empty value loads none), like ``LLM_LOAD_PLUGINS`` does for llm.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType

import pluggy

from ftprobe import hookspecs

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
    from ftprobe import registry

    get_plugin_manager().register(plugin, name=name)
    registry.invalidate()


def unregister(name: str) -> None:
    from ftprobe import registry

    pm = get_plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    registry.invalidate()


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
    from ftprobe import registry

    global _pm
    _pm = None
    _failed.clear()
    _versions.clear()
    registry.invalidate()
