"""File-system failures as one-line errors: the one place that turns the ``OSError`` of an
output, export or cache write (a path under a file, a read-only or forbidden folder, a full
disk, a quota, a file-size limit) into a :class:`StorageError` naming the path and the problem,
and the free-space check made before large writes."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ftprobe.errors import FtprobeError

NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
HANDLED = NO_SPACE | {
    errno.EEXIST,
    errno.ENOTDIR,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EISDIR,
}
SPACE_MARGIN = 64 << 10  # bytes kept free beyond what a write needs


class StorageError(FtprobeError):
    """A write the file system refused; the message names the path and what to do."""

    def __init__(self, message: str, path: Path | str | None = None, code: int | None = None):
        super().__init__(message)
        self.path, self.errno = path, code


def human(n: float) -> str:
    """Bytes for a person: ``512 B``, ``1.5 MB``, ``2.0 GB``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _blocking_file(path: Path) -> Path | None:
    """The nearest ancestor of ``path`` (itself included) that exists but is not a folder."""
    for p in [path, *path.parents]:
        if os.path.lexists(p):
            return p if not p.is_dir() else None
    return None


def _existing_ancestor(path: Path) -> Path:
    for p in [path, *path.parents]:
        if p.exists():
            return p
    return Path("/")


def describe(exc: OSError, path: Path | str | None = None, what: str = "write") -> str:
    """One line: ``cannot WHAT PATH: PROBLEM; FIX``."""
    where = Path(path if path is not None else exc.filename or "?")
    code = exc.errno
    if code in (errno.EEXIST, errno.ENOTDIR):
        blocker = _blocking_file(where) or _blocking_file(Path(exc.filename or where))
        if blocker is not None and blocker != where:
            problem = f"{blocker} is a file, not a folder; remove it or choose another path"
        elif blocker is not None:
            problem = "a file of that name is in the way; remove it or choose another path"
        else:
            problem = f"{exc.strerror}; choose another path"
    elif code == errno.EISDIR:
        problem = "it is a folder, not a file; choose another path"
    elif code == errno.EROFS:
        problem = "the file system is read-only; choose a writable folder"
    elif code in (errno.EACCES, errno.EPERM):
        problem = "permission denied; choose a folder you can write to or fix its permissions"
    elif code in NO_SPACE:
        usage = disk_free(where) if code != errno.EFBIG else None
        free = f" ({human(usage)} free)" if usage is not None else ""
        kind = {
            errno.ENOSPC: "no space left on the device",
            errno.EDQUOT: "disk quota exceeded",
            errno.EFBIG: "file too large (a file-size limit was reached)",
        }[code]
        fix = "raise the limit (ulimit -f)" if code == errno.EFBIG else "free some space"
        problem = f"{kind}{free}; {fix} or choose another folder"
    else:
        problem = exc.strerror or str(exc)
    return f"cannot {what} {where}: {problem}"


@contextmanager
def guard(path: Path | str, what: str = "write") -> Iterator[None]:
    """Turn a file-system refusal inside the block into a one-line :class:`StorageError`
    (other ``OSError``s pass through unchanged)."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, StorageError) or exc.errno not in HANDLED:
            raise
        raise StorageError(describe(exc, path, what), path, exc.errno) from None


def disk_free(path: Path | str) -> int | None:
    """Free bytes on the file system holding ``path`` (or its nearest existing ancestor)."""
    try:
        return shutil.disk_usage(_existing_ancestor(Path(path))).free
    except OSError:
        return None


def mount_point(path: Path | str) -> Path:
    """The folder the file system holding ``path`` (or its nearest existing ancestor) is
    mounted on."""
    here = _existing_ancestor(Path(path)).resolve()
    try:
        dev = here.stat().st_dev
        while here.parent != here and here.parent.stat().st_dev == dev:
            here = here.parent
    except OSError:
        pass
    return here


def check_space(path: Path | str, needed: int, what: str = "write") -> None:
    """Fail in one line, before writing, when ``needed`` bytes do not fit where ``path`` goes."""
    free = disk_free(path)
    if free is not None and needed + SPACE_MARGIN > free:
        raise StorageError(
            f"cannot {what} {path}: it needs {human(needed)} but only {human(free)} is free "
            f"on {mount_point(path)}; free some space or choose another folder",
            path,
            errno.ENOSPC,
        )


def remove_tree(path: Path | str, what: str = "remove") -> None:
    """``shutil.rmtree`` that fails in one line (read-only, permission) instead of silently
    leaving the tree; a missing path is fine."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    with guard(path, what):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def check_writable(path: Path | str, what: str = "write") -> None:
    """Fail now, in one line, when ``path`` (a folder to create or fill later) cannot be
    written: it or a parent is a file, or the nearest existing folder is read-only. Creates
    nothing; meant for output options, before hours of work."""
    path = Path(path)
    blocker = _blocking_file(path)
    if blocker is not None:
        where = (
            "a file of that name is in the way"
            if blocker == path
            else (f"{blocker} is a file, not a folder")
        )
        raise StorageError(
            f"cannot {what} {path}: {where}; remove it or choose another path", path, errno.ENOTDIR
        )
    folder = _existing_ancestor(path)
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    if read_only:
        raise StorageError(
            f"cannot {what} {path}: the file system is read-only; choose a writable folder",
            path,
            errno.EROFS,
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(
            f"cannot {what} {path}: permission denied on {folder}; choose a folder you can "
            "write to or fix its permissions",
            path,
            errno.EACCES,
        )
