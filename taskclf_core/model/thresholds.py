"""The thresholds of the acceptance checks and candidate gates: the ``gates:`` config section.

Defaults are the reference values (``spec/workflow.md``); a team may set its own in
``configs/retrain.yaml``. Every run records the thresholds it was judged by, and each
check names its config key, so a reviewer sees which rule decided and where it is set.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: ``gates.<field>`` is where each threshold lives in ``configs/retrain.yaml``.
CONFIG_SECTION = "gates"


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
    #: calibrator's Brier score at least this share better than the raw model's.
    calibration_brier_improvement: float = Field(default=0.05, ge=0.0, le=1.0)

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
