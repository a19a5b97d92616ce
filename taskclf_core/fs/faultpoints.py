"""Named fault points for the crash tests: no-ops unless an environment variable names one.

The registry calls :func:`faultpoint` at the instants where a crash matters (a temporary
file written but not yet renamed, a history entry appended but the pointer not yet
moved, ...). Normally that is one dictionary lookup. The crash tests set:

* ``TASKCLF_FAULTPOINT=<name>`` or ``<name>#<n>``: the point (and which hit of it, default
  the first) that fires;
* ``TASKCLF_FAULTPOINT_ACTION``: ``kill`` (default: SIGKILL this process, as a power cut
  or an OOM kill would) or ``pause:<folder>`` (create ``<folder>/<name>.reached`` and wait
  until ``<folder>/<name>.release`` exists, so a test can act mid-operation);
* ``TASKCLF_FAULTPOINT_RECORD=<file>``: append every point reached to ``<file>``, one name a
  line, so a test can list an operation's points and then kill it at each of them.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

FAULTPOINT_ENV = "TASKCLF_FAULTPOINT"
RECORD_ENV = "TASKCLF_FAULTPOINT_RECORD"
ACTION_ENV = "TASKCLF_FAULTPOINT_ACTION"
#: Longest a paused process waits for its release file.
PAUSE_LIMIT_SECONDS = 120.0

_hits: dict[str, int] = {}


def faultpoint(name: str) -> None:
    """Fire the fault named by ``TASKCLF_FAULTPOINT`` if it is ``name``; else do nothing."""
    record = os.environ.get(RECORD_ENV)
    if record:
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")
    spec = os.environ.get(FAULTPOINT_ENV)
    if not spec:
        return
    target, _, nth = spec.partition("#")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != (int(nth) if nth.isdigit() else 1):
        return
    action = os.environ.get(ACTION_ENV, "kill")
    if action.startswith("pause:"):
        folder = Path(action.removeprefix("pause:"))
        (folder / f"{name}.reached").write_text(str(os.getpid()), encoding="utf-8")
        deadline = time.monotonic() + PAUSE_LIMIT_SECONDS
        while not (folder / f"{name}.release").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        return
    os.kill(os.getpid(), signal.SIGKILL)
