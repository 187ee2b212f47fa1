"""The vector cache: one directory per key under ``$FTPROBE_CACHE_DIR/vectors``.

A finished entry ``<key>/`` holds ``vectors.npy`` (float32, memory-mappable) and ``meta.json``.
It is built in ``<key>.partial/`` chunk by chunk: after each chunk the array is flushed and
``done.json`` (the finished chunk ids) is replaced atomically, so a killed run resumes at the
first unfinished chunk; the finished directory appears by one atomic rename, so no reader ever
sees half an entry. A lock file keeps two processes from building the same entry at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe import atomic
from ftprobe.progress import log
from ftprobe.settings import current

VECTORS = "vectors.npy"
META = "meta.json"
DONE = "done.json"
PARTIAL = ".partial"


def root() -> Path:
    return current().cache_dir / "vectors"


def make_key(parts: dict[str, Any]) -> str:
    """A stable key from the parts that decide the vectors (order-independent)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def load(key: str, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """The finished entry as a read-only memmap, or None (missing, or not the expected shape)."""
    entry = root() / key
    try:
        arr = np.load(entry / VECTORS, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if not (entry / META).is_file() or arr.dtype != np.float32:
        return None
    if shape is not None and tuple(arr.shape) != tuple(shape):
        return None
    return arr


@dataclass
class Builder:
    """A partial entry being filled: write chunks with :meth:`put`, then :meth:`finish`."""

    key: str
    path: Path
    array: np.ndarray  # np.memmap opened r+
    done: set[int]
    n_chunks: int

    def put(self, chunk: int, columns: np.ndarray, values: np.ndarray) -> None:
        """Store ``values`` (layers, len(columns), dim) at example ``columns``; mark done."""
        self.array[:, columns, :] = values
        self.array.flush()
        self.done.add(chunk)
        atomic.write_json(self.path / DONE, {"n_chunks": self.n_chunks, "done": sorted(self.done)})

    def finish(self, meta: dict[str, Any]) -> np.ndarray:
        missing = set(range(self.n_chunks)) - self.done
        if missing:
            raise RuntimeError(f"cache entry {self.key}: chunks {sorted(missing)} not written")
        self.array.flush()
        del self.array
        meta = {**meta, "key": self.key, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic.write_json(self.path / META, meta)
        (self.path / DONE).unlink(missing_ok=True)
        final = root() / self.key
        if final.exists():  # an older, unreadable entry
            shutil.rmtree(final)
        os.replace(self.path, final)
        out = load(self.key)
        assert out is not None
        return out


@contextmanager
def build(
    key: str, shape: tuple[int, int, int], n_chunks: int, meta: dict[str, Any] | None = None
) -> Iterator[Builder | np.ndarray]:
    """Lock ``key`` and yield a :class:`Builder` (resuming a partial entry of the same shape),
    or the finished array when another process finished it while we waited for the lock.
    ``meta`` describes the entry in ``cache ls`` while it is partial."""
    base = root()
    base.mkdir(parents=True, exist_ok=True)
    lock_path = base / f".{key}.lock"
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another ftprobe process building cache entry {key}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            ready = load(key, shape)
            if ready is not None:
                yield ready
                return
            yield _open_partial(key, shape, n_chunks, meta or {})
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _open_partial(
    key: str, shape: tuple[int, int, int], n_chunks: int, meta: dict[str, Any]
) -> Builder:
    path = root() / (key + PARTIAL)
    path.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path / META, {**meta, "key": key})
    done: set[int] = set()
    array = None
    try:
        state = json.loads((path / DONE).read_text())
        array = np.lib.format.open_memmap(path / VECTORS, mode="r+")
        if state["n_chunks"] == n_chunks and tuple(array.shape) == shape:
            done = {int(c) for c in state["done"] if 0 <= int(c) < n_chunks}
        else:
            array = None
    except (OSError, ValueError, KeyError, TypeError):
        array = None
    if array is None or array.dtype != np.float32:
        (path / DONE).unlink(missing_ok=True)
        array = np.lib.format.open_memmap(path / VECTORS, mode="w+", dtype=np.float32, shape=shape)
        done = set()
    return Builder(key, path, array, done, n_chunks)


# ------------------------------------------------------------------------- listing
@dataclass
class Entry:
    key: str
    path: Path
    complete: bool
    meta: dict[str, Any]
    nbytes: int
    progress: str = ""  # "3/10 chunks" for a partial entry

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "complete": self.complete,
            "progress": self.progress,
            "bytes": self.nbytes,
            "path": str(self.path),
            **{k: v for k, v in self.meta.items() if k != "key"},
        }


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def entries() -> list[Entry]:
    """Every entry, finished or partial, oldest first."""
    base = root()
    if not base.is_dir():
        return []
    out: list[Entry] = []
    for path in sorted(base.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        if path.name.endswith(PARTIAL):
            key = path.name[: -len(PARTIAL)]
            try:
                state = json.loads((path / DONE).read_text())
                progress = f"{len(state['done'])}/{state['n_chunks']} chunks"
            except (OSError, ValueError, KeyError):
                progress = "0 chunks"
            try:
                meta = json.loads((path / META).read_text())
            except (OSError, ValueError):
                meta = {}
            out.append(Entry(key, path, False, meta, _size(path), progress))
            continue
        try:
            meta = json.loads((path / META).read_text())
        except (OSError, ValueError):
            meta = {}
        out.append(Entry(path.name, path, bool(meta), meta, _size(path)))
    return sorted(out, key=lambda e: (str(e.meta.get("created", "")), e.key))


def clear(keep: Callable[[Entry], bool] = lambda e: False) -> tuple[int, int]:
    """Remove every entry for which ``keep`` is false; returns (entries, bytes) removed."""
    removed = freed = 0
    for entry in entries():
        if keep(entry):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        (entry.path.parent / f".{entry.key}.lock").unlink(missing_ok=True)
        removed += 1
        freed += entry.nbytes
    return removed, freed


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as .npy atomically (temporary sibling, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
