"""The thresholds of the acceptance checks and candidate gates: the ``gates:`` config section.

Defaults are the reference values (``spec/workflow.md``); a team may set its own in
``configs/retrain.yaml``. Every run records the thresholds it was judged by, and each
check names its config key, so a reviewer sees which rule decided and where it is set.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: ``gates.<field>`` is where each threshold lives in ``configs/retrain.yaml``.
CONFIG_SECTION = "gates"


class PerUserThresholds(BaseModel):
    """``gates.per_user``: per-person non-regression (the challenger against the champion)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: A person needs at least this many test minutes to be judged (else "too few minutes").
    min_windows: int = Field(default=60, ge=1, le=10_000_000)
    #: Fails when a person's bootstrap interval lies wholly below minus this.
    tolerance: float = Field(default=0.05, ge=0.0, le=1.0)


class RecentWeekThresholds(BaseModel):
    """``gates.recent_week``: the comparison and the drift figures on the latest days (guide §7, §11)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    days: int = Field(default=7, ge=1, le=365)
    #: The latest week's macro-F1 difference fails when its interval lies wholly below minus this.
    tolerance: float = Field(default=0.05, ge=0.0, le=1.0)
    #: Drift test: the challenger's macro-F1 at least this share (relative) below the champion's.
    macro_f1_relative_drop: float = Field(default=0.10, ge=0.0, le=1.0)
    #: Drift test: the reject rate up by at least this (absolute).
    reject_rate_increase: float = Field(default=0.10, ge=0.0, le=1.0)
    #: Drift test: a major feature's PSI (training data vs the latest week) above this.
    psi: float = Field(default=0.2, ge=0.0, le=100.0)
    #: The major features: this many of the challenger's, by gain.
    major_features: int = Field(default=10, ge=1, le=10_000)
    #: Drift test: a class's share (training labels vs the latest week) changed by more than this.
    class_shift: float = Field(default=0.15, ge=0.0, le=1.0)


class SafetyThresholds(BaseModel):
    """``gates.safety``: the guide's blockers (§10) and stability criteria (§4-§6)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Share of true BreakIdle minutes served as Build at most this.
    breakidle_as_build: float = Field(default=0.05, ge=0.0, le=1.0)
    #: Served probability rows sum to 1 within this.
    probability_sum_tolerance: float = Field(default=1e-9, ge=0.0, le=1e-3)
    #: Flap rate (label changes per window) at most this before smoothing ...
    flap_rate_raw: float = Field(default=0.25, ge=0.0, le=1.0)
    #: ... and at most this after taskclf's smoothing.
    flap_rate_smoothed: float = Field(default=0.15, ge=0.0, le=1.0)
    #: After block merging, at least this share of blocks last MIN_BLOCK_DURATION (3 minutes) ...
    long_blocks_min: float = Field(default=0.80, ge=0.0, le=1.0)
    #: ... and at most this share are shorter than 2 minutes.
    short_blocks_max: float = Field(default=0.10, ge=0.0, le=1.0)
    #: A reject rate above this marks the model underfit (guide §4).
    reject_rate_underfit: float = Field(default=0.35, ge=0.0, le=1.0)


class GateThresholds(BaseModel):
    """Acceptance-check and candidate-gate thresholds (comparisons are inclusive)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    macro_f1: float = Field(default=0.65, ge=0.0, le=1.0)
    weighted_f1: float = Field(default=0.70, ge=0.0, le=1.0)
    breakidle_precision: float = Field(default=0.95, ge=0.0, le=1.0)
    breakidle_recall: float = Field(default=0.90, ge=0.0, le=1.0)
    class_precision_floor: float = Field(default=0.50, ge=0.0, le=1.0)
    reject_rate_min: float = Field(default=0.05, ge=0.0, le=1.0)
    reject_rate_max: float = Field(default=0.30, ge=0.0, le=1.0)
    seen_user_f1: float = Field(default=0.70, ge=0.0, le=1.0)
    unseen_user_f1: float = Field(default=0.60, ge=0.0, le=1.0)
    #: taskclf's calibration requirement (``docs/guide/acceptance.md`` §3): a deployed
    #: calibrator's Brier score at least this share better than the raw model's (a negative
    #: share accepts a calibrator that makes it worse, e.g. on a sample too small to judge).
    calibration_brier_improvement: float = Field(default=0.05, ge=-1.0, le=1.0)
    per_user: PerUserThresholds = Field(default_factory=lambda: PerUserThresholds())
    recent_week: RecentWeekThresholds = Field(default_factory=lambda: RecentWeekThresholds())
    safety: SafetyThresholds = Field(default_factory=lambda: SafetyThresholds())
    #: People a reviewer must look at before a sign-off (the checklist's "3 users"); 0 turns it off.
    spot_check_users: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _reject_range(self) -> GateThresholds:
        if self.reject_rate_min > self.reject_rate_max:
            raise ValueError(
                f"reject_rate_min {self.reject_rate_min} must not be above "
                f"reject_rate_max {self.reject_rate_max}"
            )
        return self

    def is_reference(self) -> bool:
        """True when every threshold is the reference value."""
        return self == REFERENCE_THRESHOLDS


def config_key(field: str) -> str:
    """``gates.breakidle_precision``: where a threshold is set."""
    return f"{CONFIG_SECTION}.{field}"


REFERENCE_THRESHOLDS = GateThresholds()
