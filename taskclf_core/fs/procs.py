"""Whether a process is alive: the one check shared by job locks and temp-file clean-up."""

from __future__ import annotations

import os
from pathlib import Path


def process_start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, from ``/proc``), or None.

    None when the process does not exist, is a zombie, or ``/proc`` is not available.
    Together with the pid it identifies a process even after the pid is reused.
    """
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def process_alive(pid: int | None, pid_start: int | None = None) -> bool:
    """Whether ``pid`` is a live process (and still the one that started at ``pid_start``).

    Args:
        pid: The process id (None or <= 0: not alive).
        pid_start: Its start ticks (see :func:`process_start_ticks`), when known; a
            process with the same pid but another start time is a reused pid.

    Returns:
        True when the process runs (or exists but belongs to another user).
    """
    if pid is None or pid <= 0:
        return False
    if Path("/proc").is_dir():
        ticks = process_start_ticks(pid)
        if ticks is None:
            return False
        return pid_start is None or ticks == pid_start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True
