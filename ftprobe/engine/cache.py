"""The vector cache: one directory per key under ``$FTPROBE_CACHE_DIR/vectors``.

A finished entry ``<key>/`` holds ``vectors.npy`` (float32, memory-mappable) and ``meta.json``,
which records a blake2b checksum of every block of ``vectors.npy``; a read verifies them
(once per process and file) and a damaged entry is reported in one line and recomputed, never
used. An entry is built in ``<key>.partial/`` chunk by chunk: its space is reserved first
(``posix_fallocate``: a full disk is a one-line error, never a SIGBUS in a memory-mapped
write), after each chunk the array is flushed and ``done.json`` (the finished chunk ids) is
replaced atomically, so a killed run resumes at the first unfinished chunk; the finished
directory appears by one atomic rename, so no reader ever sees half an entry. A lock file
(``.<key>.lock``, created exclusively with a heartbeat: engine/locking.py, which also works on
network file systems) marks the entry a live process is building: two processes never
build the same entry at once, and ``clear`` leaves it alone unless forced.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe import atomic, fsguard, owners
from ftprobe.engine import locking
from ftprobe.errors import FtprobeError
from ftprobe.progress import warn
from ftprobe.settings import current

VECTORS = "vectors.npy"
META = "meta.json"
DONE = "done.json"
OWNER = "owner.json"
DAMAGED = "damaged.json"
PARTIAL = ".partial"
CHECKSUM = "blake2b-128"
BLOCK_BYTES = 8 << 20  # one checksum per 8 MiB of vectors.npy

_verified: dict[str, tuple[int, int, int]] = {}  # path -> (inode, size, mtime) checked


class EntryVanished(FtprobeError):
    """The partial entry this process was writing was removed under it."""


def root() -> Path:
    return current().cache_dir / "vectors"


def make_key(parts: dict[str, Any]) -> str:
    """A stable key from the parts that decide the vectors (order-independent)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


# ------------------------------------------------------------------------- checksums
def checksums(path: Path) -> dict[str, Any]:
    """blake2b of each ``BLOCK_BYTES`` block of the file (read through the file API)."""
    blocks: list[str] = []
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK_BYTES):
            blocks.append(hashlib.blake2b(block, digest_size=16).hexdigest())
            size += len(block)
    return {"algorithm": CHECKSUM, "block_bytes": BLOCK_BYTES, "bytes": size, "blocks": blocks}


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def structural_problem(entry: Path) -> str | None:
    """What is wrong with a finished entry that is cheap to see (files, sizes, marks)."""
    try:
        meta = json.loads((entry / META).read_text())
    except FileNotFoundError:
        return f"{META} is missing"
    except (OSError, ValueError) as exc:
        return f"{META} cannot be read ({exc})"
    if (entry / DAMAGED).exists():
        try:
            return json.loads((entry / DAMAGED).read_text())["problem"]
        except (OSError, ValueError, KeyError, TypeError):
            return "marked damaged"
    sums = meta.get("checksums") if isinstance(meta, dict) else None
    if not isinstance(sums, dict) or sums.get("algorithm") != CHECKSUM:
        return "it has no checksums (written by an older ftprobe)"
    try:
        size = (entry / VECTORS).stat().st_size
    except OSError:
        return f"{VECTORS} is missing"
    if size != sums.get("bytes"):
        return f"{VECTORS} has {size} bytes, its checksums cover {sums.get('bytes')}"
    return None


