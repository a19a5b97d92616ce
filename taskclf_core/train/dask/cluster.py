"""Connecting to a Dask cluster, and cluster failures as one clear :class:`ClusterError`.

``scheduler: local`` starts a ``distributed.LocalCluster`` here (one single-threaded
worker process per core, OpenMP told not to spin); an address connects to a running
scheduler. The settings the recipe found necessary are set before the scheduler starts:
``no-workers-timeout`` (a task pinned to a lost worker fails instead of waiting forever)
and passive OpenMP on the workers.

Every wait on a scheduler is bounded. ``connect_timeout_s`` covers reaching it, Dask's
handshake and an ``identity`` reply (:func:`scheduler_problem`: a listener that accepts and
never answers, or answers in another protocol, fails here with one line), the client's
start and a first worker. During the run, :class:`SchedulerWatch` asks the scheduler for
its identity every few seconds; ``call_timeout_s`` without a reply closes the client, which
ends the call the run waits in, and the run fails naming the silence.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from taskclf_core.errors import ClusterError, TaskclfError
from taskclf_core.train.dask.config import LOCAL_SCHEDULER, ComputeConfig

_NOT_SAVED = "no run was saved and the registry was not touched"


def dask_settings(compute: ComputeConfig) -> dict[str, Any]:
    """The dask config a run needs (a remote scheduler must be started with the first)."""
    return {
        "distributed.scheduler.no-workers-timeout": f"{compute.no_workers_timeout_s}s",
        "distributed.nanny.pre-spawn-environ.OMP_WAIT_POLICY": "PASSIVE",
        "distributed.comm.timeouts.connect": f"{compute.connect_timeout_s}s",
    }


@contextmanager
def quiet_distributed() -> Iterator[None]:
    """Keep distributed's own log lines (a worker restarting...) off the CLI's stderr."""
    loggers = [logging.getLogger(n) for n in ("distributed", "distributed.nanny", "distributed.worker",
                                               "distributed.scheduler", "distributed.client")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def mute_stdout() -> None:
    """Point this worker's stdout at /dev/null (runs on the workers of a cluster we started).

    LightGBM's network set-up prints ``[LightGBM] [Info]`` lines from the worker's task
    thread, where its log callback is not registered; on a local cluster they would land on
    the command's own stdout (and break ``--json``).
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _budget(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


async def _identity(address: str, deadline: float) -> dict[str, Any]:
    """Dask's handshake and an ``identity`` call to ``address``, every wait before ``deadline``.

    ``distributed.comm.connect`` bounds the TCP connection but not the handshake read that
    follows (a listener that accepts and never answers holds it forever), so the steps are
    taken here, each under the deadline.
    """
    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend

    scheme, location = parse_address(address)
    connector = get_backend(scheme).get_connector()
    last: BaseException | None = None
    while True:  # nothing listening yet: retry until the deadline (a scheduler may be starting)
        if _budget(deadline) <= 0:
            raise _Unreachable(last)
        try:
            comm = await asyncio.wait_for(connector.connect(location, deserialize=True), _budget(deadline))
            break
        except (OSError, TimeoutError) as exc:
            last = exc
            await asyncio.sleep(min(0.2, _budget(deadline)))

    async def exchange() -> Any:
        local = comm.handshake_info()
        await comm.write(local)
        remote = await comm.read()
        if not isinstance(remote, dict) or "compression" not in remote:
            raise _NotDask(f"its greeting is not Dask's: {str(remote)[:60]!r}")
        comm.local_info = {**local, "address": comm.local_address}
        comm.remote_info = {**remote, "address": comm.peer_address}
        comm.handshake_options = comm.handshake_configuration(comm.local_info, comm.remote_info)
        await comm.write({"op": "identity", "n_workers": 0, "reply": True})
        return await comm.read()

    try:
        reply = await asyncio.wait_for(exchange(), _budget(deadline))
    finally:
        comm.abort()
    if not isinstance(reply, dict):
        raise _NotDask(f"its identity reply is not Dask's: {str(reply)[:60]!r}")
    return reply


class _Unreachable(Exception):
    def __init__(self, last: BaseException | None) -> None:
        # distributed wraps the socket's error ("... ConnectionRefusedError: [Errno 111] Connection refused")
        found = re.search(r"\[Errno \d+\] ([^\n]+)", str(last)) if last is not None else None
        detail = found.group(1).lower() if found else type(last).__name__ if last is not None else "no answer"
        super().__init__(detail)


class _NotDask(Exception):
    pass


def scheduler_problem(address: str, timeout_s: float) -> str | None:
    """Why ``address`` is not a Dask scheduler answering within ``timeout_s``, or None.

    Connecting, the handshake and the ``identity`` reply all count against ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    shown = f"{timeout_s:g}"
    try:
        reply = asyncio.run(_identity(address, deadline))
    except _Unreachable as exc:
        return f"cannot reach the Dask scheduler at {address} within {shown} s ({exc})"
    except TimeoutError:
        return (f"{address} accepted the connection but did not answer as a Dask scheduler within {shown} s "
                "(another service listens there, or the scheduler hangs)")
    except Exception as exc:  # whatever a foreign protocol makes Dask's reader raise
        detail = str(exc) if isinstance(exc, _NotDask) else type(exc).__name__
        return f"{address} answered, but not as a Dask scheduler ({detail}): another service listens there"
    kind = reply.get("type")
    if kind != "Scheduler":  # a worker or nanny refuses the scheduler's identity arguments
        what = f"a Dask {kind}" if isinstance(kind, str) else "a Dask worker or nanny"
        return f"{address} is {what}, not the scheduler: give the scheduler's address (tcp://HOST:8786)"
    return None


def _client_within(address: str, seconds: float) -> Any:
    """``distributed.Client(address)``, or None when it is not ready within ``seconds``.

    The client is made in a helper thread so that no step of its start can wait longer;
    a client that comes up after the deadline is closed by that thread.
    """
    from distributed import Client

    box: dict[str, Any] = {}
    lock = threading.Lock()

    def make() -> None:
        try:
            client = Client(address, timeout=f"{max(seconds, 0.5)}s")
        except BaseException as exc:  # handed to the caller
            with lock:
                box["error"] = exc
            return
        with lock:
            if "given_up" not in box:
                box["client"] = client
                return
        client.close(timeout=1)

    thread = threading.Thread(target=make, name="dask-connect", daemon=True)
    thread.start()
    thread.join(seconds + 0.5)
    with lock:
        if "client" in box:
            return box["client"]
        if "error" in box:
            raise box["error"]
        box["given_up"] = True  # a client that comes up later is closed by the thread
        return None


class SchedulerWatch:
    """Asks the scheduler for its identity every few seconds while a run uses it.

    A scheduler that leaves a call unanswered for ``compute.call_timeout_s`` fails the run:
    the watch closes the client, which ends whatever call the run is waiting in, and
    :meth:`ClusterSession.failure` reports the silence.
    """

    def __init__(self, address: str, timeout_s: int, on_silence: Any) -> None:
        self.address, self.timeout_s, self._on_silence = address, timeout_s, on_silence
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dask-scheduler-watch", daemon=True)

    def _run(self) -> None:
        interval = min(5.0, self.timeout_s / 4)
        last_reply = time.monotonic()
        while not self._stop.wait(interval):
            left = last_reply + self.timeout_s - time.monotonic()
            problem = scheduler_problem(self.address, max(left, 0.1))
            if problem is None:
                last_reply = time.monotonic()
                continue
            if self._stop.is_set():
                return
            gone = "; it no longer accepts connections" if problem.startswith("cannot reach") else ""
            self.reason = (
                f"the Dask scheduler at {self.address} stopped answering: no reply for {self.timeout_s} s "
                f"(compute.call_timeout_s){gone}; {_NOT_SAVED}; check the scheduler and retry"
            )
            self._on_silence()
            return

    def __enter__(self) -> SchedulerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


@dataclass
class ClusterSession:
    """A connected client and the watch on its scheduler."""

    client: Any
    watch: SchedulerWatch

    def failure(self, exc: BaseException, stage: str) -> ClusterError | None:
        """The clear error for ``exc`` raised during ``stage``: the scheduler's silence first."""
        if self.watch.reason is not None:
            return ClusterError(self.watch.reason)
        return cluster_failure(exc, stage)


def _close(client: Any, timeout_s: int) -> None:
    """Close a client within ``timeout_s`` (a silent scheduler cannot hold the close)."""
    with suppress(OSError, TimeoutError, RuntimeError):
        client.close(timeout=timeout_s)


@contextmanager
def connect(compute: ComputeConfig) -> Iterator[ClusterSession]:
    """A ``distributed.Client`` for the compute section, closed (and a local cluster stopped) after.

    Every wait on the scheduler is bounded: reaching it, its handshake, the client's start and
    a first worker by ``connect_timeout_s``; every later call by ``call_timeout_s``
    (:class:`SchedulerWatch`).

    Raises:
        ClusterError: the scheduler cannot be reached, does not answer as a Dask scheduler,
            or has no worker.
    """
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    timeout = compute.connect_timeout_s
    with dask.config.set(dask_settings(compute)):
        if compute.scheduler == LOCAL_SCHEDULER:
            try:
                cluster = LocalCluster(
                    n_workers=compute.local_workers(), threads_per_worker=1, processes=True,
                    memory_limit=compute.worker_memory, dashboard_address=None, host="127.0.0.1",
                    silence_logs=logging.CRITICAL,
                )
                client = Client(cluster, timeout=f"{timeout}s")
                client.run(mute_stdout)
            except (OSError, TimeoutError, RuntimeError) as exc:
                if cluster is not None:
                    cluster.close()
                raise ClusterError(f"could not start a local Dask cluster ({type(exc).__name__}: {exc})") from exc
            address = str(cluster.scheduler_address)
        else:
            address = compute.scheduler
            fix = "start it (`dask scheduler`) or fix compute.scheduler / --scheduler"
            deadline = time.monotonic() + timeout
            problem = scheduler_problem(address, timeout)
            if problem is None:
                try:
                    client = _client_within(address, _budget(deadline))
                except (OSError, TimeoutError) as exc:
                    problem = f"cannot reach the Dask scheduler at {address} within {timeout} s ({type(exc).__name__})"
                else:
                    if client is None:
                        problem = f"the Dask scheduler at {address} did not let a client connect within {timeout} s"
            if problem is not None:
                raise ClusterError(f"{problem}; {fix}; {_NOT_SAVED}")
        watch = SchedulerWatch(address, compute.call_timeout_s, lambda: _close(client, timeout))
        try:
            with watch:
                try:
                    client.wait_for_workers(1, timeout=timeout)
                except Exception as exc:
                    if watch.reason is not None:  # the scheduler went silent: the watch closed the client
                        raise ClusterError(watch.reason) from exc
                    if not isinstance(exc, OSError | TimeoutError):
                        raise
                    raise ClusterError(
                        f"the Dask scheduler at {compute.scheduler} has no worker after {timeout} s; "
                        f"start workers (`dask worker {compute.scheduler}`); {_NOT_SAVED}"
                    ) from exc
                yield ClusterSession(client, watch)
        finally:
            _close(client, timeout)
            if cluster is not None:
                cluster.close()


def cluster_failure(exc: BaseException, stage: str) -> ClusterError | None:
    """The clear error for a cluster failure during ``stage``, or None when ``exc`` is not one."""
    if isinstance(exc, TaskclfError):
        return None
    from asyncio import CancelledError as AsyncCancelled
    from concurrent.futures import CancelledError

    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker, NoValidWorkerError

    lost = (KilledWorker, CommClosedError, FutureCancelledError, CancelledError, AsyncCancelled,
            NoValidWorkerError, OSError, TimeoutError)
    name = type(exc).__name__
    text = str(exc).splitlines()[0][:300] if str(exc) else name
    if name == "LightGBMError":
        return ClusterError(
            f"LightGBM's distributed training failed during {stage} ({text}): a Dask worker was "
            f"probably lost mid-fit; {_NOT_SAVED}; retry when every worker is up"
        )
    if isinstance(exc, lost):
        return ClusterError(
            f"the Dask cluster failed during {stage}: a worker was lost or the scheduler stopped "
            f"answering ({name}: {text}); {_NOT_SAVED}; retry when every worker is up"
        )
    return None
