"""Whether a run may become champion now: the one rule, for buttons and for the change itself.

:func:`promotability` answers without the lock (the app and CLI enable the Promote button
and say why); ``promotion.promote`` and ``promotion.promote_auto`` re-apply the same
:func:`check_promotion` under the registry lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from taskclf_core.errors import (
    BundleError,
    ChampionChanged,
    PromotionRefused,
    RegistryError,
    RunIdError,
)
from taskclf_core.fs.jsonfile import read_json
from taskclf_core.paths import Home
from taskclf_core.registry.deployment import inspect_deployment
from taskclf_core.registry.history import inspect_history
from taskclf_core.registry.installed import load_installed, verify_installed
from taskclf_core.registry.pointer import ActiveState
from taskclf_core.registry.runs import (
    RunRecord,
    auto_promotion_interrupted,
    read_run,
    verify_record,
)


class FromRun:
    def __repr__(self) -> str:
        return "FROM_RUN"


class AnyChampion:
    def __repr__(self) -> str:
        return "ANY_CHAMPION"


#: ``promote(expected_champion=FROM_RUN)``: expect the champion the run was compared against.
FROM_RUN: Final = FromRun()
#: ``rollback(expected_champion=ANY_CHAMPION)``: no compare-and-swap on the current champion.
ANY_CHAMPION: Final = AnyChampion()


@dataclass(frozen=True)
class PromotionCheck:
    """Whether a run may become champion now (:func:`check_promotion`), and why.

    ``why`` is said of ``subject`` (``"run <id>"``, ``"calibrator refit <id>"``) when the
    reason is about the run itself; a page that already names the run shows ``why`` alone.
    """

    ok: bool
    why: str
    subject: str | None = None
    error: type[RegistryError] = PromotionRefused
    record: RunRecord | None = None
    state: ActiveState | None = None

    @property
    def reason(self) -> str:
        """The whole sentence: ``"run <id> is a dry run: …"``."""
        return f"{self.subject} {self.why}" if self.subject else self.why


def _refuse(why: str, subject: str | None = None) -> PromotionCheck:
    return PromotionCheck(ok=False, why=why, subject=subject)


def gates_on_file(record: RunRecord) -> tuple[list[str], str | None]:
    """The failed gates recorded in the run's ``gates.json``, recomputed from each gate.

    ``gates.json`` maps a gate group to ``{"all_passed": ..., "gates": [{"name", "passed",
    "skipped", ...}]}``. A gate failed when it neither passed nor was skipped.

    Returns:
        ``(failed gate names, None)``, or ``([], problem)`` when the file is missing,
        unreadable or not a gates record.
    """
    try:
        raw = read_json(record.file("gates.json"))
    except RegistryError:
        return [], f"run {record.run_id} has no gates.json in its manifest"
    except (OSError, ValueError) as exc:
        return [], f"run {record.run_id}: gates.json is not valid JSON ({exc})"
    failed: list[str] = []
    problem = f"run {record.run_id}: gates.json is not a record of gates"
    if not isinstance(raw, dict) or not raw:
        return [], problem
    for group in raw.values():
        gates = group.get("gates") if isinstance(group, dict) else None
        if not isinstance(gates, list):
            return [], problem
        for gate in gates:
            if not (
                isinstance(gate, dict)
                and isinstance(gate.get("name"), str)
                and isinstance(gate.get("passed"), bool)
                and isinstance(gate.get("skipped", False), bool)
            ):
                return [], problem
            if not gate["passed"] and not gate.get("skipped", False):
                failed.append(gate["name"])
        if group.get("all_passed") is True and any(
            not g["passed"] and not g.get("skipped", False) for g in gates
        ):
            return [], f"{problem}: group all_passed contradicts its gates"
    return sorted(set(failed)), None


def _decision_disagrees(record: RunRecord) -> str | None:
    """Why ``decision.json`` contradicts ``gates.json``, or None when they agree."""
    decision = record.decision
    failed, problem = gates_on_file(record)
    if problem:
        return f"{problem}; the verdict cannot be recomputed"
    if failed:
        return (
            f"run {record.run_id}: decision.json says {decision.outcome!r} but gates.json "
            f"records failed gate(s) {', '.join(failed)}; the files disagree (edited?)"
        )
    if decision.failed_gates:
        return (
            f"run {record.run_id}: decision.json lists failed gate(s) "
            f"{', '.join(decision.failed_gates)} with outcome {decision.outcome!r}; the files "
            "disagree (edited?)"
        )
    return None


def _champion_sha(home: Home, model_id: str | None) -> str | None:
    """The champion's model hash (recorded, or of its ``model.txt``); None without a usable one."""
    if model_id is None:
        return None
    try:
        return load_installed(home, model_id, parse_model=False).model_sha256
    except BundleError:
        return None


