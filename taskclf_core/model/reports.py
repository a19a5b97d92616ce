"""The records of an evaluation: per-class, per-user and calibration metrics, acceptance
checks, the whole report, and the paired bootstrap interval (stored in ``evaluation.json``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from taskclf_core.model.thresholds import GateThresholds


class ClassMetrics(BaseModel, frozen=True):
    """Metrics of one class; ``None`` where the value is undefined."""

    precision: float | None
    recall: float | None
    f1: float | None
    support: int  # evaluation rows of this class
    predicted: int  # rows predicted as this class: the n behind the precision
    true_positives: int
    precision_ci_low: float | None
    precision_ci_high: float | None
    rejected: int  # rows of this class that were rejected


class AcceptanceCheck(BaseModel, frozen=True):
    """One acceptance check with its value, threshold and a sentence."""

    name: str
    passed: bool
    value: float | None
    threshold: str
    detail: str
    #: Where the threshold is set (``gates.<name>`` in ``configs/retrain.yaml``).
    config_key: str = ""


class UserMetrics(BaseModel, frozen=True):
    rows: int
    macro_f1: float
    accuracy: float
    reject_rate: float
    held_out: bool = False


class CalibrationBin(BaseModel, frozen=True):
    confidence: float
    accuracy: float
    count: int


class EvaluationReport(BaseModel, frozen=True):
    """Everything measured about one model on one set of evaluation rows."""

    model_name: str
    n_rows: int
    label_names: list[str]
    macro_f1: float
    weighted_f1: float
    accuracy: float
    per_class: dict[str, ClassMetrics]
    confusion_matrix: list[list[int]]  # rows true, columns predicted; rejects excluded
    reject_rate: float
    reject_threshold: float
    per_user: dict[str, UserMetrics]
    seen_user_f1: float | None = None
    unseen_user_f1: float | None = None
    top_confusion_pairs: list[dict[str, str | int | float]] = Field(default_factory=list)
    expected_calibration_error: float | None = None
    multiclass_brier_score: float | None = None
    multiclass_log_loss: float | None = None
    calibration_curve: list[CalibrationBin] = Field(default_factory=list)
    acceptance: list[AcceptanceCheck]
    #: The thresholds the acceptance checks were judged by.
    thresholds: GateThresholds = Field(default_factory=lambda: GateThresholds())

    @property
    def acceptance_checks(self) -> dict[str, bool]:
        """Check name → passed."""
        return {c.name: c.passed for c in self.acceptance}

    @property
    def acceptance_details(self) -> dict[str, str]:
        """Check name → sentence."""
        return {c.name: c.detail for c in self.acceptance}

    @property
    def acceptance_passed(self) -> bool:
        return all(c.passed for c in self.acceptance)


class BootstrapInterval(BaseModel, frozen=True):
    """Paired bootstrap interval of (challenger − champion) macro-F1."""

    difference: float
    low: float
    high: float
    level: float = 0.95
    resamples: int
    seed: int