def problem(entry: Path, full: bool = True) -> str | None:
    """Why the finished entry cannot be used, or None. ``full`` reads and checks every block
    (skipped when this process already verified the same unchanged file)."""
    found = structural_problem(entry)
    if found is not None or not full:
        return found
    vectors = entry / VECTORS
    stamp = _stamp(vectors)
    if _verified.get(str(vectors)) == stamp:
        return None
    sums = json.loads((entry / META).read_text())["checksums"]
    now = checksums(vectors)
    if now["block_bytes"] != sums["block_bytes"] or len(now["blocks"]) != len(sums["blocks"]):
        return f"{VECTORS} does not match its recorded checksums"
    bad = [i for i, (a, b) in enumerate(zip(now["blocks"], sums["blocks"], strict=True)) if a != b]
    if bad:
        n = len(sums["blocks"])
        where = ", ".join(str(i + 1) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        if len(bad) == 1:
            return f"{VECTORS} block {where} of {n} fails its checksum"
        return f"{VECTORS} blocks {where} of {n} fail their checksums"
    _verified[str(vectors)] = stamp
    return None


def mark_damaged(entry: Path, why: str) -> None:
    """Record ``why`` in the entry so that ``cache ls`` shows it (best effort)."""
    try:
        atomic.write_json(entry / DAMAGED, {"problem": why})
    except (OSError, FtprobeError):
        pass


def _describe(entry: Path) -> str:
    try:
        meta = json.loads((entry / META).read_text())
        return f" ({meta.get('task', '?')}/{meta.get('split', '?')}, {meta.get('encoder_name')})"
    except (OSError, ValueError, AttributeError):
        return ""


def load(key: str, shape: tuple[int, ...] | None = None, report: bool = True) -> np.ndarray | None:
    """The finished, verified entry as a read-only memmap, or None (missing, damaged, or not
    the expected shape). A damaged entry is reported on stderr and marked, never returned."""
    entry = root() / key
    if not entry.is_dir():
        return None
    why = problem(entry)
    arr = None
    if why is None:
        try:
            arr = np.load(entry / VECTORS, mmap_mode="r")
        except (OSError, ValueError) as exc:
            why = f"{VECTORS} cannot be read ({exc})"
    if arr is not None and (
        arr.dtype != np.float32 or (shape is not None and tuple(arr.shape) != tuple(shape))
    ):
        why = f"{VECTORS} has shape {tuple(arr.shape)} {arr.dtype}, expected {shape} float32"
        arr = None
    if why is not None:
        if report:
            warn(f"cache entry {key}{_describe(entry)} is damaged: {why}; recomputing it")
        mark_damaged(entry, why)
        return None
    return arr


# ------------------------------------------------------------------------- building
@dataclass
class Builder:
    """A partial entry being filled: write chunks with :meth:`put`, then :meth:`finish`."""

    key: str
    path: Path
    array: np.ndarray  # np.memmap opened r+ over space reserved with posix_fallocate
    done: set[int]
    n_chunks: int
    inode: int = 0

    def present(self) -> bool:
        """Whether the partial entry on disk is still the one this builder writes."""
        try:
            return (self.path / VECTORS).stat().st_ino == self.inode
        except OSError:
            return False

    def _check_present(self) -> None:
        if not self.present():
            raise EntryVanished(
                f"cache entry {self.key} was removed while this process was writing it "
                f"(ftprobe cache clear --force?); nothing of it was kept: run the command again"
            )

    def put(self, chunk: int, columns: np.ndarray, values: np.ndarray) -> None:
        """Store ``values`` (layers, len(columns), dim) at example ``columns``; mark done."""
        self._check_present()
        self.array[:, columns, :] = values
        self.array.flush()
        self.done.add(chunk)
        self._check_present()
        atomic.write_json(self.path / DONE, {"n_chunks": self.n_chunks, "done": sorted(self.done)})

    def finish(self, meta: dict[str, Any]) -> np.ndarray:
        missing = set(range(self.n_chunks)) - self.done
        if missing:
            raise RuntimeError(f"cache entry {self.key}: chunks {sorted(missing)} not written")
        self._check_present()
        self.array.flush()
        del self.array
        vectors = self.path / VECTORS
        with fsguard.guard(vectors, "read"):
            sums = checksums(vectors)
        created = time.strftime("%Y-%m-%dT%H:%M:%S")
        meta = {**meta, "key": self.key, "created": created, "checksums": sums}
        atomic.write_json(self.path / META, meta)
        for name in (DONE, OWNER):
            (self.path / name).unlink(missing_ok=True)
        self._check_present()
        final = root() / self.key
        fsguard.remove_tree(final)  # an older, damaged or unreadable entry
        with fsguard.guard(final):
            os.replace(self.path, final)
        _verified[str(final / VECTORS)] = _stamp(final / VECTORS)
        out = load(self.key)
        if out is None:
            raise FtprobeError(
                f"cache entry {self.key} could not be read back after writing it in {final}; "
                "check the cache folder's disk and run the command again"
            )
        return out


def _lock_path(key: str) -> Path:
    return root() / f".{key}.lock"


@contextmanager
def build(
    key: str, shape: tuple[int, int, int], n_chunks: int, meta: dict[str, Any] | None = None
) -> Iterator[Builder | np.ndarray]:
    """Lock ``key`` and yield a :class:`Builder` (resuming a partial entry of the same shape),
    or the finished array when another process finished it while we waited for the lock.
    ``meta`` describes the entry in ``cache ls`` while it is partial.

    An error inside the block removes the partial entry, unless it holds finished chunks and
    the error is not a user error (an interrupted or crashed run resumes from them).
    """
    base = root()
    with fsguard.guard(base, "write the cache in"):
        base.mkdir(parents=True, exist_ok=True)
    with locking.file_lock(_lock_path(key), what=f"another process building cache entry {key}"):
        builder: Builder | None = None
        try:
            ready = load(key, shape, report=False)
            if ready is not None:
                yield ready
                return
            builder = _open_partial(key, shape, n_chunks, meta or {})
            yield builder
        except BaseException as exc:
            if builder is None:
                _discard(root() / (key + PARTIAL), exc, fresh=True)
            elif builder.present() and (isinstance(exc, FtprobeError) or not builder.done):
                _discard(builder.path, exc, fresh=False)
            raise


def _discard(path: Path, exc: BaseException, fresh: bool) -> None:
    """Remove a partial entry an error interrupted (only an empty one when ``fresh``)."""
    if not path.is_dir():
        return
    if fresh:
        try:
            if json.loads((path / DONE).read_text()).get("done"):
                return  # finished chunks of an earlier run: keep them for a resume
        except (OSError, ValueError, AttributeError):
            pass
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _reserve(path: Path, size: int) -> None:
    """Allocate ``size`` bytes of ``path`` on disk now, so that writing them through a memory
    map cannot fault later; a full disk is a one-line error here."""
    with fsguard.guard(path):
        fd = os.open(path, os.O_RDWR)
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, size)
            else:  # pragma: no cover - no fallocate: write the zeros through the file API
                have = os.fstat(fd).st_size
                os.lseek(fd, have, os.SEEK_SET)
                zeros = bytes(1 << 20)
                while have < size:
                    have += os.write(fd, zeros[: min(len(zeros), size - have)])
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_vectors(path: Path, shape: tuple[int, int, int]) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32))}
    header |= {"fortran_order": False, "shape": shape}
    with fsguard.guard(path), open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        start = fh.tell()
    size = start + int(np.prod(shape)) * 4
    fsguard.check_space(path.parent, size, "write the cache entry")
    _reserve(path, size)


