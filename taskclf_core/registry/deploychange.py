"""A champion change as a deployment change: policy, calibrator store and pointer in one step.

Where taskclf serves ``models/inference_policy.json``, moving ``active.json`` alone changes
nothing its policy-aware path serves. A promotion or rollback therefore writes, under the
registry lock, in this order (``registry.promotion`` drives it):

1. the bundle (``models/<id>/``) and, when the deployment has calibrators, a new store
   folder ``artifacts/calibrator_stores/<id>/`` (whole folders renamed into place; a
   store is never edited in place);
2. the history entry, recording the deployment before and after (the policy's exact text);
3. the policy, written: the commit point of taskclf's policy-aware path, which reads
   nothing else; then ``active.json`` (what ``infer batch`` serves);
   or, when the new deployment has no policy and the old one had: ``active.json`` first and
   the policy removed last (removing it first would serve the old model uncalibrated).

A crash therefore leaves the policy-aware path on the old deployment whole or the new one
whole. A change stopped between its two file moves is completed by the next change under
the lock, or by :func:`complete_interrupted_change` (``taskclf train recover``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from taskclf_core.data.schema import LABELS, SCHEMA_HASHES
from taskclf_core.errors import PromotionRefused
from taskclf_core.fs.faultpoints import faultpoint
from taskclf_core.fs.jsonfile import loads_json
from taskclf_core.paths import Home
from taskclf_core.registry.calstore import store_file_bytes, write_store
from taskclf_core.registry.deployment import Deployment
from taskclf_core.registry.deployrecord import (
    DEPLOYMENT_FILE,
    SOURCE_FIXED,
    SOURCE_TUNED,
    ChallengerDeployment,
    DeploymentRecord,
    record_of_policy,
)
from taskclf_core.registry.history import HistoryEntry, inspect_history, parse_history_lines
from taskclf_core.registry.metadata import git_commit
from taskclf_core.registry.pointer import ActivePointer, inspect_active, write_active
from taskclf_core.registry.policy import (
    CONSOLE_STORES_DIR,
    InferencePolicy,
    parse_policy,
    read_policy_file,
    remove_policy,
    resolve_home_path,
    write_policy_bytes,
)
from taskclf_core.registry.stamps import utc_now_iso

#: What a change does to ``inference_policy.json``: write these bytes, remove it, or leave it.
PolicyAction = Literal["write", "remove", "keep"]


@dataclass(frozen=True)
class NewDeployment:
    """What a change writes besides the bundle and ``active.json``."""

    model_id: str
    action: PolicyAction
    policy: InferencePolicy | None = None
    data: bytes | None = None
    #: A calibrator store folder to create (relative to the home) and its files.
    store_dir: str | None = None
    store_files: dict[str, bytes] | None = None
    #: Said in the history note when the deployment had to be made up (no record of it).
    remark: str | None = None

    @property
    def record(self) -> DeploymentRecord | None:
        """The ``after`` side for the history (None: the policy file is left as it is)."""
        if self.action == "keep":
            return None
        return record_of_policy(self.model_id, self.policy, self.data)


def _new_policy(home: Home, model_id: str, *, store_dir: str | None, method: str | None, threshold: float,
                per_user: dict[str, float], schema_hash: str, source: str) -> tuple[InferencePolicy, bytes]:
    policy = InferencePolicy(
        model_dir=f"{home.models_dir.name}/{model_id}", model_schema_hash=schema_hash,
        model_label_set=sorted(LABELS), calibrator_store_dir=store_dir,
        calibration_method=method if store_dir else None, reject_threshold=threshold,
        per_user_reject_thresholds=dict(per_user) or None, created_at=utc_now_iso(), source=source,
        git_commit=git_commit(),
    )
    return policy, policy.to_bytes()


def deployment_of_run(home: Home, run_id: str, deployment_json: bytes | None, schema_version: str,
                      current: Deployment, *, model_id: str | None = None) -> NewDeployment:
    """What promoting a run writes, from its ``deployment.json``.

    ``model_id`` is the model served (default: the run's own; a calibrator refit names the
    champion it refitted). The store folder is named after the run.

    Raises:
        PromotionRefused: the run planned no policy (or predates deployments) while taskclf
            now serves one (promoting it would leave taskclf serving the old model), or its
            ``deployment.json`` is not valid.
    """
    if deployment_json is None:
        built = None
    else:
        try:
            built = ChallengerDeployment.model_validate(loads_json(deployment_json))
        except ValueError as exc:
            raise PromotionRefused(f"run {run_id}: {DEPLOYMENT_FILE} is not valid ({str(exc)[:200]})") from None
    if built is None or not built.policy:
        if current.uses_policy:
            why = "records no deployment (it predates inference policies)" if built is None else "planned no inference policy"
            raise PromotionRefused(
                f"run {run_id} {why}, but taskclf now serves {home.models_dir.name}/inference_policy.json: "
                "promoting it would leave taskclf's policy-aware path on the old model; start a new retrain"
            )
        return NewDeployment(model_id or run_id, "keep")
    model = model_id or run_id
    calibrators = built.calibrators()
    store_dir = store_files = None
    if calibrators is not None:
        store_dir = f"{CONSOLE_STORES_DIR}/{run_id}"
        store_files = store_file_bytes(calibrators, model_bundle_id=model, model_schema_hash=SCHEMA_HASHES[schema_version],
                                       created_at=built.fitted_at)
    policy, data = _new_policy(
        home, model, store_dir=store_dir, method=built.calibration_method, threshold=built.reject_threshold,
        per_user=built.per_user_reject_thresholds, schema_hash=SCHEMA_HASHES[schema_version],
        source=SOURCE_TUNED if built.threshold_tuned else SOURCE_FIXED,
    )
    return NewDeployment(model, "write", policy, data, store_dir, store_files)


def deployment_for_rollback(home: Home, model_id: str, current: Deployment, *, schema_hash: str,
                            bundle_threshold: float) -> NewDeployment:
    """What rolling back to ``model_id`` writes: the deployment it had when it was replaced.

    The history records the deployment before each change; the latest change that replaced
    ``model_id`` tells how it was served then (its policy restored byte for byte, or no
    policy). With no such record (it was champion before deployments were recorded) and a
    policy in use now, a policy without calibrator is written with the threshold its bundle
    records, and the history says so.

    Raises:
        PromotionRefused: the recorded policy names a calibrator store that no longer exists.
    """
    recorded = next(
        (e.deployment_before for e in inspect_history(home).entries
         if e.previous_champion == model_id and e.deployment_before is not None
         and e.deployment_before.model_id == model_id),
        None,
    )
    if recorded is not None:
        if recorded.policy is None:
            return NewDeployment(model_id, "remove" if current.policy_file.exists else "keep")
        data = recorded.policy.encode("utf-8")
        policy = parse_policy(data)
        if policy.calibrator_store_dir and not resolve_home_path(home, policy.calibrator_store_dir).is_dir():
            raise PromotionRefused(
                f"cannot roll back to {model_id}: the calibrator store {policy.calibrator_store_dir} it was served "
                "with no longer exists; put it back, or promote a new retrain"
            )
        return NewDeployment(model_id, "write", policy, data)
    if not current.uses_policy:
        return NewDeployment(model_id, "keep")
    policy, data = _new_policy(home, model_id, store_dir=None, method=None, threshold=bundle_threshold, per_user={},
                               schema_hash=schema_hash, source=SOURCE_FIXED)
    return NewDeployment(
        model_id, "write", policy, data,
        remark=(f"no record of how {model_id} was served: written with no calibrator and the threshold its "
                f"bundle records ({bundle_threshold:g})"),
    )


def install_store(home: Home, new: NewDeployment) -> None:
    """Create the deployment's calibrator store folder (reused when a stopped change left it complete).

    Raises:
        PromotionRefused: a folder of that name exists with other contents.
    """
    if new.store_dir is None or new.store_files is None:
        return
    folder = resolve_home_path(home, new.store_dir)
    if folder.exists() or folder.is_symlink():
        same = not folder.is_symlink() and all(
            (folder / rel).is_file() and (folder / rel).read_bytes() == data for rel, data in new.store_files.items()
        )
        if not same:
            raise PromotionRefused(f"{new.store_dir} already exists and differs from this deployment's calibrators; "
                                   "move it aside, then try again")
        return
    write_store(folder, new.store_files)
    faultpoint("deploy.store")


def move_files(home: Home, new: NewDeployment, pointer: ActivePointer) -> None:
    """Steps 3-4 of a change (the caller holds the lock and has appended the history entry)."""
    if new.action == "write":
        assert new.data is not None
        write_policy_bytes(home, new.data)
        faultpoint("deploy.policy")
        write_active(home, pointer)
    elif new.action == "remove":
        write_active(home, pointer)
        faultpoint("deploy.pointer")
        remove_policy(home)
    else:
        write_active(home, pointer)


def _last_entry(home: Home) -> HistoryEntry | None:
    entries, _ = parse_history_lines(home)
    return entries[-1] if entries else None


def pending_completion(home: Home) -> tuple[HistoryEntry, str] | None:
    """A change stopped between its two file moves: the entry and what is left to do (no writes)."""
    entry = _last_entry(home)
    if entry is None or entry.deployment_after is None or entry.new is None:
        return None
    after = entry.deployment_after
    pointer = inspect_active(home).pointer
    policy_sha = read_policy_file(home).sha256
    pointer_done = pointer is not None and entry.change_id is not None and pointer.change_id == entry.change_id
    pointer_before = (pointer.change_id if pointer else None) == entry.previous_change_id
    if after.has_policy and policy_sha == after.policy_sha256 and not pointer_done and pointer_before:
        return entry, "active.json"
    if not after.has_policy and pointer_done and policy_sha is not None and entry.deployment_before is not None \
            and policy_sha == entry.deployment_before.policy_sha256:
        return entry, "inference_policy.json"
    return None


def complete_interrupted_change(home: Home) -> HistoryEntry | None:
    """Finish a change stopped between its two file moves (the caller holds the registry lock).

    Returns:
        The entry completed, or None when there was nothing to finish.
    """
    found = pending_completion(home)
    if found is None:
        return None
    entry, left = found
    if left == "active.json":
        assert entry.new is not None
        write_active(home, entry.new)
    else:
        remove_policy(home)
    return entry


__all__ = [
    "NewDeployment",
    "complete_interrupted_change",
    "deployment_for_rollback",
    "deployment_of_run",
    "install_store",
    "move_files",
    "pending_completion",
]

