"""The deployment records on disk: a run's ``deployment.json`` and the history's before/after.

``deployment.json`` is the challenger's deployment as built by the retrain (calibrators as
taskclf's JSON, thresholds, the tuning sweep): promotion turns it into a calibrator store
and an ``inference_policy.json``. :class:`DeploymentRecord` is what the history keeps of a
deployment before and after a change (the policy's exact text), so a rollback restores it.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from taskclf_core.model.calibration import CalibratorSet
from taskclf_core.model.served import ServingRule
from taskclf_core.registry.calstore import calibrator_from_json
from taskclf_core.registry.deployment import Deployment
from taskclf_core.registry.policy import InferencePolicy
from taskclf_core.registry.stamps import sha256_bytes, utc_now_iso

DEPLOYMENT_FILE: Final = "deployment.json"
#: ``source`` of a policy the console writes: threshold tuned, or a fixed number.
SOURCE_TUNED: Final = "console-tuned"
SOURCE_FIXED: Final = "console"
#: Policy sources whose threshold was tuned (taskclf's ``tune-reject --write-policy`` or ours).
TUNED_SOURCES: Final = frozenset({"tune-reject", SOURCE_TUNED})


class SweepPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    threshold: float
    accuracy_on_accepted: float
    reject_rate: float
    coverage: float
    macro_f1: float


class UserEligibility(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    windows: int
    days: int
    labels: int
    eligible: bool


class ChallengerDeployment(BaseModel):
    """``deployment.json`` of a run: the challenger's deployment as built (the policy to write)."""

    model_config = ConfigDict(frozen=True)

    policy: bool
    origin: str
    description: str
    calibration_method: str | None = None
    #: taskclf's calibrator JSON objects: ``global`` and one per user.
    global_calibrator: dict[str, Any] | None = None
    user_calibrators: dict[str, dict[str, Any]] = Field(default_factory=dict)
    eligibility: list[UserEligibility] = Field(default_factory=list)
    reject_threshold: float
    threshold_tuned: bool = False
    tuning_fell_back: bool = False
    sweep: list[SweepPoint] = Field(default_factory=list)
    per_user_reject_thresholds: dict[str, float] = Field(default_factory=dict)
    per_user_sweeps: dict[str, list[SweepPoint]] = Field(default_factory=dict)
    validation_rows: int = 0
    fitted_at: str = Field(default_factory=utc_now_iso)

    def calibrators(self) -> CalibratorSet | None:
        """The calibrator set in memory (None without a calibrator)."""
        if self.global_calibrator is None or self.calibration_method is None:
            return None
        return CalibratorSet(
            method=self.calibration_method,
            global_calibrator=calibrator_from_json(self.global_calibrator, "deployment.json global"),
            user_calibrators={u: calibrator_from_json(c, f"deployment.json user {u}") for u, c in self.user_calibrators.items()},
        )

    def rule(self) -> ServingRule:
        """How the challenger would be served."""
        return ServingRule(self.calibrators(), self.reject_threshold, dict(self.per_user_reject_thresholds))

    def describe_calibration(self) -> str:
        if self.calibration_method is None:
            return "none"
        n = len(self.user_calibrators)
        return f"{self.calibration_method} ({n} per-user calibrator{'s' if n != 1 else ''})"


class DeploymentRecord(BaseModel):
    """A deployment as the history records it: the policy's exact text, and what it means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_id: str | None
    #: The exact text of ``inference_policy.json`` (None: no policy file).
    policy: str | None = None
    policy_sha256: str | None = None
    calibration: str = "none"
    store_folder: str | None = None
    reject_threshold: float | None = None
    per_user_reject_thresholds: dict[str, float] = Field(default_factory=dict)

    @property
    def has_policy(self) -> bool:
        return self.policy is not None

    def describe(self) -> str:
        """``"A, calibration temperature (…), threshold 0.9"`` or ``"A (no inference policy)"``."""
        if not self.has_policy:
            return f"{self.model_id or 'none'} (no inference policy)"
        thr = "?" if self.reject_threshold is None else f"{self.reject_threshold:g}"
        per_user = f" and {len(self.per_user_reject_thresholds)} per-user" if self.per_user_reject_thresholds else ""
        return f"{self.model_id}, calibration {self.calibration}, threshold {thr}{per_user}"


def record_of(deployment: Deployment) -> DeploymentRecord:
    """The deployment now, as the history records it (the ``before`` side of a change)."""
    pf = deployment.policy_file
    served = deployment.served
    text = pf.data.decode("utf-8", errors="replace") if pf.data is not None else None
    if not deployment.uses_policy:
        model = deployment.active.pointer_id
        return DeploymentRecord(model_id=model, policy=text, policy_sha256=pf.sha256)
    store = served.store
    return DeploymentRecord(
        model_id=served.model_id, policy=text, policy_sha256=pf.sha256,
        calibration=store.describe() if store else "none", store_folder=store.folder if store else None,
        reject_threshold=served.reject_threshold, per_user_reject_thresholds=dict(served.per_user_thresholds),
    )


def record_of_policy(model_id: str, policy: InferencePolicy | None, data: bytes | None) -> DeploymentRecord:
    """The ``after`` side of a change: ``model_id`` served with ``policy`` (None: no policy)."""
    if policy is None or data is None:
        return DeploymentRecord(model_id=model_id)
    return DeploymentRecord(
        model_id=model_id, policy=data.decode("utf-8"), policy_sha256=sha256_bytes(data),
        calibration=(policy.calibration_method or "none") if policy.calibrator_store_dir else "none",
        store_folder=policy.calibrator_store_dir, reject_threshold=policy.reject_threshold,
        per_user_reject_thresholds=dict(policy.per_user_reject_thresholds or {}),
    )


__all__ = [
    "DEPLOYMENT_FILE",
    "SOURCE_FIXED",
    "SOURCE_TUNED",
    "TUNED_SOURCES",
    "ChallengerDeployment",
    "DeploymentRecord",
    "SweepPoint",
    "UserEligibility",
    "record_of",
    "record_of_policy",
]
