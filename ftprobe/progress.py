"""Progress display (rich) on stderr, silenced with ``FTPROBE_QUIET=1`` or ``--quiet``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
console = Console(stderr=True)


def quiet() -> bool:
    return os.environ.get("FTPROBE_QUIET", "").lower() in ("1", "true", "yes")


def make_progress() -> Progress:
    """A rich Progress with bar, counts, elapsed and remaining time (disabled when quiet)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=quiet(),
        transient=False,
    )


@contextmanager
def bar(description: str, total: int | None) -> Iterator[Progress]:
    """``with bar("encoding", n) as p: ... p.advance(p.task_ids[0], k)``.

    Use ``p.update(p.task_ids[0], info="...")`` for a live status field (loss, LP calls).
    """
    with make_progress() as progress:
        progress.add_task(description, total=total, info="")
        yield progress


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with bar(description, total) as progress:
        tid = progress.task_ids[0]
        for item in items:
            yield item
            progress.advance(tid)


def log(message: str) -> None:
    """A status line on stderr (not shown when quiet)."""
    if not quiet():
        console.print(message, highlight=False)


def warn(message: str) -> None:
    """A line on stderr that is shown even when quiet (damage found, leftovers removed)."""
    print(f"ftprobe: {message}", file=sys.stderr, flush=True)
