"""The Review page's read model: one run's decision, effective state, evidence and gates.

Also the page's one action, :func:`sign_off`. The HTML report renders the same record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from taskclf_core.access.identity import Identity
from taskclf_core.console.access import pending_sentences
from taskclf_core.console.formatting import format_time
from taskclf_core.console.runstate import RunState, effective_state, read_config, run_rows
from taskclf_core.console.servingview import ServedComparison, served_comparison
from taskclf_core.errors import ConfigError, RegistryError
from taskclf_core.model.evaluation import EvaluationReport
from taskclf_core.model.gates import RegressionGate
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from taskclf_core.registry.approve import PendingApproval
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.runids import validate_run_id
from taskclf_core.registry.runs import ChampionRef, RunDecision
from taskclf_core.train.config import RetrainConfig, parse_retrain_config
from taskclf_core.train.evidence import RunEvidence, read_evidence

#: Which rows the three macro-F1 figures of a review come from.
REVIEW_F1_SOURCE: Final = (
    "all three models re-evaluated on this run's test rows, so they differ from the "
    "champion's figure on Status (measured on the test rows of the run that produced it)"
)


@dataclass(frozen=True)
class GateRow:
    """One gate as shown in the gate table."""

    name: str
    kind: str
    status: str
    value: float | None
    threshold: str
    detail: str
    #: Where the threshold is set in ``configs/retrain.yaml`` (empty when it is not configurable).
    config_key: str = ""


#: Gate table order: failed first, then passed, then skipped.
_STATUS_ORDER: Final = {"failed": 0, "passed": 1, "skipped": 2}


def gate_rows(evidence: RunEvidence) -> list[GateRow]:
    """Every gate of a run, failed first (then passed, then skipped), stable within."""
    gates: list[RegressionGate] = [
        g for kind in ("candidate", "baseline", "comparative", "calibration")
        if (group := evidence.gates.get(kind)) for g in group.gates
    ]
    rows = [GateRow(g.name, g.kind, g.status, g.value, g.threshold, g.detail, g.config_key) for g in gates]
    return sorted(rows, key=lambda r: _STATUS_ORDER.get(r.status, 3))


@dataclass(frozen=True)
class RunReview:
    """Everything on the Review page for one run."""

    run_id: str
    decision: RunDecision
    evidence: RunEvidence
    run_config: RetrainConfig | None
    tolerance: float
    gates: list[GateRow]
    can_promote: bool
    promote_reason: str
    compared_against: ChampionRef | None
    current_champion: str | None
    intact_problem: str | None = None
    notes: list[str] = field(default_factory=list)
    state: RunState | None = None
    #: Approvals given so far under the two-person rule (and void ones), in words.
    pending: list[str] = field(default_factory=list)
    #: Raw and served figures side by side and the deployment diff (None on older runs).
    served: ServedComparison | None = None

    @property
    def reports(self) -> dict[str, EvaluationReport | None]:
        """``challenger``, ``champion`` (None without one) and ``baseline`` reports."""
        return {
            "champion": self.evidence.champion,
            "challenger": self.evidence.challenger,
            "baseline": self.evidence.baseline,
        }

    @property
    def effective(self) -> RunState:
        """The run's effective state (the recorded outcome when the history says nothing)."""
        return self.state or RunState(recorded=self.decision.outcome)

    @property
    def data_warnings(self) -> list[dict[str, Any]]:
        """The snapshot's data warnings (rows taskclf accepts that look wrong; they were kept)."""
        found = self.evidence.snapshot.get("data_warnings") or []
        return [w for w in found if isinstance(w, dict)] if isinstance(found, list) else []

    @property
    def interval_sentence(self) -> str | None:
        """The bootstrap interval in words, or None without a champion."""
        b = self.evidence.bootstrap
        if b is None:
            return None
        verdict = "within" if b.difference >= -self.tolerance else "beyond"
        return (
            f"Macro-F1 difference (challenger - champion) {b.difference:+.4f}, {b.level:.0%} paired "
            f"bootstrap interval [{b.low:+.4f}, {b.high:+.4f}] ({b.resamples} resamples, seed {b.seed}); "
            f"the difference is {verdict} the regression tolerance {self.tolerance} (the gate passes "
            f"when it is at least {-self.tolerance:+.4f})."
        )


def _run_config(evidence: RunEvidence) -> tuple[RetrainConfig | None, str | None]:
    try:
        return parse_retrain_config(yaml.safe_load(evidence.config_yaml), source="config.yaml of the run"), None
    except (ConfigError, yaml.YAMLError, ValueError, RecursionError) as exc:
        return None, f"the run's config.yaml is not valid ({exc}); the default tolerance is shown"


#: Evidence files of a run and the JSON type each must hold.
_EVIDENCE_JSON: Final = ("decision.json", "snapshot.json", "evaluation.json", "gates.json")


