"""Name -> record registries for tasks, encoders and probes, filled lazily from the plugins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from ftprobe.api import EncoderSpec, ProbeSpec, SimilaritySpec, TaskSpec
from ftprobe.errors import FtprobeError, UnknownNameError

T = TypeVar("T", TaskSpec, EncoderSpec, ProbeSpec, SimilaritySpec)


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
            raise FtprobeError(
                f"plugin {plugin!r} registered a {type(spec).__name__} as a {self.kind}; "
                f"register a {' or '.join(t.__name__ for t in types)}"
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
        key = self._alias.get(name, name)
        if key in self._by_name:
            return self._by_name[key]
        for spec in self._by_name.values():
            accepts = getattr(spec, "accepts", None)
            if accepts is not None and accepts(name):
                return spec
        raise UnknownNameError(self.kind, name, self.names(), self.hint)

    def owner(self, name: str) -> str:
        return self._owner[self._alias.get(name, name)]

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
    "probe": ("register_probes", (ProbeSpec, SimilaritySpec), "", "probes"),
}
_cache: dict[str, Registry[Any]] = {}


def _build(kind: str) -> Registry[Any]:
    from ftprobe.pluginmanager import get_plugin_manager

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


def probes() -> Registry[ProbeSpec | SimilaritySpec]:
    """Probes and similarity measures (one namespace: names are unique across both)."""
    return registry("probe")


def invalidate() -> None:
    """Drop the built registries (after plugins are registered or unregistered)."""
    _cache.clear()
