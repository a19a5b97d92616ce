"""The deployment as taskclf serves it: what each of taskclf's serving paths serves now, and what is wrong.

In a taskclf installation the deployment is ``models/inference_policy.json`` (model +
calibrator store + reject threshold + per-user thresholds) beside ``models/active.json``.
taskclf's paths read them differently (``tests/fixtures/upstream-policy/README.md``,
"Precedence, and who actually reads the policy"):

* the **policy-aware path** (``resolve_inference_config``: the tray, and ``infer online``
  after a policy reload) serves the policy when it loads and its ``model_dir`` is a
  folder, else falls back to ``active.json`` with threshold 0.55 and no calibration (the
  policy's threshold is not kept); a missing store folder means identity with the
  policy's threshold kept; a store folder without ``store.json``, or a ``model_dir`` that
  is not a bundle, makes taskclf raise;
* **``infer batch``** (and the start of ``infer online``) never reads the policy: it serves
  ``active.json``'s model at 0.55 with no calibration.

:func:`inspect_deployment` reads all of it once, without raising and without writing, and
names every inconsistency as a :class:`Problem` (what, fix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD, LABELS
from taskclf_core.errors import Problem, RegistryError
from taskclf_core.fs.jsonfile import read_json
from taskclf_core.model.served import RAW_RULE, ServingRule
from taskclf_core.paths import Home
from taskclf_core.registry.calstore import STORE_FILE, StoreRecord, read_store
from taskclf_core.registry.pointer import ActiveState, inspect_active, resolve_model_dir
from taskclf_core.registry.policy import (
    POLICY_FILE,
    PolicyFile,
    read_policy_file,
    resolve_home_path,
)
from taskclf_core.registry.snapshot import remembered

POLICY_PATH: Final = "policy-aware path (tray; infer online after a policy reload)"
BATCH_PATH: Final = "infer batch (and infer online at start-up)"
Source = Literal["inference_policy.json", "active.json"]


@dataclass(frozen=True)
class StoreView:
    """A calibrator store a path uses: where, which method, whom, fitted for which model."""

    folder: str
    record: StoreRecord

    @property
    def method(self) -> str:
        return self.record.method

    @property
    def user_count(self) -> int:
        return self.record.user_count

    @property
    def fitted_for(self) -> str | None:
        return self.record.model_bundle_id

    def describe(self) -> str:
        """``"temperature (1 per-user calibrator, fitted for <model>)"``."""
        n = self.user_count
        per_user = f"{n} per-user calibrator{'s' if n != 1 else ''}"
        fitted = f"fitted for {self.fitted_for}" if self.fitted_for else "records no model"
        return f"{self.method} ({per_user}, {fitted})"


@dataclass(frozen=True)
class PathView:
    """What one of taskclf's serving paths serves now."""

    name: str
    model_id: str | None
    source: Source | None
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD
    per_user_thresholds: dict[str, float] = field(default_factory=dict)
    store: StoreView | None = None
    #: Why the policy was not used (the path fell back to ``active.json``).
    fallback: str | None = None
    #: Set when taskclf cannot serve on this path (it raises); nothing is served.
    error: str | None = None

    @property
    def rule(self) -> ServingRule:
        """Calibration and thresholds this path applies after the model."""
        if self.source != "inference_policy.json":
            return RAW_RULE
        return ServingRule(
            calibrators=self.store.record.calibrators if self.store else None,
            reject_threshold=self.reject_threshold,
            per_user_thresholds=dict(self.per_user_thresholds),
        )

    def describe_calibration(self) -> str:
        return self.store.describe() if self.store else "none (probabilities served as the model gives them)"

    def describe_threshold(self) -> str:
        text = f"{self.reject_threshold:g}"
        if self.per_user_thresholds:
            each = ", ".join(f"{u}: {t:g}" for u, t in sorted(self.per_user_thresholds.items()))
            text += f" (per user: {each})"
        return text


@dataclass(frozen=True)
class Deployment:
    """``active.json``, the policy file and what each taskclf path serves, read once."""

    active: ActiveState
    policy_file: PolicyFile
    served: PathView
    batch: PathView
    problems: tuple[Problem, ...] = ()

    @property
    def uses_policy(self) -> bool:
        """Whether taskclf's policy-aware path serves the policy (not the fallback)."""
        return self.served.source == "inference_policy.json"

    @property
    def champion_id(self) -> str | None:
        """The model the deployment names: the policy's where taskclf uses it, else ``active.json``'s."""
        return self.served.model_id

    @property
    def policy_sha256(self) -> str | None:
        return self.policy_file.sha256


