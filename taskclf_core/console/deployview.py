"""The deployment as Status, ``taskclf train models`` and History show it.

One row per taskclf serving path that serves something different (the tray; ``infer
online`` after a policy reload, which alone applies per-user thresholds; ``infer batch``,
which never reads the policy), and the deployment's problems with their fixes. Built
from the render's registry snapshot (one read of the deployment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taskclf_core.errors import Problem
from taskclf_core.paths import Home
from taskclf_core.registry.deploychange import pending_completion
from taskclf_core.registry.deployment import PathView
from taskclf_core.registry.deployrecord import DeploymentRecord
from taskclf_core.registry.snapshot import RegistrySnapshot, registry_snapshot

TRAY = "tray, and infer online after a policy reload"
TRAY_ONLY = "tray"
ONLINE = "infer online after a policy reload"
BATCH = "infer batch, and infer online at start-up"


@dataclass(frozen=True)
class PathRow:
    """What one of taskclf's serving paths serves now."""

    path: str
    model: str
    calibration: str
    threshold: str
    read_from: str

    def as_dict(self) -> dict[str, str]:
        return {"taskclf path": self.path, "model": self.model, "calibration": self.calibration,
                "reject threshold": self.threshold, "read from": self.read_from}


@dataclass(frozen=True)
class DeploymentView:
    """The deployment in rows and problems."""

    uses_policy: bool
    rows: list[PathRow]
    problems: list[Problem] = field(default_factory=list)
    #: The calibrator store the deployment uses (relative to the home), for its cadence.
    store_folder: str | None = None

    @property
    def consistent(self) -> bool:
        """Every path serves the same model, and nothing is wrong beyond notes."""
        return not any(p.severity != "note" for p in self.problems)

    def rows_as_dicts(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.rows]


def _source(view: PathView) -> str:
    if view.source == "inference_policy.json":
        return "models/inference_policy.json"
    if view.fallback:
        return f"models/active.json (policy ignored: {view.fallback})"
    return "models/active.json (no inference policy)"


def _row(name: str, view: PathView, *, per_user: bool) -> PathRow:
    if view.error is not None:
        return PathRow(name, view.model_id or "nothing", "-", "-", f"fails: {view.error}")
    threshold = f"{view.reject_threshold:g}"
    if view.source != "inference_policy.json":
        threshold += " (taskclf's default)"
    if per_user and view.per_user_thresholds:
        threshold = view.describe_threshold()
    return PathRow(name, view.model_id or "none", view.describe_calibration(), threshold, _source(view))


def deployment_view(snap: RegistrySnapshot) -> DeploymentView:
    """The snapshot's deployment in rows and problems (an interrupted change among them)."""
    home, deployment = snap.home, snap.deployment
    served = deployment.served
    rows: list[PathRow]
    if deployment.uses_policy and served.per_user_thresholds:
        rows = [_row(TRAY_ONLY, served, per_user=False), _row(ONLINE, served, per_user=True)]
    else:
        rows = [_row(TRAY, served, per_user=True)]
    batch = _row(BATCH, deployment.batch, per_user=False)
    if deployment.uses_policy:
        batch = PathRow(batch.path, batch.model, "none (it does not read the policy)",
                        f"{deployment.batch.reject_threshold:g} (its --reject-threshold default)",
                        "models/active.json (never the policy)")
    rows.append(batch)
    problems = list(deployment.problems)
    interrupted = pending_completion(home)
    if interrupted is not None:
        entry, left = interrupted
        problems.insert(0, Problem(
            "change_interrupted",
            f"the {entry.action} of {entry.new_champion} stopped before {left} was written: taskclf's "
            "paths serve different deployments until it is completed",
            "the console completes it at the next promotion or rollback; to complete it now run "
            "`taskclf train recover`",
            "error",
        ))
    store = served.store.folder if deployment.uses_policy and served.store else None
    return DeploymentView(deployment.uses_policy, rows, problems, store)


def refit_sentence(home: Home, cadence_days: int) -> str:
    """Whether the champion's calibrator is due for a refit, in one sentence (from the core's cadence)."""
    from taskclf_core.registry.policy import resolve_home_path
    from taskclf_core.train.cadence import calibrator_cadence

    with registry_snapshot(home) as snap:
        deployment = snap.deployment
    if not deployment.uses_policy or deployment.served.store is None:
        return ("The deployment has no calibrator store: a refit writes an inference policy with a calibrator "
                "fitted for the champion.")
    store = deployment.served.store
    status = calibrator_cadence(resolve_home_path(home, store.folder), cadence_days)
    head = "The calibrator refit is due" if status.due else "The calibrator refit is not due (force it to refit now)"
    return f"{head}: {status.reason}. The champion {deployment.champion_id} is served with {store.describe()}."


def describe_change(before: DeploymentRecord | None, after: DeploymentRecord | None) -> str:
    """A history entry's deployment change in words (empty when it recorded none)."""
    if before is None and after is None:
        return ""
    old = before.describe() if before else "not recorded"
    new = after.describe() if after else "policy file left as it was"
    return f"{old} → {new}"


__all__ = ["BATCH", "ONLINE", "TRAY", "DeploymentView", "PathRow", "deployment_view", "describe_change", "refit_sentence"]
