"""Timing, memory sampling and machine facts shared by the bench children."""

from __future__ import annotations

import gc
import os
import platform
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def load_average() -> float:
    """One-minute load average (the machine has 2 cores: above ~1.5 figures are noisy)."""
    return round(os.getloadavg()[0], 2)


def max_rss_mb() -> float:
    """The process's peak RSS so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, load, library versions, thread settings."""
    import lightgbm
    import numpy
    import pandas
    import pyarrow

    return {
        "cpu_count": os.cpu_count(),
        "load_1m": load_average(),
        "python": platform.python_version(),
        "lightgbm": lightgbm.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


@dataclass
class Stage:
    """One measured stage: best wall time over its repeats, CPU time of that repeat."""

    seconds: float
    cpu: float
    repeats: int
    load: float
    lightgbm: float = 0.0  # of ``seconds``, spent inside LightGBM calls

    def as_dict(self) -> dict[str, Any]:
        return {
            "s": round(self.seconds, 4), "cpu_s": round(self.cpu, 4), "lightgbm_s": round(self.lightgbm, 4),
            "repeats": self.repeats, "load": self.load,
        }


@dataclass
class Stages:
    """Ordered stage timings of one size."""

    stages: dict[str, Stage] = field(default_factory=dict)
    #: A :class:`bench.lgbm_clock.LightGBMClock` to split each stage into LightGBM and rest.
    clock: Any = None

    def measure(self, name: str, fn: Callable[[], T], *, repeats: int = 1, budget: float = 3.0) -> T:
        """Run ``fn`` up to ``repeats`` times (fewer once ``budget`` seconds are spent);
        keep the fastest wall time and return the last result."""
        best: Stage | None = None
        spent = 0.0
        result: T
        done = 0
        for _ in range(max(1, repeats)):
            result = None  # type: ignore[assignment]  # drop the last result: it would add to the peak RSS
            gc.collect()
            load = load_average()
            in_lgbm = self.clock.total if self.clock is not None else 0.0
            t0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            in_lgbm = (self.clock.total if self.clock is not None else 0.0) - in_lgbm
            done += 1
            spent += wall
            if best is None or wall < best.seconds:
                best = Stage(wall, cpu, 0, load, in_lgbm)
            if spent > budget:
                break
        assert best is not None
        best.repeats = done
        self.stages[name] = best
        return result

    def as_dict(self) -> dict[str, Any]:
        return {name: stage.as_dict() for name, stage in self.stages.items()}


class RssSampler:
    """Samples this process's RSS every ``interval`` seconds; ``peak()`` since ``reset()``."""

    def __init__(self, interval: float = 0.01) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self._process.memory_info().rss
            with self._lock:
                self._peak = max(self._peak, rss)
            self._stop.wait(self._interval)

    def reset(self) -> None:
        with self._lock:
            self._peak = self._process.memory_info().rss

    def peak_mb(self) -> float:
        with self._lock:
            return round(max(self._peak, self._process.memory_info().rss) / 2**20, 1)

    def current_mb(self) -> float:
        return round(self._process.memory_info().rss / 2**20, 1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class OtherCpu:
    """CPU used by other processes (and stolen by the hypervisor) while a block runs.

    The load average counts the bench's own LightGBM threads (about 2 on this machine while
    it trains), so it cannot tell whether someone else shared the cores; this can: the
    machine's busy time minus this process's own, per second of wall time, in cores.
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        self._t0 = time.perf_counter()
        self._machine0 = psutil.cpu_times()
        self._own0 = self._process.cpu_times()

    @staticmethod
    def _busy(t: Any) -> float:
        return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))

    def cores(self) -> dict[str, float]:
        """Average cores used by others and stolen, since this object was made."""
        wall = max(time.perf_counter() - self._t0, 1e-9)
        machine1, own1 = self._psutil.cpu_times(), self._process.cpu_times()
        own = (own1.user + own1.system + own1.children_user + own1.children_system) - (
            self._own0.user + self._own0.system + self._own0.children_user + self._own0.children_system
        )
        others = self._busy(machine1) - self._busy(self._machine0) - own
        steal = getattr(machine1, "steal", 0.0) - getattr(self._machine0, "steal", 0.0)
        return {"others_cores": round(max(others, 0.0) / wall, 2), "steal_cores": round(steal / wall, 2)}