def _store_view(home: Home, folder: str, model_id: str, schema_hash: str | None,
                problems: list[Problem]) -> tuple[StoreView | None, str | None]:
    """The store a policy names; (None, None) when the folder is missing (identity); (None, error)."""
    path = resolve_home_path(home, folder)
    if not path.is_dir():
        problems.append(Problem(
            "store_missing",
            f"the calibrator store {folder} named by {POLICY_FILE} does not exist: taskclf serves "
            f"{model_id} uncalibrated but keeps the policy's threshold, which was chosen for calibrated scores",
            "refit the calibrator (Retrain page, \"Refit the calibrator\", or `taskclf train calibrate`) "
            "or put the store folder back",
        ))
        return None, None
    if not (path / STORE_FILE).is_file():
        return None, f"the calibrator store {folder} has no {STORE_FILE}: taskclf's policy-aware path fails (FileNotFoundError)"
    try:
        record = read_store(path, shown=folder)
    except (RegistryError, OSError) as exc:
        return None, f"the calibrator store {folder} cannot be read ({exc}); taskclf's policy-aware path fails"
    view = StoreView(folder, record)
    if record.model_bundle_id is None:
        problems.append(Problem(
            "store_unbound", f"the calibrator store {folder} records no model it was fitted for",
            f"refit the calibrator for {model_id} so the store names its model", "note",
        ))
    elif record.model_bundle_id != model_id:
        problems.append(Problem(
            "store_other_model",
            f"the calibrator store {folder} was fitted for {record.model_bundle_id}, but the policy "
            f"serves {model_id}: taskclf applies it without checking",
            f"refit the calibrator for {model_id} (Retrain page, \"Refit the calibrator\", or "
            "`taskclf train calibrate`), then sign the refit off",
        ))
    if record.model_schema_hash and schema_hash and record.model_schema_hash != schema_hash:
        problems.append(Problem(
            "store_other_schema",
            f"the calibrator store {folder} was fitted for schema {record.model_schema_hash}; "
            f"{model_id} has schema {schema_hash}",
            f"refit the calibrator for {model_id}",
        ))
    if record.missing_users:
        problems.append(Problem(
            "store_users_missing",
            f"the calibrator store {folder} lists {len(record.missing_users)} user(s) without a file "
            f"({', '.join(record.missing_users[:3])}): taskclf serves them the global calibrator",
            "refit the calibrator",
        ))
    return view, None


def _metadata(home: Home, model_dir: str) -> dict[str, object] | None:
    try:
        raw = read_json(resolve_home_path(home, model_dir) / "metadata.json")
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _legacy(name: str, active: ActiveState, fallback: str | None) -> PathView:
    model = active.pointer.model_id if active.pointer is not None and active.problem is None else None
    error = active.problem
    if active.pointer is None and not active.exists:
        error = "no active.json: taskclf would select a model itself (and write active.json)"
    return PathView(name, model, "active.json", fallback=fallback, error=error)


