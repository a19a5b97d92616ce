"""Connecting to a Dask cluster, and cluster failures as one clear :class:`ClusterError`.

``scheduler: local`` starts a ``distributed.LocalCluster`` here (one single-threaded
worker process per core, OpenMP told not to spin); an address connects to a running
scheduler within ``connect_timeout_s``. The settings the recipe found necessary are set
before the scheduler starts: ``no-workers-timeout`` (a task pinned to a lost worker fails
instead of waiting forever) and passive OpenMP on the workers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskclf_core.errors import TaskclfError
from taskclf_core.train.dask.config import LOCAL_SCHEDULER, ClusterError, ComputeConfig

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


@contextmanager
def connect(compute: ComputeConfig) -> Iterator[Any]:
    """A ``distributed.Client`` for the compute section, closed (and a local cluster stopped) after.

    Raises:
        ClusterError: the scheduler cannot be reached or has no worker.
    """
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    with dask.config.set(dask_settings(compute)):
        if compute.scheduler == LOCAL_SCHEDULER:
            try:
                cluster = LocalCluster(
                    n_workers=compute.local_workers(), threads_per_worker=1, processes=True,
                    memory_limit=compute.worker_memory, dashboard_address=None, host="127.0.0.1",
                    silence_logs=logging.CRITICAL,
                )
                client = Client(cluster, timeout=f"{compute.connect_timeout_s}s")
                client.run(mute_stdout)
            except (OSError, TimeoutError, RuntimeError) as exc:
                if cluster is not None:
                    cluster.close()
                raise ClusterError(f"could not start a local Dask cluster ({type(exc).__name__}: {exc})") from exc
        else:
            try:
                client = Client(compute.scheduler, timeout=f"{compute.connect_timeout_s}s")
            except (OSError, TimeoutError) as exc:
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {compute.scheduler} within {compute.connect_timeout_s} s "
                    f"({type(exc).__name__}); start it (`dask scheduler`) or fix compute.scheduler / --scheduler; "
                    f"{_NOT_SAVED}"
                ) from exc
        try:
            try:
                client.wait_for_workers(1, timeout=compute.connect_timeout_s)
            except (OSError, TimeoutError) as exc:
                where = compute.scheduler
                raise ClusterError(
                    f"the Dask scheduler at {where} has no worker after {compute.connect_timeout_s} s; "
                    f"start workers (`dask worker {where}`); {_NOT_SAVED}"
                ) from exc
            yield client
        finally:
            client.close()
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
