"""The challenger's deployment: how it would be served if promoted, built on the validation split.

The ``serving:`` section of ``configs/retrain.yaml`` says how a challenger is deployed;
without it the challenger follows the current deployment (a policy with a calibrator gets
a new policy with a calibrator refitted for the challenger, a tuned threshold stays tuned;
no policy stays no policy). Calibrators are fitted as taskclf's ``train calibrate`` and the
threshold tuned with ``tune-reject``'s grid and criterion (``model.calibration``), on the
validation rows, which the test rows that judge the challenger never touch.

One deliberate difference from taskclf: the threshold is tuned on the scores each row will
be *served* with (its user's calibrator where it has one), where taskclf's ``tune-reject``
scores every row with the global calibrator (fixture README, "Surprises" 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from taskclf_core.model.calibration import (
    DEFAULT_MIN_DAYS,
    DEFAULT_MIN_LABELS,
    DEFAULT_MIN_WINDOWS,
    CalibratorSet,
    EligibilityRule,
    fit_calibrator_set,
    tune_reject_threshold,
)
from taskclf_core.model.served import ServingRule
from taskclf_core.registry.calstore import calibrator_to_json
from taskclf_core.registry.deployment import Deployment
from taskclf_core.registry.deployrecord import (
    SOURCE_FIXED,
    SOURCE_TUNED,
    TUNED_SOURCES,
    ChallengerDeployment,
    SweepPoint,
    UserEligibility,
)


class EligibilityConfig(BaseModel):
    """taskclf's per-user calibrator bar, counted on each user's validation rows."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    min_windows: int = Field(DEFAULT_MIN_WINDOWS, ge=1, le=10_000_000)
    min_days: int = Field(DEFAULT_MIN_DAYS, ge=1, le=3650)
    min_labels: int = Field(DEFAULT_MIN_LABELS, ge=1, le=8)

    def rule(self) -> EligibilityRule:
        return EligibilityRule(self.min_windows, self.min_days, self.min_labels)


