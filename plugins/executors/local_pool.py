"""The ``local`` executor: a pool of K worker processes on this machine."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ftprobe import hookimpl
from ftprobe.api import ExecutorSpec
from ftprobe.errors import FtprobeError
from ftprobe.plugins.executors.threads import cap_threads, default_threads


class LocalExecutor:
    """K worker processes (``spawn``), each capped to ``threads`` BLAS/torch threads (default:
    the cores shared evenly). One worker runs the jobs in this process, one after another."""

    def __init__(self, workers: int = 1, threads: int | None = None):
        if workers < 1:
            raise FtprobeError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.threads = int(threads) if threads else default_threads(workers)
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        if self.workers == 1 or len(items) <= 1:
            return [fn(item) for item in items]
        if self._pool is None:  # kept for the next map (the sweep's next phase): one start-up
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=cap_threads,
                initargs=(self.threads,),
            )
        return list(self._pool.map(fn, items, chunksize=1))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


@hookimpl
def register_executors(register):
    register(
        ExecutorSpec(
            "local",
            "A process pool of K workers on this machine (threads capped per worker).",
            factory=LocalExecutor,
        )
    )
