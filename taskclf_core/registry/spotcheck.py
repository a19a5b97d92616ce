"""The checklist's manual sanity check: the people a reviewer looked at before signing off.

taskclf's promotion checklist asks for "a manual sanity check on 3 users". A run records
whom to look at (``evaluation.json``'s ``checklist``: the worst-off person, the median one,
and how many people in all, ``gates.spot_check_users``); the reviewer picks the rest. A
sign-off that says whom it looked at must cover them; the names go into the approval and
so into the history and the report. A sign-off that says nothing (the command line without
``--looked-at``) is recorded as such.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from taskclf_core.errors import PromotionRefused, RegistryError
from taskclf_core.fs.jsonfile import read_json
from taskclf_core.model.checklist import ChecklistEvidence
from taskclf_core.registry.runs import RunRecord


def run_checklist(record: RunRecord) -> ChecklistEvidence | None:
    """The checklist a run recorded (None: a run before the checklist, or a calibrator refit)."""
    try:
        raw = read_json(record.file("evaluation.json"))
    except (RegistryError, OSError, ValueError):
        return None
    found = raw.get("checklist") if isinstance(raw, dict) else None
    if not isinstance(found, dict):
        return None
    try:
        return ChecklistEvidence.model_validate(found)
    except ValidationError:
        return None


def spot_check_people(evidence: ChecklistEvidence | None) -> tuple[list[str], int]:
    """Every person of the run's evaluation rows (sorted), and how many must be looked at."""
    if evidence is None or evidence.spot_check_required <= 0:
        return [], 0
    everyone = sorted({u.user_id for u in evidence.per_user} | {c.user_id for c in evidence.spot_check})
    return everyone, min(evidence.spot_check_required, len(everyone))


def missing_spot_checks(evidence: ChecklistEvidence | None, looked_at: Sequence[str]) -> str | None:
    """Why ``looked_at`` does not cover the spot check the run asks for, or None when it does."""
    everyone, needed = spot_check_people(evidence)
    if evidence is None or not needed:
        return None
    seen = set(looked_at)
    unknown = sorted(seen - set(everyone))
    if unknown:
        return f"{', '.join(unknown)} is not a person of this run's evaluation rows"
    proposed = [c.user_id for c in evidence.spot_check if c.user_id not in seen]
    if proposed:
        return f"look at {', '.join(proposed)} first (proposed: {', '.join(c.why for c in evidence.spot_check)})"
    if len(seen) < needed:
        return f"look at {needed - len(seen)} more person(s): {needed} people in all (gates.spot_check_users)"
    return None


def require_spot_checks(record: RunRecord, looked_at: Sequence[str] | None) -> tuple[str, ...]:
    """The people looked at, checked against the run's spot check (``None``: not recorded).

    Raises:
        PromotionRefused: the list misses a proposed person, names someone not in the run,
            or is shorter than the run asks.
    """
    if looked_at is None:
        return ()
    why = missing_spot_checks(run_checklist(record), looked_at)
    if why:
        raise PromotionRefused(f"the spot check of run {record.run_id} is not complete: {why}")
    return tuple(sorted(set(looked_at)))


__all__ = ["missing_spot_checks", "require_spot_checks", "run_checklist", "spot_check_people"]