class ServingConfig(BaseModel):
    """The ``serving:`` section: how a challenger is deployed (taskclf's inference policy)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    reject_threshold: Literal["tune"] | float = "tune"
    calibration: Literal["none", "temperature", "isotonic"] = "temperature"
    per_user_thresholds: bool = False
    eligibility: EligibilityConfig = Field(default_factory=lambda: EligibilityConfig.model_validate({}))

    @field_validator("reject_threshold", mode="before")
    @classmethod
    def _threshold(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, float) and not 0.0 < value <= 1.0:
            raise ValueError(f"reject_threshold must be 'tune' or a number in (0, 1]; got {value}")
        return value


@dataclass(frozen=True)
class DeploymentPlan:
    """What to build for the challenger, and where that choice came from."""

    policy: bool
    calibration: Literal["none", "temperature", "isotonic"] = "none"
    threshold: Literal["tune"] | float = 0.55
    per_user_thresholds: bool = False
    eligibility: EligibilityRule = EligibilityRule()
    origin: Literal["config", "follows the current deployment", "no policy"] = "no policy"

    def describe(self) -> str:
        if not self.policy:
            return f"no inference policy: the raw model with threshold {self.threshold:g}"
        cal = "no calibrator" if self.calibration == "none" else f"a {self.calibration} calibrator store"
        thr = "a tuned threshold" if self.threshold == "tune" else f"threshold {self.threshold:g}"
        per_user = ", per-user thresholds" if self.per_user_thresholds else ""
        return f"an inference policy with {cal}, {thr}{per_user} ({self.origin})"


def plan_deployment(serving: ServingConfig | None, current: Deployment | None, reject_threshold: float) -> DeploymentPlan:
    """How the challenger is to be deployed: the ``serving:`` section, else like the current deployment."""
    if serving is not None:
        e = serving.eligibility
        return DeploymentPlan(True, serving.calibration, serving.reject_threshold, serving.per_user_thresholds,
                              EligibilityRule(e.min_windows, e.min_days, e.min_labels), "config")
    if current is None or not current.uses_policy or current.policy_file.policy is None:
        return DeploymentPlan(False, threshold=reject_threshold)
    policy = current.policy_file.policy
    store = current.served.store
    calibration: Literal["none", "temperature", "isotonic"] = "none"
    if store is not None:
        calibration = "isotonic" if store.method == "isotonic" else "temperature"
    threshold: Literal["tune"] | float = "tune" if policy.source in TUNED_SOURCES else float(policy.reject_threshold)
    return DeploymentPlan(True, calibration, threshold, bool(policy.per_user_reject_thresholds),
                          EligibilityRule(), "follows the current deployment")


def _sweep(points: Any) -> list[SweepPoint]:
    return [SweepPoint(**vars(p)) for p in points]


def build_deployment(
    plan: DeploymentPlan, y: np.ndarray, raw: np.ndarray, user_ids: np.ndarray, days: np.ndarray
) -> ChallengerDeployment:
    """Fit the calibrators and tune the threshold(s) of ``plan`` on the validation rows.

    Args:
        plan: What to build.
        y: True class codes of the validation rows.
        raw: The challenger's raw probabilities on them.
        user_ids: User id per row.
        days: UTC day per row.

    Returns:
        The deployment record (with the calibrators as taskclf's JSON).
    """
    if not plan.policy:
        assert not isinstance(plan.threshold, str)
        return ChallengerDeployment(policy=False, origin=plan.origin, description=plan.describe(),
                                    reject_threshold=float(plan.threshold), validation_rows=len(y))
    calibrators: CalibratorSet | None = None
    eligibility: list[UserEligibility] = []
    users = np.asarray(user_ids).astype(str)
    if plan.calibration != "none":
        calibrators, report = fit_calibrator_set(plan.calibration, y, raw, users, days, plan.eligibility)
        eligibility = [UserEligibility(**vars(e)) for e in report]
    served = calibrators.calibrate(raw, users)[0] if calibrators is not None else raw
    fields: dict[str, Any] = {}
    if plan.threshold == "tune":
        tuning = tune_reject_threshold(y, served)
        threshold = tuning.best_threshold
        fields.update(threshold_tuned=True, tuning_fell_back=tuning.fell_back, sweep=_sweep(tuning.sweep))
    else:
        threshold = float(plan.threshold)
    per_user: dict[str, float] = {}
    sweeps: dict[str, list[SweepPoint]] = {}
    if plan.per_user_thresholds:
        for uid in sorted(set(users.tolist())):
            rows = users == uid
            if not plan.eligibility.of_user(uid, y[rows], np.asarray(days)[rows]).eligible:
                continue
            tuned = tune_reject_threshold(y[rows], served[rows])
            sweeps[uid] = _sweep(tuned.sweep)
            if not tuned.fell_back:
                per_user[uid] = tuned.best_threshold
    return ChallengerDeployment(
        policy=True, origin=plan.origin, description=plan.describe(),
        calibration_method=calibrators.method if calibrators else None,
        global_calibrator=calibrator_to_json(calibrators.global_calibrator) if calibrators else None,
        user_calibrators={u: calibrator_to_json(c) for u, c in sorted((calibrators.user_calibrators if calibrators else {}).items())},
        eligibility=eligibility, reject_threshold=threshold, per_user_reject_thresholds=per_user,
        per_user_sweeps=sweeps, validation_rows=len(y), **fields,
    )




class DeploymentSummary(BaseModel):
    """One side of the deployment diff shown on Review (model, calibrator, thresholds)."""

    model_config = ConfigDict(frozen=True)

    model_id: str | None
    #: ``inference_policy.json`` (a policy), ``active.json`` (no policy) or None (no champion).
    source: str | None
    reject_threshold: float
    per_user_reject_thresholds: dict[str, float] = Field(default_factory=dict)
    calibration: str = "none"
    calibrator_users: int = 0
    calibrator_fitted_for: str | None = None
    store_folder: str | None = None


class ServingEvidence(BaseModel):
    """``evaluation.json``'s ``serving``: which outputs the gates judged, and both deployments."""

    model_config = ConfigDict(frozen=True)

    judged: Literal["served", "raw"]
    champion: DeploymentSummary | None
    challenger: DeploymentSummary
    #: SHA-256 of ``inference_policy.json`` when the run read the deployment (None: no file).
    policy_sha256: str | None = None

    def sentence(self) -> str:
        """Which outputs the gates judged, in words."""
        if self.judged == "raw":
            return (f"Gates judged the raw model outputs at threshold {self.challenger.reject_threshold:g} "
                    "(no inference policy is in use or planned).")
        return ("Gates judged the outputs as served: the champion with its inference policy now, the "
                "challenger with the deployment it would be promoted with (calibrator and threshold below).")


def champion_summary(model_id: str | None, deployment: Deployment | None, rule: ServingRule) -> DeploymentSummary | None:
    """The champion's deployment as it was evaluated."""
    if model_id is None:
        return None
    served = deployment.served if deployment is not None and deployment.uses_policy else None
    store = served.store if served is not None else None
    return DeploymentSummary(
        model_id=model_id,
        source="inference_policy.json" if served is not None else "active.json",
        reject_threshold=rule.reject_threshold,
        per_user_reject_thresholds=dict(rule.per_user_thresholds),
        calibration=store.method if store else "none",
        calibrator_users=store.user_count if store else 0,
        calibrator_fitted_for=store.fitted_for if store else None,
        store_folder=store.folder if store else None,
    )


def challenger_summary(deployment: ChallengerDeployment) -> DeploymentSummary:
    """The challenger's deployment as it would be promoted (model id filled in when saved)."""
    return DeploymentSummary(
        model_id=None,
        source="inference_policy.json" if deployment.policy else "active.json",
        reject_threshold=deployment.reject_threshold,
        per_user_reject_thresholds=dict(deployment.per_user_reject_thresholds),
        calibration=deployment.calibration_method or "none",
        calibrator_users=len(deployment.user_calibrators),
    )


__all__ = [
    "SOURCE_FIXED",
    "SOURCE_TUNED",
    "ChallengerDeployment",
    "DeploymentPlan",
    "DeploymentSummary",
    "EligibilityConfig",
    "ServingConfig",
    "ServingEvidence",
    "build_deployment",
    "challenger_summary",
    "champion_summary",
    "plan_deployment",
]
