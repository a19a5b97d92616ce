"""Champion changes: manual promotion, automatic promotion, rollback.

Whether a run may become champion is decided once, in ``registry.verdict`` (no lock:
the app and CLI use :func:`promotability` to enable the Promote button and to say why),
and the same rule is re-applied by :func:`promote` and :func:`promote_auto` under the
registry lock. A
change appends its history entry first and then replaces ``active.json`` (see
``taskclf_core.registry.history`` for why that order keeps the history exact across crashes).
"""

from __future__ import annotations

import shutil

from taskclf_core.access.approvals import Approval
from taskclf_core.access.identity import AUTO, Identity
from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD
from taskclf_core.errors import (
    BundleError,
    ChampionChanged,
    PromotionRefused,
    RegistryError,
)
from taskclf_core.fs.atomic import atomic_folder
from taskclf_core.fs.faultpoints import faultpoint
from taskclf_core.notify import emit
from taskclf_core.paths import Home
from taskclf_core.registry.bundle import LoadedBundle
from taskclf_core.registry.deploychange import (
    NewDeployment,
    complete_interrupted_change,
    deployment_for_rollback,
    deployment_of_run,
    install_store,
    move_files,
)
from taskclf_core.registry.deployment import Deployment, inspect_deployment
from taskclf_core.registry.deployrecord import DEPLOYMENT_FILE, record_of
from taskclf_core.registry.events import change_event
from taskclf_core.registry.history import (
    HistoryEntry,
    append_history,
    inspect_history,
    new_change_id,
)
from taskclf_core.registry.installed import load_installed
from taskclf_core.registry.metadata import BUNDLE_FILES
from taskclf_core.registry.pointer import (
    POLICY_VERSION,
    Action,
    ActivePointer,
    ActiveState,
    PointerReason,
    pointer_model_dir,
    registry_lock,
)
from taskclf_core.registry.requested import RunRequested
from taskclf_core.registry.runids import validate_model_id, validate_run_id
from taskclf_core.registry.runs import (
    read_run,
)
from taskclf_core.registry.signoff import validate_signoff
from taskclf_core.registry.stamps import sha256_file, utc_now_iso
from taskclf_core.registry.verdict import (
    ANY_CHAMPION,
    FROM_RUN,
    AnyChampion,
    FromRun,
    PromotionCheck,
    check_promotion,
    raise_refusal,
)


def _commit(
    home: Home,
    *,
    action: Action,
    bundle: LoadedBundle,
    model_id: str,
    state: ActiveState,
    approver: str,
    note: str,
    dataset_hash: str,
    gates_summary: str,
    actor: Identity | None = None,
    approvals: tuple[Approval, ...] = (),
    new: NewDeployment | None = None,
    run_id: str | None = None,
    requested: RunRequested | None = None,
) -> HistoryEntry:
    """Append the history entry, then move the policy and the pointer (the caller holds the lock);
    then announce the change (``notify``: queued, never waited for).

    ``new`` says what happens to ``inference_policy.json`` (see ``registry.deploychange``
    for the order of the writes); None leaves it as it is.

    The entry links to the pointer it replaces, and only to that: when ``active.json``
    is unreadable (a rollback repairing it) it links to nothing and records the gap,
    since the last line on file may be a change that never took effect.
    """
    before = state.pointer
    gap = None
    if before is None and state.exists:
        gap = (
            f"{home.models_dir.name}/active.json was unreadable when this change was made "
            f"({state.problem}); the changes before it cannot be confirmed"
        )
    change_id = new_change_id()
    new = new or NewDeployment(model_id, "keep")
    deployment_before = record_of(inspect_deployment(home)) if new.action != "keep" else None
    if new.remark:
        note = f"{note} ({new.remark})"
    reason = PointerReason.model_validate(
        {
            "action": action,
            "approver": approver,
            "note": note,
            "metric": "macro_f1",
            "macro_f1": bundle.metrics.macro_f1,
            "weighted_f1": bundle.metrics.weighted_f1,
        }
    )
    pointer = ActivePointer(
        model_dir=pointer_model_dir(home, model_id),
        selected_at=utc_now_iso(),
        policy_version=POLICY_VERSION,
        model_id=model_id,
        reason=reason,
        change_id=change_id,
        model_sha256=bundle.metadata.model_sha256 or None,
    )
    entry = HistoryEntry(
        change_id=change_id,
        previous_change_id=before.change_id if before is not None else None,
        time=pointer.selected_at,
        action=action,
        approver=approver,
        note=note,
        previous_champion=before.model_id if before else None,
        new_champion=model_id,
        run_id=run_id or model_id,
        dataset_hash=dataset_hash,
        gates_summary=gates_summary,
        macro_f1=bundle.metrics.macro_f1,
        gap=gap,
        at=pointer.selected_at,
        old=before,
        new=pointer,
        actor=actor,
        approvals=approvals,
        deployment_before=deployment_before,
        deployment_after=new.record,
        requested=requested,
    )
    append_history(home, entry)
    faultpoint("commit.appended")
    move_files(home, new, pointer)
    faultpoint("commit.done")
    emit(home, change_event(entry))
    return entry


