"""The plugin hooks. A plugin module implements any of these with ``@ftprobe.hookimpl``.

Each ``register_*`` hook receives a ``register`` callback; call it once per record
(:class:`~ftprobe.api.TaskSpec`, :class:`~ftprobe.api.EncoderSpec`,
:class:`~ftprobe.api.ProbeSpec`, :class:`~ftprobe.api.SimilaritySpec`,
:class:`~ftprobe.api.ExecutorSpec`). Keep plugin modules
import-light: import torch or transformers inside loaders, not at module top, so
``ftprobe --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("ftprobe")
hookimpl = pluggy.HookimplMarker("ftprobe")


@hookspec
def register_tasks(register: Callable[[Any], None]) -> None:
    """Register probing tasks: call ``register(TaskSpec(...))`` for each."""


@hookspec
def register_encoders(register: Callable[[Any], None]) -> None:
    """Register encoders: call ``register(EncoderSpec(...))`` for each."""


@hookspec
def register_probes(register: Callable[[Any], None]) -> None:
    """Register probes: call ``register(ProbeSpec(...))`` for each."""


@hookspec
def register_measures(register: Callable[[Any], None]) -> None:
    """Register similarity measures: call ``register(SimilaritySpec(...))`` for each."""


@hookspec
def register_executors(register: Callable[[Any], None]) -> None:
    """Register sweep executors: call ``register(ExecutorSpec(...))`` for each."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add sub-commands to the ``ftprobe`` Click group ``cli``."""
