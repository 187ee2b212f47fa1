"""The ``ray`` executor: each job a Ray task, on a cluster (``address``) or a local instance.

Workers share vectors and fine-tuned checkpoints through the cache directory (set
``--cache-dir`` to a shared file system on a cluster)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftprobe import hookimpl
from ftprobe.api import ExecutorSpec
from ftprobe.errors import FtprobeError
from ftprobe.plugins.executors.threads import call_capped


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise FtprobeError("the ray executor needs Ray: pip install 'ftprobe[ray]'") from None
    return ray


class RayExecutor:
    """Jobs as Ray tasks of ``cpus`` CPUs each (threads capped to match). ``address`` joins a
    running cluster (``auto`` or ``ray://host:10001``); without it a local Ray instance with
    ``workers`` CPUs is started for the sweep and stopped by :meth:`close`."""

    def __init__(
        self, workers: int | None = None, address: str | None = None, cpus: int = 1, gpus: float = 0
    ):
        self.ray = _ray()
        self.workers, self.address, self.cpus, self.gpus = workers, address, int(cpus), gpus
        self._started = False

    def map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        if not items:
            return []
        ray = self.ray
        if not ray.is_initialized():  # kept for the next map; close() stops what we started
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                kwargs["address"] = self.address
            elif self.workers:
                kwargs["num_cpus"] = self.workers * self.cpus
            ray.init(**kwargs)
            self._started = True
        task = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus)(call_capped)
        return ray.get([task.remote(fn, self.cpus, item) for item in items])

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False


@hookimpl
def register_executors(register):
    register(
        ExecutorSpec(
            "ray",
            "Ray tasks on a cluster (address=...) or a local Ray instance.",
            factory=RayExecutor,
            extra="ray",
        )
    )