def _apply_refit(
    home: Home, verdict: PromotionCheck, *, approver: str, note: str, actor: Identity | None = None,
    approvals: tuple[Approval, ...] = (),
) -> HistoryEntry:
    """A calibrator refit: a new store and policy for the same model, and a pointer naming the change."""
    assert verdict.record is not None and verdict.state is not None
    record = verdict.record
    model = record.decision.calibrated_model
    assert model is not None
    try:
        bundle = load_installed(home, model, parse_model=False)
    except BundleError as exc:
        raise PromotionRefused(f"calibrator refit {record.run_id}: the champion's bundle is broken ({exc})") from exc
    new = deployment_of_run(home, record.run_id, (record.path / DEPLOYMENT_FILE).read_bytes(),
                            bundle.metadata.schema_version, inspect_deployment(home), model_id=model)
    install_store(home, new)
    return _commit(home, action="recalibrate", bundle=bundle, model_id=model, state=verdict.state, approver=approver,
                   note=note, dataset_hash=record.decision.dataset_hash, gates_summary=record.decision.gates_summary,
                   actor=actor, approvals=approvals, new=new, run_id=record.run_id,
                   requested=record.decision.requested)


def _install_and_commit(
    home: Home, verdict: PromotionCheck, *, action: Action, approver: str, note: str,
    actor: Identity | None = None, approvals: tuple[Approval, ...] = (),
) -> HistoryEntry:
    assert verdict.record is not None and verdict.state is not None
    record = verdict.record
    if record.decision.kind == "calibration":
        return _apply_refit(home, verdict, approver=approver, note=note, actor=actor, approvals=approvals)
    rid = record.run_id
    target = home.models_dir / rid
    label = f"{home.models_dir.name}/{rid}"
    if target.is_symlink():
        raise PromotionRefused(f"{label} is a symbolic link; refused (move it aside)")
    if not target.exists():
        with atomic_folder(target) as tmp:
            for name in BUNDLE_FILES:
                faultpoint("promote.copy")
                shutil.copyfile(record.path / name, tmp / name, follow_symlinks=False)
                if sha256_file(tmp / name) != record.decision.manifest[name]:
                    raise PromotionRefused(
                        f"run {rid}: {name} changed while it was copied to {label}; promote again"
                    )
    faultpoint("promote.installed")
    # Either just copied, or left complete by a promotion that stopped before the pointer.
    try:
        bundle = load_installed(home, rid, parse_model=False)
    except BundleError as exc:
        raise PromotionRefused(
            f"{label} already exists and differs from run {rid} ({exc}); "
            "move it aside, then promote again"
        ) from exc
    deployment_file = record.path / DEPLOYMENT_FILE
    new = deployment_of_run(
        home, rid, deployment_file.read_bytes() if DEPLOYMENT_FILE in record.decision.manifest else None,
        bundle.metadata.schema_version, inspect_deployment(home),
    )
    install_store(home, new)
    return _commit(
        home,
        action=action,
        bundle=bundle,
        model_id=rid,
        state=verdict.state,
        approver=approver,
        note=note,
        dataset_hash=record.decision.dataset_hash,
        gates_summary=record.decision.gates_summary,
        actor=actor,
        approvals=approvals,
        new=new,
        requested=record.decision.requested,
    )


