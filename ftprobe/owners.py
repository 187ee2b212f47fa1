"""Which process owns a temporary file: its id and start time, and whether it still runs.

A process id alone can be reused after a reboot or a long time; the pair (pid, start time)
names one process. The start time is the kernel's (``/proc/PID/stat``, clock ticks since boot)
where there is one, else 0 (then only the id is checked).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache

TAG = re.compile(r"(?P<pid>\d+)-(?P<start>\d+)")


@dataclass(frozen=True)
class Owner:
    pid: int
    start: int

    @property
    def tag(self) -> str:
        """``PID-START``, as temporary names carry it."""
        return f"{self.pid}-{self.start}"

    def alive(self) -> bool:
        """Whether this very process still runs (a recycled id with another start is not it)."""
        if self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process: it exists
            pass
        now = start_time(self.pid)
        if now is None:  # gone since the signal check
            return False
        return self.start == 0 or now in (0, self.start)

    @classmethod
    def parse(cls, tag: str) -> Owner | None:
        m = TAG.fullmatch(tag)
        return cls(int(m["pid"]), int(m["start"])) if m else None


def start_time(pid: int) -> int | None:
    """The kernel start time of ``pid`` (0 where unknown, None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else 0
    except OSError:
        return 0
    # comm (field 2) may hold spaces and parentheses: fields after the last ')' are plain.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 of the line = index 19 after "pid (comm)"
    except (IndexError, ValueError):
        return 0


@cache
def _me(pid: int) -> Owner:
    return Owner(pid, start_time(pid) or 0)


def me() -> Owner:
    """This process (recomputed after a fork)."""
    return _me(os.getpid())