def _policy_change(before: str | None, now: str | None) -> str:
    if before is None:
        return "was created"
    if now is None:
        return "was removed"
    return f"changed ({before[:12]}… → {now[:12]}…)"


def check_promotion(
    home: Home,
    run_id: str,
    *,
    auto_promote: bool,
    automatic: bool,
    expected: str | None | FromRun,
) -> PromotionCheck:
    """The one place that decides whether a run may become champion now."""
    try:
        record = read_run(home, run_id)
    except RunIdError as exc:
        return PromotionCheck(ok=False, why=str(exc), error=RunIdError)
    except RegistryError as exc:
        return _refuse(f"{exc}; it cannot be promoted")
    rid, decision = record.run_id, record.decision
    if decision.kind == "calibration":
        return _check_refit(home, record, auto_promote=auto_promote, automatic=automatic)
    if decision.outcome == "dry_run":
        return _refuse("is a dry run: dry runs are never promotable; start a real run", f"run {rid}")
    if decision.outcome == "rejected":
        gates = ", ".join(decision.failed_gates or gates_on_file(record)[0]) or "(see gates.json)"
        return _refuse(f"was rejected by gate(s) {gates}; it can never be promoted", f"run {rid}")
    if automatic:
        if decision.outcome != "promoted" or not decision.auto_promote:
            return _refuse(
                f"has outcome {decision.outcome!r} with auto_promote "
                f"{'on' if decision.auto_promote else 'off'}; automatic promotion needs "
                "outcome 'promoted' from a run with auto_promote on", f"run {rid}"
            )
    else:
        if decision.outcome == "promoted":
            if auto_promotion_interrupted(home, rid):
                return _refuse(
                    "was saved as promoted but its automatic promotion never took "
                    "effect (it was interrupted before the champion pointer moved); it cannot "
                    "be promoted by hand: run the retrain again", f"run {rid}"
                )
            return _refuse(
                "has outcome 'promoted' (it was promoted automatically when it "
                "ran); only runs awaiting sign-off are promoted by hand", f"run {rid}"
            )
        if auto_promote:
            return _refuse("auto_promote is on in configs/retrain.yaml: promotion is automatic")
    problem = verify_record(record)
    if problem:
        return _refuse(f"cannot be promoted because its files are not intact: {problem}", f"run {rid}")
    problem = _decision_disagrees(record)
    if problem:
        return _refuse(f"{problem}; it cannot be promoted")

    deployment = inspect_deployment(home)
    state = deployment.active
    current = state.pointer
    # The champion is what the deployment serves: the policy's model where taskclf uses one.
    now_id = deployment.champion_id if deployment.uses_policy else (current.model_id if current else None)
    if now_id == rid and (deployment.uses_policy or state.problem is None):
        return _refuse("is already the champion", f"run {rid}")
    earlier = next((e for e in inspect_history(home).entries if e.new_champion == rid), None)
    if earlier is not None:
        return _refuse(
            f"was already promoted ({earlier.describe()}); use rollback to make it champion again", f"run {rid}"
        )
    installed = home.models_dir / rid
    if installed.is_symlink():
        return _refuse(f"models/{rid} is a symbolic link; refused (move it aside)")
    if installed.exists():
        broken = verify_installed(home, rid)
        if broken:
            return _refuse(
                f"models/{rid} already exists and is broken ({broken}); "
                "move it aside, then promote again"
            )
    if state.problem and not deployment.uses_policy:
        return _refuse(
            f"the champion pointer is broken ({state.problem}); roll back to a listed good "
            "bundle first"
        )

    if isinstance(expected, FromRun):
        compared = decision.champion_compared
        expected_id = compared.run_id if compared else None
        expected_sha = compared.model_sha256 if compared else None
    else:
        expected_id, expected_sha = expected, None
    now_sha = _champion_sha(home, now_id)
    if expected_id != now_id or (expected_sha and now_sha and expected_sha != now_sha):
        was, now = expected_id or "none", now_id or "none"
        if was == now:  # same id, different bytes: only possible if a bundle was replaced
            was, now = f"{was} ({(expected_sha or '')[:12]})", f"{now} ({(now_sha or '')[:12]})"
        return PromotionCheck(
            ok=False,
            why=(
                f"the champion changed since this run was evaluated (was {was}, now {now}); "
                "re-run the retrain to compare against the new champion"
            ),
            error=ChampionChanged,
        )
    read = decision.deployment_compared
    if isinstance(expected, FromRun) and read is not None and read.policy_sha256 != deployment.policy_sha256:
        return PromotionCheck(
            ok=False,
            why=(
                f"the deployment changed since this run was evaluated ({home.models_dir.name}/inference_policy.json "
                f"{_policy_change(read.policy_sha256, deployment.policy_sha256)}): the champion was judged as "
                "served then; re-run the retrain to compare against the deployment now"
            ),
            error=ChampionChanged,
        )
    replaces = f"champion {now_id}" if now_id else "no champion (this will be the first)"
    return PromotionCheck(
        ok=True,
        why=f"passed every gate and can be promoted; it replaces {replaces}",
        subject=f"run {rid}",
        record=record,
        state=state,
    )