def promote(
    home: Home,
    run_id: str,
    *,
    approver: str,
    note: str,
    auto_promote: bool,
    expected_champion: str | None | FromRun = FROM_RUN,
    actor: Identity | None = None,
    approvals: tuple[Approval, ...] = (),
) -> HistoryEntry:
    """Sign off a run awaiting sign-off and make its model the champion.

    Re-checks everything under the registry lock (see :func:`promotability`), copies the
    run's bundle to ``models/<run_id>/`` (atomically; reused if a stopped promotion left
    it complete), appends the history entry, then replaces ``active.json``.

    Args:
        home: The registry home.
        run_id: The run to promote (validated).
        approver: Who signs off (required, non-blank).
        note: Why (required, non-blank).
        auto_promote: The effective ``auto_promote`` of the configuration; must be off.
        expected_champion: The champion the promotion must replace (compare-and-swap);
            by default the one recorded in the run's ``champion_compared``.

    Returns:
        The history entry of the change.

    Raises:
        RunIdError: ``run_id`` is malformed or names no run.
        PromotionRefused: The run may not be promoted; the message says why.
        ChampionChanged: The champion is no longer the expected one.
        BusyError: Another change held the registry lock too long.
    """
    run_id = validate_run_id(run_id)
    approver, note = validate_signoff(approver, note, "promote")
    with registry_lock(home):
        faultpoint("promote.locked")
        complete_interrupted_change(home)
        verdict = check_promotion(
            home, run_id, auto_promote=auto_promote, automatic=False, expected=expected_champion
        )
        raise_refusal(verdict)
        return _install_and_commit(
            home, verdict, action="promote", approver=approver, note=note, actor=actor, approvals=approvals
        )


def promote_auto(
    home: Home, run_id: str, *, expected_champion: str | None | FromRun = FROM_RUN
) -> HistoryEntry:
    """Make the model of a run with outcome ``promoted`` the champion (the pipeline's step).

    Same checks and compare-and-swap as :func:`promote`, with action ``auto_promote``,
    approver ``auto`` and the run's reason as the note. The pipeline may hold
    :func:`registry_lock` around ``write_run`` and this call (the lock is re-entrant).

    Args:
        home: The registry home.
        run_id: The run just written with outcome ``promoted``.
        expected_champion: As for :func:`promote`.

    Returns:
        The history entry of the change.

    Raises:
        RunIdError: ``run_id`` is malformed or names no run.
        PromotionRefused: The run's outcome is not ``promoted`` or its files are not intact.
        ChampionChanged: The champion changed while the run was evaluated.
        BusyError: Another change held the registry lock too long.
    """
    run_id = validate_run_id(run_id)
    with registry_lock(home):
        complete_interrupted_change(home)
        verdict = check_promotion(
            home, run_id, auto_promote=True, automatic=True, expected=expected_champion
        )
        raise_refusal(verdict)
        assert verdict.record is not None
        note = verdict.record.decision.reason or "all gates passed with auto_promote on"
        return _install_and_commit(home, verdict, action="auto_promote", approver="auto", note=note, actor=AUTO)


