"""The ``compute:`` section of ``configs/retrain.yaml``: which engine runs a retrain.

``engine: local`` (the default) is today's single-process pipeline. ``engine: dask`` runs
the same retrain on a Dask cluster (:mod:`taskclf_core.train.dask.pipeline`):
``scheduler: local`` starts a ``distributed.LocalCluster`` on this machine (for trying
it), any other value is the address of a running scheduler (``tcp://host:8786``),
checked when the config is read (:func:`check_scheduler_address`).

The Dask engine is an optional install (``pip install -e '.[dask]'``); this module imports
neither dask nor LightGBM, so loading a config stays cheap and works without it.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from taskclf_core.errors import ConfigError

Engine = Literal["local", "dask"]
LOCAL_SCHEDULER = "local"
#: The transports this engine connects over (the others ``distributed`` knows need set-up
#: the ``compute:`` section does not offer; :func:`check_scheduler_address` says which).
SCHEMES = ("tcp",)
#: How to install the Dask engine (an extra of this package).
INSTALL_DASK = "pip install -e '.[dask]'"
#: The modules the Dask engine imports (lightgbm.dask needs scikit-learn).
DASK_MODULES = ("dask", "distributed", "sklearn")

_WHY_NOT = {
    "http": "a web address (a scheduler's dashboard serves http on port 8787); the scheduler itself listens at tcp://HOST:8786",
    "https": "a web address; the scheduler itself listens at tcp://HOST:8786",
    "tls": "tls:// needs TLS certificates (distributed's Security), which the compute section does not configure",
    "wss": "wss:// needs TLS certificates (distributed's Security), which the compute section does not configure",
    "ucx": "ucx:// needs the UCX transport (ucxx and its network set-up), which this engine does not use",
    "inproc": "inproc:// reaches only a scheduler inside this process; use scheduler: local to start one here",
    "ws": "ws:// (websockets) is not supported by this engine; start the scheduler with its default tcp transport",
}
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$")


def _address_problem(value: str) -> str | None:
    """Why ``value`` is not ``tcp://HOST:PORT``, or None when it is."""
    if "://" not in value:
        if re.fullmatch(r"[A-Za-z0-9_.\-]+:\d{1,5}", value):
            return f"no scheme: write tcp://{value}"
        return "not an address"
    scheme = value.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        return _WHY_NOT.get(scheme, f"unknown scheme {scheme!r}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return "the port must be a number in 1..65535"
    if parts.username is not None or parts.password is not None:
        return "an address has no user name"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "an address has no path, query or fragment: only tcp://HOST:PORT"
    host = parts.hostname or ""
    if not host:
        return "no host"
    if port is None:
        return "no port (a scheduler listens on 8786 by default: tcp://HOST:8786)"
    if not 1 <= port <= 65535:
        return "the port must be a number in 1..65535"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.match(host):
            return f"{host!r} is not a host name or IP address"
    return None


def check_scheduler_address(value: str) -> str:
    """``local`` or a scheduler address ``tcp://HOST:PORT`` (stripped), else an error.

    Raises:
        ValueError: anything else, naming the value, why, and the schemes supported here.
    """
    value = value.strip()
    if value == LOCAL_SCHEDULER:
        return value
    problem = _address_problem(value)
    if problem is not None:
        raise ValueError(
            f"must be 'local' or a scheduler address like tcp://host:8786; got {value!r} "
            f"({problem}; schemes supported here: {', '.join(SCHEMES)})"
        )
    return value


def missing_dask_modules() -> list[str]:
    """The modules of the Dask engine that cannot be imported here (none when installed)."""
    missing = []
    for name in DASK_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: sys.modules holds None for it
            found = False
        if not found:
            missing.append(name)
    return missing


def require_dask() -> None:
    """Refuse the Dask engine when it is not installed, saying how to install it.

    Raises:
        ConfigError: one line: what is missing and the install command.
    """
    missing = missing_dask_modules()
    if missing:
        raise ConfigError(
            f"the Dask engine is not installed here (no {', '.join(missing)}): install it with "
            f"{INSTALL_DASK} in the project folder, or use engine: local"
        )


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
    #: Seconds to connect: reach the scheduler, its handshake and reply, and a first worker.
    connect_timeout_s: int = Field(10, ge=1, le=600)
    #: Seconds the scheduler may leave a call unanswered during a run (it is asked every
    #: few seconds) before the run fails.
    call_timeout_s: int = Field(60, ge=1, le=3600)
    #: Minutes a LightGBM rank waits for the others (lightgbm's ``time_out``): bounds a hang
    #: when a worker dies mid-fit.
    fit_timeout_minutes: int = Field(5, ge=1, le=600)
    #: Seconds the scheduler waits for a worker a pinned task needs before failing the run.
    no_workers_timeout_s: int = Field(30, ge=1, le=3600)

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str) -> str:
        return check_scheduler_address(value)

    def local_workers(self) -> int:
        """Workers of a ``local`` cluster: as configured, else one per core."""
        return self.workers or max(1, os.cpu_count() or 1)


def effective_compute(
    compute: ComputeConfig, *, engine: Engine | None = None, scheduler: str | None = None
) -> ComputeConfig:
    """The config's compute section with the command line's overrides applied.

    A ``scheduler`` given without ``engine`` implies ``engine: dask``.

    Raises:
        ConfigError: the scheduler override is not ``local`` nor a ``tcp://HOST:PORT`` address.
    """
    from pydantic import ValidationError

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