def _check_evidence_files(folder: Path, run_id: str) -> None:
    """Refuse evidence files that are not valid, naming the file (before anything parses them)."""
    for name in (*_EVIDENCE_JSON, "config.yaml"):
        path = folder / name
        try:
            text = path.read_bytes().decode("utf-8")
            if name.endswith(".json") and not isinstance(json.loads(text), dict):
                raise ValueError("expected a JSON object")
        except FileNotFoundError:
            continue  # read_evidence names a missing file itself
        except (OSError, ValueError, RecursionError) as exc:
            why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)[:160] or type(exc).__name__
            if isinstance(exc, RecursionError):
                why = "nested too deeply"
            raise RegistryError(f"run {run_id}: {name} is not valid ({why})") from None


def run_review(home: Home, run_id: object) -> RunReview:
    """The review of one run: decision, effective state, evidence, gates, promotability.

    Args:
        home: The registry home.
        run_id: The run id as given (e.g. from the URL); validated before any path use.

    Returns:
        The review.

    Raises:
        RunIdError: the run id is malformed or names no run.
        RegistryError: the run's decision or evidence files are not valid (names the file).
    """
    run_id = validate_run_id(run_id)
    try:
        record = registry.read_run(home, run_id)
    except (RecursionError, OverflowError, UnicodeDecodeError) as exc:
        raise RegistryError(f"run {run_id}: decision.json is not valid ({type(exc).__name__})") from None
    _check_evidence_files(record.path, run_id)
    try:
        evidence = read_evidence(record.path, run_id)
    except RegistryError:
        raise
    except (ValueError, TypeError, KeyError, RecursionError, OverflowError) as exc:
        raise RegistryError(
            f"run {run_id}: its evidence files are not valid ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    run_config, note = _run_config(evidence)
    notes = [note] if note else []
    config = read_config(home)
    if config.config is None:
        can, why = False, f"cannot decide whether this run may be promoted: {config.error}"
    else:
        can, why = registry.promotability(home, run_id, auto_promote=config.config.auto_promote)
    if config.config is not None and config.config.auto_promote and record.decision.outcome == "awaiting_signoff":
        why += (
            ". Nothing promotes runs awaiting sign-off while auto_promote is on: turn it off in "
            f"{config.path} to sign this run off here, or start a new retrain"
        )
    state = registry.inspect_active(home)
    return RunReview(
        run_id=run_id,
        decision=record.decision,
        evidence=evidence,
        run_config=run_config,
        tolerance=(run_config or RetrainConfig.model_validate({})).regression_tolerance,
        gates=gate_rows(evidence),
        can_promote=can,
        promote_reason=why,
        compared_against=record.decision.champion_compared,
        current_champion=state.pointer.model_id if state.pointer else None,
        intact_problem=registry.verify_run(home, run_id),
        notes=notes,
        state=effective_state(home, run_id, record.decision),
        pending=pending_sentences(home, run_id),
        served=served_comparison(evidence, run_id, refit=record.decision.kind == "calibration"),
    )


@dataclass(frozen=True)
class RunChoice:
    """A run in the Review picker: id plus what tells runs apart."""

    run_id: str
    label: str


def run_choices(home: Home, *, limit: int = 50) -> list[RunChoice]:
    """The newest reviewable runs for a picker, newest first, labelled with state, date and macro-F1."""
    rows, _, _ = run_rows(home)
    out = []
    for r in rows:
        if r.state.recorded is None:
            continue
        f1 = "n/a" if r.macro_f1 is None else f"{r.macro_f1:.4f}"
        out.append(RunChoice(r.run_id, f"{r.shown_outcome} · {format_time(r.finished_at)} · macro-F1 {f1} · {r.run_id}"))
        if len(out) >= limit:
            break
    return out


def recent_run_ids(home: Home, *, limit: int = 50) -> list[str]:
    """The newest run ids (for a run picker), newest first."""
    return [c.run_id for c in run_choices(home, limit=limit)]


def sign_off(
    home: Home, run_id: str, *, approver: str, note: str, actor: Identity | None = None
) -> HistoryEntry | PendingApproval:
    """Promote a run awaiting sign-off (the Review page's one call).

    ``actor`` is the signed-in person in team mode (None: ``approver`` typed in local mode);
    with ``access.required_approvals: 2`` a first sign-off returns a :class:`PendingApproval`.

    The same call as ``taskclf train promote``: :func:`service.promote_run` reads
    ``auto_promote`` from the config and :func:`registry.promote` re-checks everything
    under the registry lock.

    Raises:
        ConfigError: the configuration is invalid.
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.promote``.
    """
    from taskclf_core.console.service import promote_run

    return promote_run(home, run_id, approver=approver, note=note, actor=actor)


__all__ = [
    "REVIEW_F1_SOURCE",
    "GateRow",
    "RunChoice",
    "RunReview",
    "gate_rows",
    "recent_run_ids",
    "run_choices",
    "run_review",
    "sign_off",
]