def check_rollback(
    home: Home, model_id: str, *, expected_champion: str | None | AnyChampion = ANY_CHAMPION
) -> tuple[Deployment, LoadedBundle, str]:
    """Whether the champion may be rolled back to ``model_id`` now; the caller holds the lock.

    The checks :func:`rollback` makes before it changes anything, also used to refuse a
    pending approval of a rollback that could not happen (``registry.approve``).

    Returns:
        The deployment now, the target's bundle and its gates summary.

    Raises:
        PromotionRefused, ChampionChanged: as for :func:`rollback`.
    """
    label = f"{home.models_dir.name}/{model_id}"
    target = home.models_dir / model_id
    if target.is_symlink():
        raise PromotionRefused(f"cannot roll back to {model_id}: {label} is a symbolic link; refused")
    if not target.is_dir():
        raise PromotionRefused(
            f"there is no promoted model {model_id} in {home.models_dir.name}/; roll back "
            "only to a model listed there"
        )
    deployment = inspect_deployment(home)
    state = deployment.active
    current = state.pointer
    served_now = deployment.champion_id if deployment.uses_policy else (
        current.model_id if current is not None and state.problem is None else None)
    if served_now == model_id and not any(p.severity == "error" for p in deployment.problems):
        raise PromotionRefused(f"model {model_id} is already the champion")
    if not isinstance(expected_champion, AnyChampion):
        now_id = deployment.champion_id if deployment.uses_policy else (current.model_id if current else None)
        if expected_champion != now_id:
            raise ChampionChanged(
                f"the champion changed since the rollback was chosen (was "
                f"{expected_champion or 'none'}, now {now_id or 'none'}); "
                "review the history and try again"
            )
    if model_id not in inspect_history(home).applied:
        raise PromotionRefused(
            f"cannot roll back to {model_id}: it was never champion in the applied history "
            f"({label} is left over from a promotion that never took effect); roll back "
            "only to a former champion, or promote its run"
        )
    try:
        bundle = load_installed(home, model_id, parse_model=False)
    except BundleError as exc:
        raise PromotionRefused(f"cannot roll back to {model_id}: {exc}") from exc
    try:
        gates_summary = read_run(home, model_id).decision.gates_summary
    except RegistryError:
        gates_summary = f"n/a ({bundle.origin}; no run record)"
    return deployment, bundle, gates_summary


def rollback(
    home: Home,
    model_id: str,
    *,
    approver: str,
    note: str,
    expected_champion: str | None | AnyChampion = ANY_CHAMPION,
    actor: Identity | None = None,
    approvals: tuple[Approval, ...] = (),
) -> HistoryEntry:
    """Make a former champion the champion again.

    Only models that were champion in the applied history are targets: a bundle left in
    ``models/`` by a promotion that never took effect is not (its gates and sign-off
    were never completed). A pointer taskclf wrote counts as applied. Works when
    ``active.json`` is invalid or names a broken bundle: rolling back to a good former
    champion is the fix for that.

    Args:
        home: The registry home.
        model_id: A bundle under ``models/`` (validated: one of our run ids or a
            taskclf bundle name).
        approver: Who decides (required; see ``registry.signoff``).
        note: Why (required; see ``registry.signoff``).
        expected_champion: If given, the champion the rollback must replace
            (compare-and-swap, as shown to the person deciding); default: no check.
        actor: Who decides, as established (``access.identity``).
        approvals: The sign-offs that led to it (two under the two-person rule).

    Returns:
        The history entry of the change.

    Raises:
        RunIdError: ``model_id`` is malformed.
        PromotionRefused: No such model, it was never champion, its bundle is broken,
            it is already the champion, or the approver or note is not allowed.
        ChampionChanged: The champion is no longer ``expected_champion``.
        BusyError: Another change held the registry lock too long.
    """
    model_id = validate_model_id(model_id)
    approver, note = validate_signoff(approver, note, "roll back")
    with registry_lock(home):
        faultpoint("rollback.locked")
        complete_interrupted_change(home)
        deployment, bundle, gates_summary = check_rollback(home, model_id, expected_champion=expected_champion)
        state = deployment.active
        new = deployment_for_rollback(home, model_id, deployment, schema_hash=bundle.metadata.schema_hash,
                                      bundle_threshold=bundle.metadata.reject_threshold or DEFAULT_REJECT_THRESHOLD)
        return _commit(
            home,
            action="rollback",
            bundle=bundle,
            model_id=model_id,
            state=state,
            approver=approver,
            note=note,
            dataset_hash=bundle.metadata.dataset_hash,
            gates_summary=gates_summary,
            actor=actor,
            approvals=approvals,
            new=new,
        )