def _policy_path(home: Home, pf: PolicyFile, active: ActiveState, problems: list[Problem]) -> PathView:
    policy = pf.policy
    shown = f"{home.models_dir.name}/{POLICY_FILE}"
    if policy is None:
        if pf.exists:
            problems.append(Problem(
                "policy_ignored",
                f"taskclf ignores {shown} ({pf.problem}) and serves active.json's model with threshold "
                "0.55 and no calibration on every path",
                "fix or remove the file (`taskclf policy remove`); a promotion from the console writes a valid one",
                "error",
            ))
            return _legacy(POLICY_PATH, active, pf.problem)
        return _legacy(POLICY_PATH, active, None)
    if not resolve_home_path(home, policy.model_dir).is_dir():
        why = f"its model_dir {policy.model_dir} does not exist"
        problems.append(Problem(
            "policy_ignored",
            f"taskclf ignores {shown} ({why}) and serves active.json's model with threshold 0.55 and no "
            "calibration, not the policy's threshold",
            "promote or roll back from the console (it writes the policy), or `taskclf policy remove`",
            "error",
        ))
        return _legacy(POLICY_PATH, active, why)
    model_id, outside = resolve_model_dir(home, policy.model_dir)
    shown_model = model_id or policy.model_dir
    if outside:
        problems.append(Problem(
            "policy_model_outside", f"{shown} serves {policy.model_dir}, which is not a bundle in "
            f"{home.models_dir.name}/: the console cannot manage it", "promote or roll back from the console",
        ))
    if not (resolve_home_path(home, policy.model_dir) / "model.txt").is_file():
        return PathView(POLICY_PATH, shown_model, "inference_policy.json", policy.reject_threshold,
                        error=f"{policy.model_dir} has no model.txt: taskclf's policy-aware path fails")
    meta = _metadata(home, policy.model_dir) or {}
    schema = meta.get("schema_hash") if isinstance(meta.get("schema_hash"), str) else None
    if schema and policy.model_schema_hash != schema:
        problems.append(Problem(
            "policy_other_schema",
            f"{shown} was written for schema {policy.model_schema_hash}, but {shown_model} has schema "
            f"{schema}: taskclf serves it without checking",
            "promote or roll back from the console to write a policy for the model served",
        ))
    if sorted(policy.model_label_set) != sorted(LABELS):
        problems.append(Problem(
            "policy_labels", f"{shown} lists labels {policy.model_label_set}, not taskclf's eight",
            "write the policy again (promote or roll back from the console)",
        ))
    store, error = (None, None)
    if policy.calibrator_store_dir:
        store, error = _store_view(home, policy.calibrator_store_dir, shown_model, str(schema) if schema else None, problems)
    per_user = dict(policy.per_user_reject_thresholds or {})
    for who, value in [("reject_threshold", policy.reject_threshold), *per_user.items()]:
        if not 0.0 < value <= 1.0:
            problems.append(Problem(
                "threshold_range",
                f"{shown}: threshold {value:g} for {who} is outside (0, 1]: "
                + ("every minute is rejected" if value > 1 else "no minute is ever rejected"),
                "set a threshold in (0, 1] (`serving.reject_threshold` in configs/retrain.yaml, then retrain)",
                "error" if value > 1 else "warning",
            ))
    if per_user:
        problems.append(Problem(
            "per_user_paths",
            f"{shown} sets per-user thresholds for {len(per_user)} user(s): only `infer online` after a "
            f"policy reload applies them; the tray and `infer batch` apply {policy.reject_threshold:g} to everyone",
            "nothing to fix in the console; expect the tray and batch output to reject differently for those users",
            "note",
        ))
    return PathView(POLICY_PATH, shown_model, "inference_policy.json", policy.reject_threshold, per_user,
                    store, error=error)


def inspect_deployment(home: Home) -> Deployment:
    """Read ``active.json``, the policy and its store once; what every taskclf path serves.

    Read once per ``registry.snapshot.one_read`` block (a render's snapshot).

    Never raises and never writes (taskclf's auto-repair of ``active.json`` is not done
    here: a broken pointer is reported).

    Args:
        home: The registry home.

    Returns:
        The deployment with its problems.
    """
    return remembered(("deployment", home), lambda: _inspect_deployment(home))


def _inspect_deployment(home: Home) -> Deployment:
    """:func:`inspect_deployment` without the snapshot's memory."""
    active = inspect_active(home)
    pf = read_policy_file(home)
    problems: list[Problem] = []
    served = _policy_path(home, pf, active, problems)
    batch = _legacy(BATCH_PATH, active, None)
    if served.source == "inference_policy.json" and served.model_id != batch.model_id:
        named = batch.model_id or "no usable model"
        problems.insert(0, Problem(
            "policy_active_differ",
            f"the inference policy ({home.models_dir.name}/{POLICY_FILE}) serves {served.model_id} to the tray and "
            "the online predictor, while "
            f"active.json names {named}, which `taskclf infer batch` serves: two paths serve two models",
            f"promote or roll back from the console (it moves both together), or make them agree: "
            f"`taskclf model set-active --model-id {served.model_id}`",
            "error",
        ))
    if served.error and served.source == "inference_policy.json":
        problems.insert(0, Problem("policy_unservable", served.error,
                                   "promote or roll back from the console to write a complete deployment", "error"))
    return Deployment(active, pf, served, batch, tuple(problems))


__all__ = ["BATCH_PATH", "POLICY_PATH", "Deployment", "PathView", "StoreView", "inspect_deployment"]
