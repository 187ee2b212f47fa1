"""Cap the BLAS/OpenMP and torch threads of a worker so K workers don't oversubscribe cores."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

_limits: Any = None  # keeps threadpoolctl's limits in force for the worker's life


def default_threads(workers: int) -> int:
    """Cores per worker: the cores this process may use, shared evenly by ``workers``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, workers))


def cap_threads(threads: int) -> None:
    """Limit this process to ``threads`` BLAS/OpenMP/torch threads."""
    global _limits
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    from threadpoolctl import threadpool_limits

    _limits = threadpool_limits(limits=threads)
    import torch

    torch.set_num_threads(threads)


def call_capped(fn: Callable[[Any], Any], threads: int, item: Any) -> Any:
    """``fn(item)`` in a worker capped to ``threads`` threads."""
    cap_threads(threads)
    return fn(item)
