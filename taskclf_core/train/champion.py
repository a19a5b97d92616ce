"""The champion as the pipeline sees it: the deployment taskclf serves now, loaded for evaluation.

The champion is the model the deployment names (``registry.deployment``): the policy's
model where taskclf's policy-aware path uses ``models/inference_policy.json``, else the one
``active.json`` names. It is evaluated *as served now*: with the policy's calibrator store
and thresholds where there is a policy, else raw with the run's reject threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD
from taskclf_core.errors import TaskclfError
from taskclf_core.model.lgbm import TrainedModel
from taskclf_core.model.served import ServingRule
from taskclf_core.paths import Home
from taskclf_core.registry.deployment import Deployment, inspect_deployment
from taskclf_core.registry.installed import load_installed


@dataclass(frozen=True)
class ChampionState:
    """The current champion as the pipeline sees it."""

    model_id: str | None = None  # None: no champion
    model_sha256: str | None = None
    model: TrainedModel | None = None
    error: str | None = None  # set when a champion exists but cannot be loaded
    #: How the champion is served now (calibrators, thresholds); raw when there is no policy.
    rule: ServingRule = field(default_factory=ServingRule)
    #: The deployment read when the champion was loaded (None for a hand-built state).
    deployment: Deployment | None = None

    @property
    def policy_sha256(self) -> str | None:
        """The SHA-256 of ``inference_policy.json`` when the champion was read (None: no file)."""
        return self.deployment.policy_sha256 if self.deployment is not None else None


def load_champion(home: Home, *, reject_threshold: float = DEFAULT_REJECT_THRESHOLD) -> ChampionState:
    """Load the model the deployment serves, with how it is served (never raises for a broken one).

    Args:
        home: The registry home.
        reject_threshold: The threshold a champion without a policy is judged at.
    """
    deployment = inspect_deployment(home)
    served = deployment.served
    raw = ServingRule(reject_threshold=reject_threshold)
    if deployment.uses_policy:
        if served.error is not None:
            return ChampionState(model_id=served.model_id, error=served.error, deployment=deployment)
        model_id, rule = served.model_id, served.rule
    else:
        state = deployment.active
        if state.pointer is None and not state.exists:
            return ChampionState(deployment=deployment, rule=raw)
        if state.problem is not None:
            return ChampionState(model_id=state.pointer.model_id if state.pointer else "(unreadable active.json)",
                                 error=state.problem, deployment=deployment)
        assert state.pointer is not None
        model_id, rule = state.pointer.model_id, raw
    assert model_id is not None
    try:
        # Every file checked against the run's manifest, the same check listings make.
        loaded = load_installed(home, model_id)
        model = TrainedModel(
            booster=loaded.booster,
            # The model's own columns (taskclf's bundles carry no feature_names in metadata).
            feature_names=list(loaded.booster.feature_name()),
            encoders=dict(loaded.encoders),
            schema_version=loaded.metadata.schema_version,
            params=dict(loaded.metadata.params),
        )
    except TaskclfError as exc:
        return ChampionState(model_id=model_id, error=str(exc), deployment=deployment)
    return ChampionState(model_id, loaded.model_sha256, model, rule=rule, deployment=deployment)


def current_champion_id(home: Home) -> str | None:
    """The champion's model id now (``None``: no champion; a marker when unreadable)."""
    deployment = inspect_deployment(home)
    if not deployment.uses_policy and deployment.active.problem is not None:
        return "(unreadable active.json)"
    return deployment.champion_id
