"""Errors that reach the user as one line and exit code 2 (no traceback)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FtprobeError(Exception):
    """A user-facing error: the message names the bad thing and the fix."""

    exit_code = 2


class UnknownNameError(FtprobeError):
    """A task, encoder or probe name that no plugin registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = ""):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1)
        msg = f"unknown {kind} {name!r}"
        if close:
            msg += f" (did you mean {close[0]!r}?)"
        msg += f"; known {kind}s: {', '.join(known) if known else '(none loaded)'}"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg)
        self.kind, self.name, self.known = kind, name, known


class DataError(FtprobeError):
    """Missing or malformed data; names the file (and line where there is one)."""

    def __init__(self, message: str, path: object | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path, self.line = path, line
