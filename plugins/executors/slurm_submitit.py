"""The ``slurm`` executor: a Slurm job array through submitit, one array task per shard of the
jobs. ``cluster=local`` runs the array as local processes (submitit's local executor), ``debug``
in this process; the default lets submitit pick Slurm when ``sbatch`` is there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftprobe import hookimpl
from ftprobe.api import ExecutorSpec
from ftprobe.errors import FtprobeError
from ftprobe.plugins.executors.threads import cap_threads


def run_shard(fn: Callable[[Any], Any], items: list[Any], threads: int) -> list[Any]:
    """One array task: its share of the jobs, one after another."""
    cap_threads(threads)
    return [fn(item) for item in items]


class SlurmExecutor:
    """``workers`` array tasks (default: one per job), each with ``cpus`` CPUs, ``gpus`` GPUs,
    ``mem_gb`` memory and a ``time`` limit in minutes, on ``partition``."""

    def __init__(
        self,
        workers: int | None = None,
        folder: str = "ftprobe-slurm",
        cluster: str | None = None,
        partition: str | None = None,
        time: int = 240,
        cpus: int = 1,
        gpus: int = 0,
        mem_gb: float | None = None,
        parallelism: int | None = None,
    ):
        try:
            import submitit
        except ImportError:
            raise FtprobeError(
                "the slurm executor needs submitit: pip install 'ftprobe[slurm]'"
            ) from None
        self.submitit = submitit
        self.workers, self.folder, self.cluster = workers, Path(folder), cluster
        self.cpus = int(cpus)
        params: dict[str, Any] = {"timeout_min": int(time), "cpus_per_task": self.cpus}
        if gpus:
            params["gpus_per_node"] = int(gpus)
        if mem_gb:
            params["mem_gb"] = mem_gb
        if partition:
            params["slurm_partition"] = partition
        if parallelism:
            params["slurm_array_parallelism"] = int(parallelism)
        self.params = params

    def map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        if not items:
            return []
        n = min(self.workers or len(items), len(items))
        shards = [list(range(i, len(items), n)) for i in range(n)]
        executor = self.submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        executor.update_parameters(**self.params)
        jobs = executor.map_array(
            run_shard, [fn] * n, [[items[j] for j in s] for s in shards], [self.cpus] * n
        )
        out: list[Any] = [None] * len(items)
        for shard, job in zip(shards, jobs, strict=True):
            for j, result in zip(shard, job.result(), strict=True):
                out[j] = result
        return out


@hookimpl
def register_executors(register):
    register(
        ExecutorSpec(
            "slurm",
            "A Slurm job array through submitit (cluster=local runs it as local processes).",
            factory=SlurmExecutor,
            extra="slurm",
        )
    )
