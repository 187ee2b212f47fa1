"""Atomic writes: a reader sees the old content or the new, never half of either.

Temporaries live beside their target as ``.NAME.PID-START.XXXX.tmp`` (and a replaced folder
briefly as ``.NAME.PID-START.old``): they name the process that made them, so a later write
into the same folder removes those of a process that is gone (killed with ``kill -9``, say)
and never touches those of one that still runs. File-system refusals (a path under a file,
read-only, full) become one-line :class:`ftprobe.fsguard.StorageError` s, and a failed write
leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ftprobe import fsguard, owners

LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<owner>\d+-\d+)\.(?:[A-Za-z0-9_]+\.tmp|old)$")


def _prefix(path: Path) -> str:
    return f".{path.name}.{owners.me().tag}."


def _mkdir(folder: Path, target: Path) -> None:
    with fsguard.guard(target):
        folder.mkdir(parents=True, exist_ok=True)


def write_with(path: Path, fill: Callable[[IO[bytes]], None], size: int | None = None) -> None:
    """Write ``path`` through ``fill(file)`` into a temporary sibling, then rename it into
    place. ``size`` (bytes, when known) is checked against the free space first."""
    path = Path(path)
    _mkdir(path.parent, path)
    sweep(path.parent, only=path.name)
    if size is not None:
        fsguard.check_space(path.parent, size)
    tmp = None
    try:
        with fsguard.guard(path):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_prefix(path), suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fill(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    write_with(path, lambda fh: fh.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@contextmanager
def directory(final: Path) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it into place only on success.

    An existing ``final`` is replaced whole. On error the temporary directory is removed and
    ``final`` is left as it was.
    """
    final = Path(final)
    _mkdir(final.parent, final)
    sweep(final.parent)
    with fsguard.guard(final):
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=_prefix(final), suffix=".tmp"))
    try:
        with fsguard.guard(final):
            yield tmp
    except fsguard.StorageError as exc:  # name the folder the user asked for, not ours
        _remove_quietly(tmp)
        raise fsguard.StorageError(
            str(exc).replace(str(tmp), str(final)), final, exc.errno
        ) from None
    except BaseException:
        _remove_quietly(tmp)
        raise
    old = final.with_name(f".{final.name}.{owners.me().tag}.old")
    try:
        with fsguard.guard(final):
            if final.exists():
                os.replace(final, old)
            os.replace(tmp, final)
    except BaseException:
        if old.exists() and not final.exists():
            os.replace(old, final)
        _remove_quietly(tmp)
        raise
    _remove_quietly(old)


def _remove_quietly(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def leftovers(folder: Path, only: str | None = None) -> list[tuple[Path, owners.Owner]]:
    """The temporaries in ``folder`` (of target ``only``, else all) and the process owning each."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        m = LEFTOVER.match(name)
        if m is None or (only is not None and m["name"] != only):
            continue
        owner = owners.Owner.parse(m["owner"])
        if owner is not None:
            out.append((Path(folder) / name, owner))
    return out


def sweep(folder: Path, only: str | None = None, say: Callable[[str], None] | None = None) -> int:
    """Remove the temporaries in ``folder`` whose process is gone (and say so, on stderr
    unless ``say`` is given); a replaced folder whose new version never arrived is put back.
    Those of running processes are left alone. Returns how many were removed or restored."""
    say = say or _say
    done = 0
    for path, owner in leftovers(folder, only):
        if owner.alive():
            continue
        m = LEFTOVER.match(path.name)
        assert m is not None
        final = path.with_name(m["name"])
        try:
            if path.name.endswith(".old") and not os.path.lexists(final):
                os.replace(path, final)
                say(f"restored {final} (ftprobe process {owner.pid} died while replacing it)")
            else:
                _remove_quietly(path)
                say(f"removed {path}, left by ftprobe process {owner.pid} (no longer running)")
            done += 1
        except OSError as exc:  # a read-only folder: report, do not fail the new write here
            say(f"could not remove {path} left by process {owner.pid}: {exc.strerror}")
    return done


def _say(message: str) -> None:
    print(f"ftprobe: {message}", file=sys.stderr)
