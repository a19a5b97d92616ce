"""Review's "as served" section: raw and served figures side by side, and the deployment diff.

A run judged as served holds both: the reports the gates judged (the champion with its
policy now, the challenger with the deployment it would be promoted with) and the raw
reports of the same models on the same rows. This module turns them into rows for the
page, the HTML report and the CLI, without re-deriving any rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from taskclf_core.model.reports import EvaluationReport
from taskclf_core.train.deploy import DeploymentSummary, ServingEvidence
from taskclf_core.train.evidence import RunEvidence


def accepted_accuracy(report: EvaluationReport) -> float | None:
    """Accuracy on the minutes that were not rejected (None when every minute was)."""
    rejected = sum(m.rejected for m in report.per_class.values())
    accepted = report.n_rows - rejected
    if accepted <= 0:
        return None
    return sum(report.confusion_matrix[i][i] for i in range(len(report.confusion_matrix))) / accepted


@dataclass(frozen=True)
class FigureRow:
    """One model's figures, raw and as served."""

    model: str
    outputs: str  # "raw" or "served"
    macro_f1: float
    reject_rate: float
    accuracy_on_accepted: float | None
    coverage: float
    ece: float | None
    brier: float | None

    def as_dict(self) -> dict[str, object]:
        return {"model": self.model, "outputs": self.outputs, "macro-F1 after reject": self.macro_f1,
                "reject rate": self.reject_rate, "accuracy on accepted": self.accuracy_on_accepted,
                "coverage": self.coverage, "ECE": self.ece, "Brier": self.brier}


def _row(model: str, outputs: str, report: EvaluationReport) -> FigureRow:
    return FigureRow(model, outputs, report.macro_f1, report.reject_rate, accepted_accuracy(report),
                     1.0 - report.reject_rate, report.expected_calibration_error, report.multiclass_brier_score)


@dataclass(frozen=True)
class DiffRow:
    """One line of the deployment diff: champion now → challenger as it would be promoted."""

    what: str
    champion: str
    challenger: str

    @property
    def changed(self) -> bool:
        return self.champion != self.challenger


def _calibration(summary: DeploymentSummary | None) -> str:
    if summary is None:
        return "-"
    if summary.calibration == "none":
        return "none"
    n = summary.calibrator_users
    fitted = f", fitted for {summary.calibrator_fitted_for}" if summary.calibrator_fitted_for else ""
    return f"{summary.calibration} ({n} per-user{fitted})"


def _per_user(summary: DeploymentSummary | None) -> str:
    if summary is None:
        return "-"
    if not summary.per_user_reject_thresholds:
        return "none"
    return ", ".join(f"{u}: {t:g}" for u, t in sorted(summary.per_user_reject_thresholds.items()))


@dataclass(frozen=True)
class ServedComparison:
    """Everything in Review's "as served" section."""

    serving: ServingEvidence
    figures: list[FigureRow]
    diff: list[DiffRow]
    #: Per user: reject rate raw and served for champion and challenger.
    per_user: pd.DataFrame
    reliability: dict[str, list[tuple[float, float, int]]] = field(default_factory=dict)

    @property
    def judged_sentence(self) -> str:
        return self.serving.sentence()


def served_comparison(evidence: RunEvidence, run_id: str, *, refit: bool = False) -> ServedComparison | None:
    """The section for a run (None for a run made before the console recorded deployments).

    For a calibrator refit (``refit``) the two sides are the same model: ``before`` (as
    served now) and ``after`` (with the refitted calibrator).
    """
    serving = evidence.serving
    if serving is None:
        return None
    judged = {"challenger": evidence.challenger, "champion": evidence.champion}
    raw = evidence.raw if serving.judged == "served" else judged
    names = {"champion": "before", "challenger": "after"} if refit else {"champion": "champion", "challenger": "challenger"}
    figures: list[FigureRow] = []
    for model in ("champion", "challenger"):
        raw_report, served_report = raw.get(model), judged.get(model)
        if raw_report is not None and not (refit and model == "challenger"):  # a refit's raw model is the champion's
            figures.append(_row("raw model" if refit else model, "raw", raw_report))
        if served_report is not None and serving.judged == "served":
            figures.append(_row(names[model], "served", served_report))
    champ, chal = serving.champion, serving.challenger
    diff = [
        DiffRow("model", champ.model_id if champ and champ.model_id else "none",
                (champ.model_id or "none") if refit and champ else run_id),
        DiffRow("deployed with", champ.source or "-" if champ else "-", chal.source or "-"),
        DiffRow("reject threshold", f"{champ.reject_threshold:g}" if champ else "-", f"{chal.reject_threshold:g}"),
        DiffRow("per-user thresholds", _per_user(champ), _per_user(chal)),
        DiffRow("calibrator", _calibration(champ),
                _calibration(chal.model_copy(update={"calibrator_fitted_for": champ.model_id if refit and champ else run_id}))),
    ]
    users = sorted(set(evidence.challenger.per_user) | set(evidence.champion.per_user if evidence.champion else {}))
    per_user_rows = []
    for user in users:
        row: dict[str, object] = {"user": user}
        for model in ("champion", "challenger"):
            for outputs, reports in (("raw", raw), ("served", judged)):
                report = reports.get(model)
                metrics = report.per_user.get(user) if report is not None else None
                row[f"{model} reject rate ({outputs})"] = metrics.reject_rate if metrics else None
                if outputs == "served":
                    row[f"{model} macro-F1 ({outputs})"] = metrics.macro_f1 if metrics else None
        per_user_rows.append(row)
    reliability = {
        names[model]: [(b.confidence, b.accuracy, b.count) for b in report.calibration_curve]
        for model, report in judged.items() if report is not None
    }
    return ServedComparison(serving, figures, diff, pd.DataFrame(per_user_rows), reliability)


def reliability_frame(comparison: ServedComparison) -> pd.DataFrame:
    """Bins of the reliability chart: model, mean confidence, accuracy, minutes."""
    rows = [
        {"model": model, "confidence": conf, "accuracy": acc, "minutes": count}
        for model, bins in comparison.reliability.items() for conf, acc, count in bins
    ]
    return pd.DataFrame(rows, columns=["model", "confidence", "accuracy", "minutes"])


__all__ = ["DiffRow", "FigureRow", "ServedComparison", "accepted_accuracy", "reliability_frame", "served_comparison"]
