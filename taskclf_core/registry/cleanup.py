"""Clean-up of interrupted writes: ``.tmp-*`` leftovers whose writer process is dead."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from taskclf_core.fs.procs import process_alive
from taskclf_core.paths import Home

#: ``atomic`` leftovers: ``.tmp-<name>.<pid>.<8 hex>``.
_TEMP_NAME = re.compile(r"\A\.tmp-.+\.(?P<pid>[0-9]{1,10})\.[0-9a-f]{8}\Z")


def cleanup_stale_temp(home: Home, *, min_age_seconds: float = 60.0) -> list[Path]:
    """Remove ``.tmp-*`` leftovers of interrupted writes whose writer process is dead.

    Best effort: a leftover that cannot be removed (read-only disk) is left for next time.
    The writer's pid is in the name (``.tmp-<name>.<pid>.<rand>``). A leftover is removed
    only when that pid is not running and it is older than ``min_age_seconds`` (a guard
    for homes shared between machines, where another machine's pid means nothing here).

    Args:
        home: The registry home.
        min_age_seconds: Minimum age (by modification time) of a leftover to remove.

    Returns:
        The paths removed.
    """
    removed: list[Path] = []
    now = time.time()
    for folder in (home.models_dir, home.runs_dir):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = _TEMP_NAME.match(entry.name)
            if not match or process_alive(int(match["pid"])):
                continue
            try:
                if now - entry.lstat().st_mtime < min_age_seconds:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            except OSError:
                continue  # gone already, or a read-only disk: listings ignore it anyway
            removed.append(entry)
    return removed
