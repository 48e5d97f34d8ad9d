"""What Linux's /proc tells of a running process: resident memory, open files, CPU time.

``pid`` is a process id, or "self" for the caller. The readers return None once the process is
gone (or on a system without /proc), so a sampler can tell a dead process from a small one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int | str = "self") -> int | None:
    """The resident set size (VmRSS) in bytes."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def open_fds(pid: int | str = "self") -> int | None:
    """How many file descriptors the process holds open."""
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return None


def cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process (all its threads, live and finished), in seconds."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces: the fields after it start behind the last ")".
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
