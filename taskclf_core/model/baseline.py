"""The rule baseline: a few hand-written rules a challenger must beat.

Applied in priority order to each window (vectorised over the frame):

1. ``app_category == "lockscreen"`` → BreakIdle
2. ``active_seconds_any`` null or < 5.0, or ``max_idle_run_seconds`` > 50.0 → BreakIdle
3. ``is_browser`` and ``scroll_events_per_min`` > 3.0 and ``keys_per_min`` < 10.0 → ReadResearch
4. (``is_editor`` or ``is_terminal``) and ``keys_per_min`` > 30.0 and ``shortcut_rate`` > 1.0 → Build
5. otherwise ``Mixed/Unknown`` (a reject)

A null value fails every comparison except the explicit null test of rule 2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from taskclf_core.data.schema import LABEL_TO_INDEX, LABELS

REJECT_CODE = len(LABELS)  # the code of Mixed/Unknown in predictions
#: The feature columns the rules read.
BASELINE_COLUMNS = (
    "app_category", "active_seconds_any", "max_idle_run_seconds", "keys_per_min", "is_browser",
    "scroll_events_per_min", "is_editor", "is_terminal", "shortcut_rate",
)


def _num(df: pd.DataFrame, column: str) -> np.ndarray:
    return df[column].to_numpy(dtype=np.float64, na_value=np.nan)


def _flag(df: pd.DataFrame, column: str) -> np.ndarray:
    return df[column].fillna(False).to_numpy(dtype=bool)


def baseline_codes(df: pd.DataFrame) -> np.ndarray:
    """Predicted class code per row (``REJECT_CODE`` for Mixed/Unknown)."""
    active = _num(df, "active_seconds_any")
    idle_run = _num(df, "max_idle_run_seconds")
    keys = _num(df, "keys_per_min")
    with np.errstate(invalid="ignore"):
        lockscreen = (df["app_category"].astype("str") == "lockscreen").to_numpy(dtype=bool, na_value=False)
        idle = np.isnan(active) | (active < 5.0) | (idle_run > 50.0)
        reading = _flag(df, "is_browser") & (_num(df, "scroll_events_per_min") > 3.0) & (keys < 10.0)
        building = (
            (_flag(df, "is_editor") | _flag(df, "is_terminal"))
            & (keys > 30.0)
            & (_num(df, "shortcut_rate") > 1.0)
        )
    return np.select(
        [lockscreen | idle, reading, building],
        [LABEL_TO_INDEX["BreakIdle"], LABEL_TO_INDEX["ReadResearch"], LABEL_TO_INDEX["Build"]],
        default=REJECT_CODE,
    ).astype(np.int64)