def _check_refit(home: Home, record: RunRecord, *, auto_promote: bool, automatic: bool) -> PromotionCheck:
    """Whether a calibrator refit may be applied now: its gates passed, its files are intact,
    and the champion and its deployment are still the ones it was judged against."""
    rid, decision = record.run_id, record.decision
    model = decision.calibrated_model
    if decision.outcome == "dry_run":
        return _refuse("is a dry run: dry runs are never applied; start a real refit", f"calibrator refit {rid}")
    if decision.outcome == "rejected":
        gates = ", ".join(decision.failed_gates or gates_on_file(record)[0]) or "(see gates.json)"
        return _refuse(f"was rejected by gate(s) {gates}; it can never be applied", f"calibrator refit {rid}")
    wanted = "promoted" if automatic else "awaiting_signoff"
    if decision.outcome != wanted:
        return _refuse(f"has outcome {decision.outcome!r}; only refits awaiting sign-off are signed off", f"calibrator refit {rid}")
    if auto_promote and not automatic:
        return _refuse("auto_promote is on in configs/retrain.yaml: promotion is automatic")
    problem = verify_record(record) or _decision_disagrees(record)
    if problem:
        return _refuse(f"cannot be applied: {problem}", f"calibrator refit {rid}")
    if any(e.run_id == rid for e in inspect_history(home).entries):
        return _refuse("was already applied", f"calibrator refit {rid}")
    deployment = inspect_deployment(home)
    now_id = deployment.champion_id
    if now_id != model:
        return PromotionCheck(ok=False, error=ChampionChanged, why=(
            f"the champion changed since this refit was evaluated (it refitted {model}, the champion is now "
            f"{now_id or 'none'}); refit the calibrator of the champion now"))
    read = decision.deployment_compared
    if read is not None and read.policy_sha256 != deployment.policy_sha256:
        return PromotionCheck(ok=False, error=ChampionChanged, why=(
            f"the deployment changed since this refit was evaluated ({home.models_dir.name}/inference_policy.json "
            f"{_policy_change(read.policy_sha256, deployment.policy_sha256)}); start a new refit"))
    return PromotionCheck(ok=True, record=record, state=deployment.active, subject=f"calibrator refit {rid}", why=(
        f"passed every gate and can be applied: {model} keeps serving, with the refitted calibrator and threshold"))


def promotion_check(home: Home, run_id: str, *, auto_promote: bool) -> PromotionCheck:
    """Whether a person may promote a run now, and why (or why not), without the lock.

    The same rule :func:`promote` applies under the lock; front ends use it to enable the
    Promote button and to write the reason beside it.

    Args:
        home: The registry home.
        run_id: The run id (from a URL or CLI; validated here).
        auto_promote: The effective ``auto_promote`` of ``configs/retrain.yaml``.
    """
    return check_promotion(home, run_id, auto_promote=auto_promote, automatic=False, expected=FROM_RUN)


def promotability(home: Home, run_id: str, *, auto_promote: bool) -> tuple[bool, str]:
    """:func:`promotion_check` as ``(can_promote, reason)``: one sentence either way."""
    check = promotion_check(home, run_id, auto_promote=auto_promote)
    return check.ok, check.reason


def raise_refusal(verdict: PromotionCheck) -> None:
    """Raise the verdict's error with its reason when it refuses; else do nothing."""
    if not verdict.ok:
        raise verdict.error(verdict.reason)
