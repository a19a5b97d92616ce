"""Time spent inside LightGBM's own calls while project code runs.

Training time varies by ±10 % from one run to the next on this machine (more under
load), which is more than the project's own overhead; subtracting two separately timed
runs cannot resolve it. So the bench also wraps LightGBM's entry points for the duration
of one pipeline run and sums the wall time spent inside them: the pipeline's own time is
its total minus that, measured in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: (owner, attribute) of the wrapped entry points; the key names the bucket.
_ENTRY_POINTS = {
    "train": ("lightgbm", "train"),
    "predict": ("lightgbm.Booster", "predict"),
    "model_parse": ("lightgbm.Booster", "__init__"),
    "model_to_string": ("lightgbm.Booster", "model_to_string"),
}


class LightGBMClock:
    """Seconds spent in each wrapped LightGBM call (outermost calls only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {key: 0.0 for key in _ENTRY_POINTS}
        self.calls: dict[str, int] = {key: 0 for key in _ENTRY_POINTS}
        self._depth = 0

    def wrap(self, key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - t0
                self.calls[key] += 1
                self._depth -= 1

        return timed

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def floor_calls(self) -> float:
        """The calls the floor also makes: training and prediction."""
        return self.seconds["train"] + self.seconds["predict"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "calls": dict(self.calls),
            "total_s": round(self.total, 4),
        }


@contextmanager
def lightgbm_clock() -> Iterator[LightGBMClock]:
    """Wrap LightGBM's entry points while the block runs (``__init__`` only times the
    outermost Booster construction: the one inside ``train`` counts as training)."""
    import lightgbm

    clock = LightGBMClock()
    saved = []
    for key, (owner_name, attr) in _ENTRY_POINTS.items():
        owner = lightgbm.Booster if owner_name == "lightgbm.Booster" else lightgbm
        original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        saved.append((owner, attr, original))
        setattr(owner, attr, clock.wrap(key, original))
    try:
        yield clock
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)
