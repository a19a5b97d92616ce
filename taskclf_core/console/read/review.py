"""The Review page's read model: one run's decision, effective state, evidence and gates.

Also the page's one action, :func:`sign_off`. The HTML report renders the same record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

from taskclf_core.access.identity import Identity
from taskclf_core.console.access import Access, pending_notes, plan_signoff, void_expired
from taskclf_core.console.formatting import format_time
from taskclf_core.console.read.derived import ContentCache, content_key
from taskclf_core.console.read.runstate import RunState, effective_state, run_rows, state_of
from taskclf_core.console.read.servingview import ServedComparison, served_comparison
from taskclf_core.data.quality import DataWarning
from taskclf_core.errors import ConfigError, RegistryError
from taskclf_core.model.evaluation import EvaluationReport
from taskclf_core.model.gates import RegressionGate, in_current_convention
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from taskclf_core.registry.approve import PendingApproval
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.pending import SignoffPlan
from taskclf_core.registry.runids import validate_run_id
from taskclf_core.registry.runs import ChampionRef, RunDecision
from taskclf_core.registry.snapshot import RegistrySnapshot, registry_snapshot
from taskclf_core.train.config import (
    RetrainConfig,
    parse_retrain_config,
    read_config,
    threshold_changes,
)
from taskclf_core.train.evidence import EVIDENCE_FILES, RunEvidence, read_evidence

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


def gate_rows(evidence: RunEvidence, tolerance: float) -> list[GateRow]:
    """Every gate of a run, failed first (then passed, then skipped), stable within.

    The comparative gate is shown as challenger − champion whatever convention the run
    recorded (``tolerance``: the run's ``regression_tolerance``).
    """
    champion, challenger = evidence.champion, evidence.challenger
    gates: list[RegressionGate] = [
        in_current_convention(
            g, champion.macro_f1 if champion else None, challenger.macro_f1 if challenger else None, tolerance
        )
        for kind in ("candidate", "baseline", "comparative", "calibration")
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
    #: Approvals given so far under the two-person rule, each under its heading
    #: (``"Pending approval"``, ``"Void approval"``), in words.
    pending: list[tuple[str, str]] = field(default_factory=list)
    #: Raw and served figures side by side and the deployment diff (None on older runs).
    served: ServedComparison | None = None
    #: The headline's reason when the recorded one no longer applies (auto_promote is on).
    reason_now: str | None = None
    #: SHA-256 of the run's evidence files: what is derived from them is derived once per key.
    content_key: str = ""
    #: What a sign-off by the session's person would do now (when ``run_review`` was given
    #: the session's access): read in the same registry snapshot as the rest.
    plan: SignoffPlan | None = None
    #: The thresholds the run was judged by against those of the champion's run, in words.
    thresholds_note: str | None = None

    @property
    def reports(self) -> dict[str, EvaluationReport | None]:
        """``challenger``, ``champion`` (None without one) and ``baseline`` reports."""
        return {
            "champion": self.evidence.champion,
            "challenger": self.evidence.challenger,
            "baseline": self.evidence.baseline,
        }

    @property
    def failed_gate_count(self) -> int:
        """How many of the run's gates failed (a skipped gate did not fail)."""
        return sum(g.status == "failed" for g in self.gates)

    @property
    def effective(self) -> RunState:
        """The run's effective state (the recorded outcome when the history says nothing)."""
        return self.state or state_of(self.run_id, self.decision.outcome, {})

    @property
    def reason(self) -> str:
        """The headline's reason: the recorded one, unless it no longer applies."""
        return self.reason_now or self.decision.reason

    @property
    def data_warnings(self) -> list[DataWarning]:
        """The snapshot's data warnings (rows taskclf accepts that look wrong; they were kept)."""
        return list(self.evidence.snapshot.data_warnings)

    @property
    def data_warning_rows(self) -> list[dict[str, Any]]:
        """The data warnings as table rows; a value the warning does not have is blank, never ``None``."""
        columns = {"kind": "kind", "column": "column", "rows": "rows", "min": "min_value", "max": "max_value",
                   "allowed": "allowed", "source": "source"}
        return [{shown: "" if getattr(w, key) is None else getattr(w, key) for shown, key in columns.items()}
                for w in self.data_warnings]

    @property
    def data_warnings_sentence(self) -> str | None:
        """``"2 data warnings: …"`` for the headline, or None without any."""
        return data_warnings_sentence(len(self.data_warnings))

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


def data_warnings_sentence(count: int) -> str | None:
    """How many data warnings a run's data had, in words (Review's headline, the Retrain result)."""
    if not count:
        return None
    return (
        f"{count} data warning{'s' if count != 1 else ''}: rows taskclf accepts but that look wrong "
        "were kept in this run's data"
    )


def _run_config(evidence: RunEvidence) -> tuple[RetrainConfig | None, str | None]:
    try:
        return parse_retrain_config(yaml.safe_load(evidence.config_yaml), source="config.yaml of the run"), None
    except (ConfigError, yaml.YAMLError, ValueError, RecursionError) as exc:
        return None, f"the run's config.yaml is not valid ({exc}); the default tolerance is shown"


@dataclass(frozen=True)
class _Derived:
    """What a run's evidence files give, derived once per content (shared, read-only)."""

    evidence: RunEvidence
    run_config: RetrainConfig | None
    tolerance: float
    gates: tuple[GateRow, ...]
    notes: tuple[str, ...]
    served: ServedComparison | None


#: The files a review derives from (the key of :data:`_DERIVED`).
_KEY_FILES: Final = ("decision.json", *EVIDENCE_FILES)
_DERIVED: ContentCache[_Derived] = ContentCache()


def _derive(folder: Path, run_id: str, decision: RunDecision) -> _Derived:
    evidence = read_evidence(folder, run_id)  # each file read and validated once (names a bad one)
    run_config, note = _run_config(evidence)
    tolerance = (run_config or RetrainConfig.model_validate({})).regression_tolerance
    return _Derived(
        evidence, run_config, tolerance, tuple(gate_rows(evidence, tolerance)), (note,) if note else (),
        served_comparison(evidence, run_id, refit=decision.kind == "calibration"),
    )


def run_review(home: Home, run_id: object, *, access: Access | None = None) -> RunReview:
    """The review of one run: decision, effective state, evidence, gates, promotability.

    What comes from the run's evidence files is derived once per content (see
    :mod:`taskclf_core.console.read.derived`); the registry's state is read on every call, as
    one snapshot (each bundle and run folder checked once: ``registry.snapshot``).

    Args:
        home: The registry home.
        run_id: The run id as given (e.g. from the URL); validated before any path use.
        access: The session's access (the page's): the review then carries the sign-off
            plan of its person (:attr:`RunReview.plan`).

    Returns:
        The review.

    Raises:
        RunIdError: the run id is malformed or names no run.
        RegistryError: the run's decision or evidence files are not valid (names the file).
    """
    run_id = validate_run_id(run_id)
    policy = access.policy if access is not None else read_config(home.config_path).effective.access
    void_expired(home, policy)  # a write: before the read
    with registry_snapshot(home) as snap:  # one read of the registry for the whole page
        review = _run_review(snap, run_id)
        if access is None:
            return review
        return replace(review, plan=plan_signoff(home, run_id, kind="promote", access=access))


def _run_review(snap: RegistrySnapshot, run_id: str) -> RunReview:
    home = snap.home
    record = registry.read_run(home, run_id)
    derived, key = _DERIVED.get(
        str(record.path), lambda: content_key(record.path, _KEY_FILES), lambda: _derive(record.path, run_id, record.decision)
    )
    config = read_config(home.config_path)
    if config.config is None:
        can, why = False, f"cannot decide whether this run may be promoted: {config.error}"
    else:
        can, why = registry.promotability(home, run_id, auto_promote=config.config.auto_promote)
    state = effective_state(snap, run_id, record.decision)
    reason_now = None
    stranded = record.decision.outcome == "awaiting_signoff" and state.promotion is None
    if config.config is not None and config.config.auto_promote and stranded:
        why += (
            ". Nothing promotes runs awaiting sign-off while auto_promote is on: turn it off in "
            f"{config.path} to sign this run off here, or start a new retrain"
        )
        reason_now = (
            "Every gate passed, but auto_promote is on now, so nothing will promote this run "
            "(it waits for a sign-off that auto_promote turns off: see Sign-off below)."
        )
    return RunReview(
        run_id=run_id,
        decision=record.decision,
        evidence=derived.evidence,
        run_config=derived.run_config,
        tolerance=derived.tolerance,
        gates=list(derived.gates),
        can_promote=can,
        promote_reason=why,
        compared_against=record.decision.champion_compared,
        current_champion=snap.pointer_id,
        intact_problem=registry.verify_run(home, run_id),
        notes=list(derived.notes),
        state=state,
        pending=pending_notes(snap, config.effective.access, run_id),
        served=derived.served,
        reason_now=reason_now,
        content_key=key,
        thresholds_note=_thresholds_note(home, record.decision, derived.run_config, snap.pointer_id, run_id),
    )


def _thresholds_note(home: Home, decision: RunDecision, run_config: RetrainConfig | None, champion_id: str | None,
                     run_id: str) -> str | None:
    """Which thresholds judged the run, and whether the champion's run was judged by others."""
    version = decision.thresholds_version
    if version is None or run_config is None:
        return None
    if champion_id is None or champion_id == run_id:
        return f"Judged under thresholds version {version}."
    try:
        champion = registry.read_run(home, champion_id)
        theirs = champion.decision.thresholds_version
        champion_config, _ = _run_config(read_evidence(champion.path, champion_id))
    except (RegistryError, OSError, ValueError):
        return f"Judged under thresholds version {version}; the champion {champion_id} has no run record to compare with."
    if theirs == version or champion_config is None:
        return f"Judged under thresholds version {version}, the same as the champion's run."
    changes = threshold_changes(champion_config, run_config)
    return (f"Judged under thresholds version {version}; the champion's run was judged under version "
            f"{theirs or 'unrecorded'}. Changed since then: {'; '.join(changes) or 'nothing visible'}.")


_CHART_SPECS: ContentCache[Mapping[str, str]] = ContentCache()


def chart_specs(review: RunReview) -> Mapping[str, str]:
    """Every chart of the review as Vega-Lite JSON text (data inlined), in page order.

    Built once per run content and shared by every session (the page draws them, the
    report renders them to SVG, the export buttons convert them).
    """
    from taskclf_core.console.reports import charts

    def build() -> Mapping[str, str]:
        built = charts.review_charts(review.reports, tolerance=review.tolerance, bootstrap=review.evidence.bootstrap)
        return MappingProxyType({name: charts.to_vegalite_json(chart) for name, chart in built.items()})

    if not review.content_key:  # a review not read by run_review: nothing to key it by
        return build()
    specs, _ = _CHART_SPECS.get(review.run_id, lambda: review.content_key, build)
    return specs


_SERVED_SPECS: ContentCache[str] = ContentCache()


def reliability_spec(review: RunReview) -> str | None:
    """The "as served" reliability chart as Vega-Lite JSON text, built once per run content
    (None for a run made before the console recorded deployments)."""
    from taskclf_core.console.read import servingview
    from taskclf_core.console.reports import charts

    served = review.served
    if served is None:
        return None

    def build() -> str:
        return charts.to_vegalite_json(charts.reliability_chart(servingview.reliability_frame(served)))

    if not review.content_key:
        return build()
    return _SERVED_SPECS.get(review.run_id, lambda: review.content_key, build)[0]


@dataclass(frozen=True)
class RunChoice:
    """A run in the Review picker: id plus what tells runs apart."""

    run_id: str
    label: str


def run_choices(home: Home, *, limit: int = 50) -> list[RunChoice]:
    """The newest reviewable runs for a picker, newest first, labelled with state, date and macro-F1."""
    with registry_snapshot(home) as snap:
        rows, _, _ = run_rows(snap)
    out = []
    for r in rows:
        if r.state.recorded is None:
            continue
        f1 = "n/a" if r.macro_f1 is None else f"{r.macro_f1:.4f}"
        out.append(RunChoice(r.run_id, f"{r.shown_outcome} · {format_time(r.finished_at)} · macro-F1 {f1} · {r.run_id}"))
        if len(out) >= limit:
            break
    return out


def sign_off(
    home: Home, run_id: str, *, approver: str, note: str, actor: Identity | None = None,
    looked_at: Sequence[str] | None = None,
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

    return promote_run(home, run_id, approver=approver, note=note, actor=actor, looked_at=looked_at)


__all__ = [
    "REVIEW_F1_SOURCE",
    "chart_specs",
    "data_warnings_sentence",
    "reliability_spec",
    "GateRow",
    "RunChoice",
    "RunReview",
    "gate_rows",
    "run_choices",
    "run_review",
    "sign_off",
]
