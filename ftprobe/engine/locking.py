"""A lock file that works across processes and machines sharing a (network) file system.

``fcntl.flock`` is not reliable on NFS and similar shared file systems, so the lock is a file
created with ``O_CREAT | O_EXCL`` (atomic on every file system ftprobe targets), holding the
owner's host, pid and a random token. The owner refreshes the file's mtime (a heartbeat) from a
background thread; a lock whose heartbeat is older than ``stale_after`` seconds, or whose owner
is a dead process on this host, is stale and is broken by renaming it away (only one of several
breakers wins the rename) before trying again.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ftprobe.progress import log

HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0
POLL_S = 0.5


def _owner(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _dead_local_owner(owner: dict | None) -> bool:
    """True when the lock's owner is a process of this host that no longer runs."""
    if not owner or owner.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False


def _is_stale(path: Path, stale_after: float) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > stale_after or _dead_local_owner(_owner(path))


def _break(path: Path) -> None:
    """Remove a stale lock; of several processes breaking it at once, one rename wins."""
    grave = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return
    grave.unlink(missing_ok=True)


def try_acquire(path: Path) -> str | None:
    """Create the lock file exclusively; its token, or None when someone holds it."""
    token = uuid.uuid4().hex
    body = {"host": socket.gethostname(), "pid": os.getpid(), "token": token, "time": time.time()}
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return token


def _heartbeat(path: Path, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        try:
            os.utime(path)
        except FileNotFoundError:  # broken by someone who thought it stale: nothing to refresh
            return


def holder(path: Path, stale_after: float = STALE_AFTER_S) -> dict | None:
    """The live holder of the lock file ``path`` (host, pid, token), or None when it is free or
    stale."""
    path = Path(path)
    if not path.exists() or _is_stale(path, stale_after):
        return None
    return _owner(path) or {}


def release(path: Path, token: str) -> None:
    """Remove the lock file ``path`` if ``token`` still holds it."""
    if (_owner(Path(path)) or {}).get("token") == token:
        Path(path).unlink(missing_ok=True)


def try_lock(path: Path, stale_after: float = STALE_AFTER_S) -> str | None:
    """Take the lock without waiting (breaking a stale one); its token, or None when held."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while (token := try_acquire(path)) is None:
        if not _is_stale(path, stale_after):
            return None
        _break(path)
    return token


@contextmanager
def file_lock(
    path: Path,
    *,
    stale_after: float = STALE_AFTER_S,
    heartbeat: float = HEARTBEAT_S,
    poll: float = POLL_S,
    what: str = "",
) -> Iterator[None]:
    """Hold the lock file ``path`` for the ``with`` block (waiting while someone else holds it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while (token := try_acquire(path)) is None:
        if _is_stale(path, stale_after):
            log(f"breaking stale lock {path}")
            _break(path)
            continue
        if not waited:
            owner = _owner(path) or {}
            log(f"waiting for {what or path} (held by {owner.get('host')}:{owner.get('pid')})")
            waited = True
        time.sleep(poll)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, stop, heartbeat), daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        release(path, token)
