"""Champion changes: promotability, manual promotion, automatic promotion, rollback.

Whether a run may become champion is decided once, in :func:`promotability` (no lock:
the app and CLI use it to enable the Promote button and to say why), and the same rule
is re-applied by :func:`promote` and :func:`promote_auto` under the registry lock. A
change appends its history entry first and then replaces ``active.json`` (see
``taskclf_core.registry.history`` for why that order keeps the history exact across crashes).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from typing import Final

from taskclf_core.errors import (
    BundleError,
    ChampionChanged,
    PromotionRefused,
    RegistryError,
    RunIdError,
)
from taskclf_core.fs.atomic import atomic_folder
from taskclf_core.fs.faultpoints import faultpoint
from taskclf_core.paths import Home
from taskclf_core.registry.bundle import (
    BUNDLE_FILES,
    MODEL_FILE,
    LoadedBundle,
    load_bundle,
    sha256_file,
    utc_now_iso,
    verify_bundle,
)
from taskclf_core.registry.history import (
    HistoryEntry,
    append_history,
    inspect_history,
    last_change_id_in_file,
    new_change_id,
)
from taskclf_core.registry.pointer import (
    POLICY_VERSION,
    Action,
    ActivePointer,
    ActiveState,
    PointerReason,
    inspect_active,
    registry_lock,
    write_active,
)
from taskclf_core.registry.runids import validate_run_id
from taskclf_core.registry.runs import (
    RunRecord,
    auto_promotion_interrupted,
    read_run,
    verify_record,
)


class _FromRun:
    def __repr__(self) -> str:
        return "FROM_RUN"


class _AnyChampion:
    def __repr__(self) -> str:
        return "ANY_CHAMPION"


#: ``promote(expected_champion=FROM_RUN)``: expect the champion the run was compared against.
FROM_RUN: Final = _FromRun()
#: ``rollback(expected_champion=ANY_CHAMPION)``: no compare-and-swap on the current champion.
ANY_CHAMPION: Final = _AnyChampion()


@dataclass(frozen=True)
class _Verdict:
    ok: bool
    reason: str
    error: type[RegistryError] = PromotionRefused
    record: RunRecord | None = None
    state: ActiveState | None = None


def _refuse(reason: str) -> _Verdict:
    return _Verdict(ok=False, reason=reason)


def _failed_gates_on_file(record: RunRecord) -> list[str]:
    """Names of failed gates found in ``gates.json`` (best effort, for the message only)."""
    try:
        raw = json.loads(record.file("gates.json").read_text(encoding="utf-8"))
    except (RegistryError, OSError, ValueError):
        return []
    names: list[str] = []
    stack: list[object] = [raw]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get("name")
            if isinstance(name, str) and item.get("passed") is False and not item.get("skipped"):
                names.append(name)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(set(names))


def _judge(
    home: Home,
    run_id: str,
    *,
    auto_promote: bool,
    automatic: bool,
    expected: str | None | _FromRun,
) -> _Verdict:
    """The one place that decides whether a run may become champion now."""
    try:
        record = read_run(home, run_id)
    except RunIdError as exc:
        return _Verdict(ok=False, reason=str(exc), error=RunIdError)
    except RegistryError as exc:
        return _refuse(f"{exc}; it cannot be promoted")
    rid, decision = record.run_id, record.decision
    if decision.outcome == "dry_run":
        return _refuse(f"run {rid} is a dry run: dry runs are never promotable; start a real run")
    if decision.outcome == "rejected":
        gates = (
            ", ".join(decision.failed_gates or _failed_gates_on_file(record)) or "(see gates.json)"
        )
        return _refuse(f"run {rid} was rejected by gate(s) {gates}; it can never be promoted")
    if automatic:
        if decision.outcome != "promoted" or not decision.auto_promote:
            return _refuse(
                f"run {rid} has outcome {decision.outcome!r} with auto_promote "
                f"{'on' if decision.auto_promote else 'off'}; automatic promotion needs "
                "outcome 'promoted' from a run with auto_promote on"
            )
    else:
        if decision.outcome == "promoted":
            if auto_promotion_interrupted(home, rid):
                return _refuse(
                    f"run {rid} was saved as promoted but its automatic promotion never took "
                    "effect (it was interrupted before the champion pointer moved); it cannot "
                    "be promoted by hand: run the retrain again"
                )
            return _refuse(
                f"run {rid} has outcome 'promoted' (it was promoted automatically when it "
                "ran); only runs awaiting sign-off are promoted by hand"
            )
        if auto_promote:
            return _refuse("auto_promote is on in configs/retrain.yaml: promotion is automatic")
    problem = verify_record(record)
    if problem:
        return _refuse(f"run {rid} cannot be promoted because its files are not intact: {problem}")

    state = inspect_active(home)
    current = state.pointer
    if current is not None and current.model_id == rid and state.problem is None:
        return _refuse(f"run {rid} is already the champion")
    earlier = next((e for e in inspect_history(home).entries if e.new_champion == rid), None)
    if earlier is not None:
        return _refuse(
            f"run {rid} was already promoted ({earlier.describe()}); "
            "use rollback to make it champion again"
        )
    installed = home.models_dir / rid
    if installed.exists():
        broken = verify_bundle(installed, label=f"models/{rid}")
        if broken:
            return _refuse(
                f"models/{rid} already exists and is broken ({broken}); "
                "move it aside, then promote again"
            )
    if state.problem:
        return _refuse(
            f"the champion pointer is broken ({state.problem}); roll back to a listed good "
            "bundle first"
        )

    if isinstance(expected, _FromRun):
        compared = decision.champion_compared
        expected_id = compared.run_id if compared else None
        expected_sha = compared.model_sha256 if compared else None
    else:
        expected_id, expected_sha = expected, None
    now_id = current.model_id if current else None
    now_sha = current.model_sha256 if current else None
    if expected_id != now_id or (expected_sha and now_sha and expected_sha != now_sha):
        was, now = expected_id or "none", now_id or "none"
        if was == now:  # same id, different bytes: only possible if a bundle was replaced
            was, now = f"{was} ({(expected_sha or '')[:12]})", f"{now} ({(now_sha or '')[:12]})"
        return _Verdict(
            ok=False,
            reason=(
                f"the champion changed since this run was evaluated (was {was}, now {now}); "
                "re-run the retrain to compare against the new champion"
            ),
            error=ChampionChanged,
        )
    replaces = f"champion {now_id}" if now_id else "no champion (this will be the first)"
    return _Verdict(
        ok=True,
        reason=f"run {rid} passed every gate and can be promoted; it replaces {replaces}",
        record=record,
        state=state,
    )


def promotability(home: Home, run_id: str, *, auto_promote: bool) -> tuple[bool, str]:
    """Whether a person may promote a run now, and why (or why not), without the lock.

    The same rule :func:`promote` applies under the lock; front ends use it to enable the
    Promote button and to write the reason beside it.

    Args:
        home: The registry home.
        run_id: The run id (from a URL or CLI; validated here).
        auto_promote: The effective ``auto_promote`` of ``configs/retrain.yaml``.

    Returns:
        ``(can_promote, reason)``: one sentence either way.
    """
    verdict = _judge(home, run_id, auto_promote=auto_promote, automatic=False, expected=FROM_RUN)
    return verdict.ok, verdict.reason


def _require_signoff(approver: object, note: object, verb: str) -> tuple[str, str]:
    if not isinstance(approver, str) or not approver.strip():
        raise PromotionRefused(f"an approver is required to {verb}; got {approver!r}")
    if not isinstance(note, str) or not note.strip():
        raise PromotionRefused(f"a note is required to {verb} (say why); got {note!r}")
    return approver.strip(), note.strip()


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
) -> HistoryEntry:
    """Append the history entry, then move the pointer (the caller holds the lock)."""
    before = state.pointer
    previous_change_id: str | None
    if before is not None:
        previous_change_id = before.change_id
    elif state.exists:
        # active.json is unreadable (a rollback repairing it): link to the last entry on
        # file, the best available guess at the chain head, so older history stays reachable.
        previous_change_id = last_change_id_in_file(home)
    else:
        previous_change_id = None  # no pointer: nothing took effect before
    entry = HistoryEntry(
        change_id=new_change_id(),
        previous_change_id=previous_change_id,
        time=utc_now_iso(),
        action=action,
        approver=approver,
        note=note,
        previous_champion=before.model_id if before else None,
        new_champion=model_id,
        run_id=model_id,
        dataset_hash=dataset_hash,
        gates_summary=gates_summary,
        macro_f1=bundle.metrics.macro_f1,
    )
    append_history(home, entry)
    faultpoint("commit.appended")
    pointer = ActivePointer(
        model_dir=f"models/{model_id}",
        model_id=model_id,
        selected_at=entry.time,
        policy_version=POLICY_VERSION,
        reason=PointerReason(action=action, approver=approver, note=note, macro_f1=entry.macro_f1),
        change_id=entry.change_id,
        model_sha256=bundle.metadata.model_sha256,
    )
    write_active(home, pointer)
    faultpoint("commit.done")
    return entry


def _install_and_commit(
    home: Home, verdict: _Verdict, *, action: Action, approver: str, note: str
) -> HistoryEntry:
    assert verdict.record is not None and verdict.state is not None
    record = verdict.record
    rid = record.run_id
    target = home.models_dir / rid
    label = f"models/{rid}"
    if not target.exists():
        with atomic_folder(target) as tmp:
            for name in BUNDLE_FILES:
                faultpoint("promote.copy")
                shutil.copyfile(record.path / name, tmp / name)
                if sha256_file(tmp / name) != record.decision.manifest[name]:
                    raise PromotionRefused(
                        f"run {rid}: {name} changed while it was copied to {label}; promote again"
                    )
    faultpoint("promote.installed")
    # Either just copied, or left complete by a promotion that stopped before the pointer.
    bundle = load_bundle(target, parse_model=False, label=label)
    if bundle.metadata.model_sha256 != record.decision.manifest[MODEL_FILE]:
        raise PromotionRefused(
            f"{label} already exists with another model.txt than run {rid}; "
            "move it aside, then promote again"
        )
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
    )


def _raise_refusal(verdict: _Verdict) -> None:
    if not verdict.ok:
        raise verdict.error(verdict.reason)


def promote(
    home: Home,
    run_id: str,
    *,
    approver: str,
    note: str,
    auto_promote: bool,
    expected_champion: str | None | _FromRun = FROM_RUN,
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
    approver, note = _require_signoff(approver, note, "promote")
    with registry_lock(home):
        faultpoint("promote.locked")
        verdict = _judge(
            home, run_id, auto_promote=auto_promote, automatic=False, expected=expected_champion
        )
        _raise_refusal(verdict)
        return _install_and_commit(home, verdict, action="promote", approver=approver, note=note)


def promote_auto(
    home: Home, run_id: str, *, expected_champion: str | None | _FromRun = FROM_RUN
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
        verdict = _judge(
            home, run_id, auto_promote=True, automatic=True, expected=expected_champion
        )
        _raise_refusal(verdict)
        assert verdict.record is not None
        note = verdict.record.decision.reason or "all gates passed with auto_promote on"
        return _install_and_commit(home, verdict, action="auto_promote", approver="auto", note=note)


def rollback(
    home: Home,
    model_id: str,
    *,
    approver: str,
    note: str,
    expected_champion: str | None | _AnyChampion = ANY_CHAMPION,
) -> HistoryEntry:
    """Make a previously promoted model the champion again.

    Works when ``active.json`` is invalid or names a broken bundle: rolling back to a good
    bundle is the fix for that.

    Args:
        home: The registry home.
        model_id: A bundle under ``models/`` (validated as a run id).
        approver: Who decides (required, non-blank).
        note: Why (required, non-blank).
        expected_champion: If given, the champion the rollback must replace
            (compare-and-swap, as shown to the person deciding); default: no check.

    Returns:
        The history entry of the change.

    Raises:
        RunIdError: ``model_id`` is malformed.
        PromotionRefused: No such promoted model, its bundle is broken, or it is already
            the champion.
        ChampionChanged: The champion is no longer ``expected_champion``.
        BusyError: Another change held the registry lock too long.
    """
    model_id = validate_run_id(model_id)
    approver, note = _require_signoff(approver, note, "roll back")
    with registry_lock(home):
        faultpoint("rollback.locked")
        target = home.models_dir / model_id
        if not target.is_dir():
            raise PromotionRefused(
                f"there is no promoted model {model_id} in models/; roll back only to a "
                "model listed there"
            )
        try:
            bundle = load_bundle(target, parse_model=False, label=f"models/{model_id}")
        except BundleError as exc:
            raise PromotionRefused(f"cannot roll back to {model_id}: {exc}") from exc
        state = inspect_active(home)
        current = state.pointer
        if current is not None and current.model_id == model_id and state.problem is None:
            raise PromotionRefused(f"model {model_id} is already the champion")
        if not isinstance(expected_champion, _AnyChampion):
            now_id = current.model_id if current else None
            if expected_champion != now_id:
                raise ChampionChanged(
                    f"the champion changed since the rollback was chosen (was "
                    f"{expected_champion or 'none'}, now {now_id or 'none'}); "
                    "review the history and try again"
                )
        try:
            gates_summary = read_run(home, model_id).decision.gates_summary
        except RegistryError:
            gates_summary = "n/a (run record not found)"
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
        )
