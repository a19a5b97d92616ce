"""The checklist stage of a retrain: taskclf's promotion checklist on the run's served outputs.

Runs after :func:`~taskclf_core.train.stages.evaluate_all`, from what it kept
(``served_rows``: every evaluation row's label and both models' served label) plus the
training rows (for the latest week's PSI). See :mod:`taskclf_core.model.checklist`.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from taskclf_core.data.schema import LABELS
from taskclf_core.model.checklist import (
    ChecklistEvidence,
    RecentWeek,
    StabilityFigures,
    UserComparison,
    explain_change,
    per_user_comparisons,
    safety_figures,
    served_sequences,
    spot_candidates,
    stability,
)
from taskclf_core.model.drift import class_shares, class_shift, feature_psi
from taskclf_core.model.evaluation import (
    confusion_counts,
    macro_f1_from_confusion,
    paired_bootstrap,
)
from taskclf_core.model.lgbm import TrainedModel
from taskclf_core.model.serving import feature_matrix
from taskclf_core.train.champion import ChampionState
from taskclf_core.train.config import RetrainConfig
from taskclf_core.train.stages import Clock, Evaluation, PreparedData

#: Rows sampled (seeded) on each side of the PSI, the training rows and the latest week's:
#: the figure is stable, the cost bounded whatever the team's size.
PSI_SAMPLE_ROWS = 20_000


def _gain(model: TrainedModel) -> dict[str, float]:
    gains = model.booster.feature_importance(importance_type="gain")
    return {name: float(g) for name, g in zip(model.booster.feature_name(), gains, strict=True)}


def _reject_rate(pred: np.ndarray) -> float:
    return float(np.mean(pred == len(LABELS))) if len(pred) else 0.0


def _recent_week(data: PreparedData, rows: pd.DataFrame, challenger: TrainedModel, config: RetrainConfig,
                 has_champion: bool) -> RecentWeek | None:
    rw = config.gates.recent_week
    last = date.fromisoformat(data.snapshot.date_to)
    first = last - timedelta(days=rw.days - 1)
    days = pd.to_datetime(rows["bucket_start_ts"], utc=True).dt.date.to_numpy()
    week = days >= first
    if not week.any():
        return None
    y = rows["label"].to_numpy(np.int64)[week]
    chal = rows["challenger_pred"].to_numpy(np.int64)[week]
    fields: dict[str, object] = {
        "date_from": first.isoformat(), "date_to": last.isoformat(), "rows": int(week.sum()),
        "challenger_macro_f1": float(macro_f1_from_confusion(confusion_counts(y, chal))),
        "challenger_reject_rate": _reject_rate(chal),
    }
    if has_champion and "champion_pred" in rows:
        champ = rows["champion_pred"].to_numpy(np.int64)[week]
        b = paired_bootstrap(y, chal, champ, resamples=1000, seed=config.train_params.seed)
        champ_f1 = float(macro_f1_from_confusion(confusion_counts(y, champ)))
        fields.update(champion_macro_f1=champ_f1, difference=b.difference, low=b.low, high=b.high,
                      relative_drop=(champ_f1 - fields["challenger_macro_f1"]) / champ_f1 if champ_f1 > 0 else 0.0,  # type: ignore[operator]
                      champion_reject_rate=_reject_rate(champ),
                      reject_rate_change=_reject_rate(chal) - _reject_rate(champ))
    gain = _gain(challenger)
    major = sorted(gain, key=lambda f: (-gain[f], f))[: rw.major_features]
    rng = np.random.default_rng(config.train_params.seed)
    train = data.train_positions
    if len(train) > PSI_SAMPLE_ROWS:
        train = np.sort(rng.choice(train, PSI_SAMPLE_ROWS, replace=False))
    week_positions = data.eval_positions[week]
    if len(week_positions) > PSI_SAMPLE_ROWS:
        week_positions = np.sort(rng.choice(week_positions, PSI_SAMPLE_ROWS, replace=False))
    names = challenger.feature_names
    reference = feature_matrix(data.features, names, challenger.encoders, rows=train)
    current = feature_matrix(data.features, names, challenger.encoders, rows=week_positions)
    psi_all = feature_psi(reference, current, names)
    train_shares, week_shares = class_shares(data.train_labels), class_shares(y)
    shift, shifted = class_shift(train_shares, week_shares)
    top = sorted(psi_all, key=lambda f: (-psi_all[f], f))
    return RecentWeek(**fields, psi={f: psi_all[f] for f in dict.fromkeys([*major, *top[:10]])},  # type: ignore[arg-type]
                      major_features=major, class_shift=shift, shifted_classes=shifted[:3],
                      train_shares=train_shares, week_shares=week_shares)


def _alone(evaluation: Evaluation) -> list[UserComparison]:
    """Without a champion, people ranked by the challenger's own macro-F1 (for the spot check)."""
    return [UserComparison(user_id=u, rows=m.rows, challenger_macro_f1=m.macro_f1, champion_macro_f1=0.0,
                           difference=m.macro_f1, judged=False) for u, m in evaluation.challenger.per_user.items()]


def assess_checklist(data: PreparedData, evaluation: Evaluation, challenger: TrainedModel, champion: ChampionState,
                     config: RetrainConfig, clock: Clock) -> ChecklistEvidence | None:
    """The checklist's evidence of a run (None when the engine kept no per-row evidence)."""
    rows = evaluation.served_rows
    if rows is None:
        return None
    clock.stage("checking the promotion checklist", 0.89)
    y = rows["label"].to_numpy(np.int64)
    chal = rows["challenger_pred"].to_numpy(np.int64)
    users = rows["user_id"].astype("str").to_numpy()
    stamps = pd.to_datetime(rows["bucket_start_ts"], utc=True)
    days = stamps.dt.strftime("%Y-%m-%d").to_numpy()
    has_champion = "champion_pred" in rows and evaluation.champion is not None
    per_user, explanation = [], None
    if has_champion:
        champ = rows["champion_pred"].to_numpy(np.int64)
        per_user = per_user_comparisons(y, chal, champ, users, min_windows=config.gates.per_user.min_windows,
                                        seed=config.train_params.seed)
        assert champion.model is not None
        explanation = explain_change(y, chal, champ, users, challenger_gain=_gain(challenger),
                                     champion_gain=_gain(champion.model))
    return ChecklistEvidence(
        per_user=per_user,
        recent_week=_recent_week(data, rows, challenger, config, has_champion),
        stability=StabilityFigures.of(stability(served_sequences(users, stamps.to_numpy(), chal))),
        safety=safety_figures(y, chal, np.zeros((0, len(LABELS)))).model_copy(
            update={"probability_sum_error": evaluation.proba_sum_error}),
        explanation=explanation,
        spot_check=spot_candidates(per_user or _alone(evaluation), users, days),
        spot_check_required=min(config.gates.spot_check_users, len(set(users.tolist()))),
    )


__all__ = ["assess_checklist"]