def _open_partial(
    key: str, shape: tuple[int, int, int], n_chunks: int, meta: dict[str, Any]
) -> Builder:
    path = root() / (key + PARTIAL)
    with fsguard.guard(path):
        path.mkdir(parents=True, exist_ok=True)
    atomic.sweep(path)
    me = owners.me()
    atomic.write_json(path / OWNER, {"pid": me.pid, "start": me.start})
    atomic.write_json(path / META, {**meta, "key": key})
    vectors = path / VECTORS
    done: set[int] = set()
    array = None
    try:
        state = json.loads((path / DONE).read_text())
        array = np.lib.format.open_memmap(vectors, mode="r")
        if state["n_chunks"] == n_chunks and tuple(array.shape) == shape:
            done = {int(c) for c in state["done"] if 0 <= int(c) < n_chunks}
        else:
            array = None
    except (OSError, ValueError, KeyError, TypeError):
        array = None
    if array is None or array.dtype != np.float32:
        (path / DONE).unlink(missing_ok=True)
        vectors.unlink(missing_ok=True)
        _create_vectors(vectors, shape)
        done = set()
    else:
        del array
        _reserve(vectors, vectors.stat().st_size)  # holes of an older sparse file
    array = np.lib.format.open_memmap(vectors, mode="r+")
    return Builder(key, path, array, done, n_chunks, vectors.stat().st_ino)


