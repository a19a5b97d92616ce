"""The ``compute:`` section of ``configs/retrain.yaml``: which engine runs a retrain.

``engine: local`` (the default) is today's single-process pipeline. ``engine: dask`` runs
the same retrain on a Dask cluster (:mod:`taskclf_core.train.dask.pipeline`):
``scheduler: local`` starts a ``distributed.LocalCluster`` on this machine (for trying
it), any other value is the address of a running scheduler (``tcp://host:8786``).

This module imports neither dask nor LightGBM, so loading a config stays cheap.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from taskclf_core.errors import TaskclfError

Engine = Literal["local", "dask"]
LOCAL_SCHEDULER = "local"


class ClusterError(TaskclfError):
    """The Dask cluster failed the run: unreachable, a worker lost, data not visible.

    Raised before anything is saved: no run folder, the registry untouched.
    """


class ComputeConfig(BaseModel):
    """Where a retrain runs (the ``compute:`` section)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    engine: Engine = "local"
    #: ``local`` (a LocalCluster here) or a scheduler address such as ``tcp://10.0.0.5:8786``.
    scheduler: str = LOCAL_SCHEDULER
    #: Workers of a ``local`` cluster; 0: one per core.
    workers: int = Field(0, ge=0, le=256)
    #: Memory limit per worker of a ``local`` cluster, e.g. ``4GB``; ``auto`` shares the machine.
    worker_memory: str = "auto"
    #: Seconds to wait for the scheduler to answer.
    connect_timeout_s: int = Field(10, ge=1, le=600)
    #: Minutes a LightGBM rank waits for the others (lightgbm's ``time_out``): bounds a hang
    #: when a worker dies mid-fit.
    fit_timeout_minutes: int = Field(5, ge=1, le=600)
    #: Seconds the scheduler waits for a worker a pinned task needs before failing the run.
    no_workers_timeout_s: int = Field(30, ge=1, le=3600)

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if value == LOCAL_SCHEDULER:
            return value
        if "://" not in value and ":" not in value:
            raise ValueError(
                f"must be 'local' or a scheduler address like tcp://host:8786; got {value!r}"
            )
        return value

    def local_workers(self) -> int:
        """Workers of a ``local`` cluster: as configured, else one per core."""
        return self.workers or max(1, os.cpu_count() or 1)


def effective_compute(
    compute: ComputeConfig, *, engine: Engine | None = None, scheduler: str | None = None
) -> ComputeConfig:
    """The config's compute section with the command line's overrides applied.

    A ``scheduler`` given without ``engine`` implies ``engine: dask``.

    Raises:
        ConfigError: the scheduler override is not ``local`` nor an address.
    """
    from pydantic import ValidationError

    from taskclf_core.errors import ConfigError

    update: dict[str, object] = {}
    if engine is not None:
        update["engine"] = engine
    if scheduler is not None:
        update["scheduler"] = scheduler
        update.setdefault("engine", "dask")
    if not update:
        return compute
    try:
        return ComputeConfig.model_validate({**compute.model_dump(), **update})
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = str(first.get("ctx", {}).get("error") or first["msg"])
        raise ConfigError(f"--{first['loc'][0]}: {reason}") from None