# ------------------------------------------------------------------------- listing
@dataclass
class Entry:
    key: str
    path: Path
    complete: bool
    meta: dict[str, Any]
    nbytes: int
    progress: str = ""  # "3/10 chunks" for a partial entry
    damaged: str | None = None  # why a finished entry cannot be used
    owner: int | None = None  # the pid building a partial entry, while it runs
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        if self.complete:
            return "complete"
        if self.damaged is not None:
            return f"damaged: {self.damaged}"
        if self.owner is not None:
            return f"building (pid {self.owner}, {self.progress})"
        return f"partial ({self.progress}, resumable)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "complete": self.complete,
            "state": self.state,
            "progress": self.progress,
            "damaged": self.damaged,
            "owner_pid": self.owner,
            "bytes": self.nbytes,
            "path": str(self.path),
            **{k: v for k, v in self.meta.items() if k not in ("key", "checksums")},
        }


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def locked_by(key: str) -> int | None:
    """The pid of the live process building ``key`` (its lock is held), else None (-1 when the
    holder cannot be read)."""
    owner = locking.holder(_lock_path(key))
    if owner is None:
        return None
    try:
        return int(owner["pid"])
    except (KeyError, ValueError, TypeError):
        return -1


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def entries(say: Callable[[str], None] | None = None) -> list[Entry]:
    """Every entry, finished or partial, oldest first. Leftovers of dead processes are removed
    first (temporaries, and partial entries without one finished chunk), saying so."""
    base = root()
    if not base.is_dir():
        return []
    sweep(say)
    out: list[Entry] = []
    for path in sorted(base.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        if path.name.endswith(PARTIAL):
            key = path.name[: -len(PARTIAL)]
            state = _read_json(path / DONE)
            try:
                progress = f"{len(state['done'])}/{state['n_chunks']} chunks"
            except (KeyError, TypeError):
                progress = "0 chunks"
            meta = _read_json(path / META)
            out.append(Entry(key, path, False, meta, _size(path), progress, None, locked_by(key)))
            continue
        meta = _read_json(path / META)
        why = structural_problem(path)
        out.append(Entry(path.name, path, why is None, meta, _size(path), damaged=why))
    return sorted(out, key=lambda e: (str(e.meta.get("created", "")), e.key))


def sweep(say: Callable[[str], None] | None = None) -> int:
    """Remove what dead processes left in the cache: temporary files, and partial entries
    with no finished chunk (those with some are kept: the next run resumes them)."""
    say = say or warn
    base = root()
    n = atomic.sweep(base, say=say)
    for path in sorted(base.glob("*" + PARTIAL)):
        key = path.name[: -len(PARTIAL)]
        if not path.is_dir() or locked_by(key) is not None:
            continue
        n += atomic.sweep(path, say=say)
        if _read_json(path / DONE).get("done"):
            continue
        owner = _read_json(path / OWNER).get("pid", "?")
        try:
            fsguard.remove_tree(path)
        except FtprobeError as exc:
            say(str(exc))
            continue
        say(f"removed the empty partial cache entry {key} left by process {owner} (not running)")
        n += 1
    return n


def clear(
    keep: Callable[[Entry], bool] = lambda e: False, force: bool = False
) -> tuple[int, int, list[Entry]]:
    """Remove every entry for which ``keep`` is false; returns (entries, bytes) removed and the
    entries skipped because a running process is building them (removed too when ``force``).
    A folder that cannot be changed (read-only, permissions) is a one-line error."""
    removed = freed = 0
    skipped: list[Entry] = []
    for entry in entries():
        if keep(entry):
            continue
        lock_path = _lock_path(entry.key)
        with fsguard.guard(lock_path, "remove"):
            token = locking.try_lock(lock_path)
        if token is None and not force:
            skipped.append(entry)
            continue
        try:
            fsguard.remove_tree(entry.path)
        finally:
            if token is not None:
                locking.release(lock_path, token)
        _verified.pop(str(entry.path / VECTORS), None)
        removed += 1
        freed += entry.nbytes
    return removed, freed, skipped


def verify(say: Callable[[Entry, str | None], None] | None = None) -> list[Entry]:
    """Read every finished entry and check it against its checksums; damaged ones are marked
    (``cache ls`` shows them; the next use recomputes them). Returns the damaged entries."""
    bad: list[Entry] = []
    for entry in entries():
        if entry.path.name.endswith(PARTIAL):
            continue
        _verified.pop(str(entry.path / VECTORS), None)
        why = entry.damaged or problem(entry.path)
        if why is not None:
            mark_damaged(entry.path, why)
            entry.complete, entry.damaged = False, why
            bad.append(entry)
        if say is not None:
            say(entry, why)
    return bad


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as .npy atomically (temporary sibling, then rename), checking the free
    space first."""
    array = np.ascontiguousarray(array)

    def fill(fh: Any) -> None:  # through the file API: a full disk raises ENOSPC (numpy's own
        # writer reports a short write as an OSError without an errno)
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(array))
        fh.write(memoryview(array.reshape(-1)).cast("B"))

    atomic.write_with(Path(path), fill, size=array.nbytes + 4096)
