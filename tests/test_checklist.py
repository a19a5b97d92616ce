"""taskclf's promotion checklist: figures against values computed by hand, smoothing against
taskclf's rules written independently, the per-person interval against a direct bootstrap, and
the ``one_user_worse`` scenario rejected for that person."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from taskclf_core.data.schema import LABELS
from taskclf_core.model.checklist import checklist_gates, per_user_comparisons, served_sequences
from taskclf_core.model.drift import class_shares, class_shift, feature_psi, psi
from taskclf_core.model.evaluation import paired_bootstrap
from taskclf_core.model.smoothing import (
    merge_short_segments,
    rolling_majority,
    segmentize,
    stability,
)
from taskclf_core.model.thresholds import GateThresholds
from tests.conftest import SeededHome, synthetic_request, write_config

# --------------------------------------------------------------------------- smoothing


def _taskclf_majority(labels: list[str], window: int = 3) -> list[str]:
    """taskclf's rolling_majority, from its rule: Counter.most_common, ties keep the original."""
    out = []
    for i, own in enumerate(labels):
        counts = Counter(labels[max(0, i - window // 2) : i + window // 2 + 1])
        top, n = counts.most_common(1)[0]
        out.append(own if counts[own] == n else top)
    return out


def _taskclf_merge(labels: list[str], min_buckets: int = 3) -> list[tuple[str, int]]:
    """taskclf's segmentize + merge_short_segments, from its rule, on (label, length) pairs."""
    runs = [(k, len(list(g))) for k, g in itertools.groupby(labels)]
    while True:
        out: list[tuple[str, int]] = []
        i, changed = 0, False
        while i < len(runs):
            label, n = runs[i]
            if n >= min_buckets or len(runs) <= 1:
                out.append(runs[i])
                i += 1
                continue
            prev = out[-1] if out else None
            nxt = runs[i + 1] if i + 1 < len(runs) else None
            if prev and prev[0] == label:
                out[-1] = (label, prev[1] + n)
            elif nxt and nxt[0] == label:
                out.append((label, n + nxt[1]))
                i += 1
            elif prev is None:
                out.append(runs[i])
                i += 1
                continue
            elif nxt is None or prev[1] >= nxt[1]:
                out[-1] = (prev[0], prev[1] + n)
            else:
                out.append((nxt[0], n + nxt[1]))
                i += 1
            i += 1
            changed = True
        runs = out
        if not changed:
            return runs


@pytest.mark.parametrize("seed", range(30))
def test_smoothing_is_taskclfs_on_the_same_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = list(rng.choice(["Build", "Debug", "Write", "Mixed/Unknown"], size=int(rng.integers(1, 120)),
                             p=[0.5, 0.2, 0.2, 0.1]))
    smooth = rolling_majority(labels)
    assert smooth == _taskclf_majority(labels)
    merged = merge_short_segments(segmentize(smooth))
    assert [(b.label, b.buckets) for b in merged] == _taskclf_merge(smooth)
    assert sum(b.buckets for b in merged) == len(labels)


def test_flap_rate_and_blocks_on_a_small_frame_by_hand() -> None:
    # one person, 10 minutes: A A B A A A C C C C
    labels = ["A", "A", "B", "A", "A", "A", "C", "C", "C", "C"]
    s = stability([labels])
    assert (s.windows, s.changes_raw) == (10, 3)  # A>B, B>A, A>C
    assert s.flap_rate_raw == 0.3
    # the window of 3 around the lone B is A B A: A wins, so 1 change remains (A>C)
    assert rolling_majority(labels) == ["A"] * 6 + ["C"] * 4
    assert s.flap_rate_smoothed == 0.1
    assert (s.blocks, s.blocks_long, s.blocks_under_2_minutes) == (2, 2, 0)
    # two people: changes are counted within each person's time order, never across them
    assert stability([["A", "A"], ["B", "B"]]).changes_raw == 0


def test_served_sequences_follow_each_persons_time_order() -> None:
    users = np.array(["u2", "u1", "u1", "u2"], dtype=object)
    stamps = np.array([2, 5, 1, 1])
    pred = np.array([0, 1, 2, len(LABELS)])
    assert served_sequences(users, stamps, pred) == [[LABELS[2], LABELS[1]], ["Mixed/Unknown", LABELS[0]]]


# --------------------------------------------------------------------------- drift figures


def test_psi_against_a_value_computed_by_hand() -> None:
    reference = np.arange(100, dtype=float)  # ten equal-frequency bins of 10 values
    current = np.concatenate([np.full(50, 5.0), np.full(50, 95.0)])  # half in the first bin, half in the last
    p = 0.1
    q_edge, q_other = 0.5, 1e-8  # empty bins clipped at 1e-8
    expected = 2 * (q_edge - p) * math.log(q_edge / p) + 8 * (q_other - p) * math.log(q_other / p)
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)
    assert psi(reference, reference) == 0.0
    assert psi(np.ones(10), current) == 0.0  # a constant reference has no bins


def test_feature_psi_equals_psi_of_each_column() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    reference = np.column_stack([
        rng.normal(size=n), rng.integers(0, 4, n).astype(float), np.ones(n), rng.exponential(size=n),
        np.where(rng.random(n) < 0.9, 0.0, rng.normal(size=n)),  # mostly zeros: few distinct edges
    ])
    current = np.column_stack([
        rng.normal(0.5, 1.2, n // 2), rng.integers(0, 6, n // 2).astype(float), rng.normal(size=n // 2),
        rng.exponential(2.0, n // 2) - 1.0, rng.normal(size=n // 2),  # values outside the reference's range too
    ])
    names = ["a", "b", "c", "d", "e"]
    figures = feature_psi(reference, current, names)
    assert figures == {name: psi(reference[:, j], current[:, j]) for j, name in enumerate(names)}
    assert figures["c"] == 0.0 and figures["a"] > 0.05
    holes = current.copy()
    holes[::7, 0] = np.nan  # a non-finite value: each column on its own, the same rule
    assert feature_psi(reference, holes, names)["a"] == psi(reference[:, 0], holes[:, 0])


def test_class_shift_against_shares_computed_by_hand() -> None:
    before = class_shares(np.array([0, 0, 1, 1]))  # BreakIdle 0.5, Build 0.5
    after = class_shares(np.array([0, 1, 1, 1, 2, 2, 2, 2]))  # 0.125, 0.375, 0.5
    assert before[LABELS[0]] == 0.5 and after[LABELS[2]] == 0.5
    shift, ordered = class_shift(before, after)
    assert shift == 0.5 and ordered[0] == LABELS[2]  # Communicate from 0 to 0.5


# --------------------------------------------------------------------------- per person


def test_people_under_the_minimum_are_listed_and_the_interval_is_a_direct_bootstrap() -> None:
    rng = np.random.default_rng(3)
    n = 400
    users = np.array(["a"] * 300 + ["b"] * 100, dtype=object)
    y = rng.integers(0, 8, n)
    challenger = np.where(rng.random(n) < 0.8, y, rng.integers(0, 9, n))
    champion = np.where(rng.random(n) < 0.7, y, rng.integers(0, 9, n))
    people = {p.user_id: p for p in per_user_comparisons(y, challenger, champion, users, min_windows=150, seed=7)}
    assert not people["b"].judged and people["b"].low is None and people["b"].rows == 100
    rows = users == "a"
    direct = paired_bootstrap(y[rows], challenger[rows], champion[rows], resamples=1000, seed=7)
    a = people["a"]
    assert (a.judged, a.difference, a.low, a.high) == (True, direct.difference, direct.low, direct.high)
    from taskclf_core.model.checklist import ChecklistEvidence, SafetyFigures, StabilityFigures

    evidence = ChecklistEvidence(
        per_user=list(people.values()),
        stability=StabilityFigures(windows=1, flap_rate_raw=0, flap_rate_smoothed=0, blocks=1, share_long=1,
                                   share_under_2_minutes=0),
        safety=SafetyFigures(breakidle_minutes=0, breakidle_as_build=0, probability_sum_error=0,
                             label_order=list(LABELS)),
    )
    strict = GateThresholds.model_validate({"per_user": {"min_windows": 150}})
    gate = next(g for g in checklist_gates(evidence, strict, has_champion=True, reject_rate=0.1,
                                           calibrated=False, brier=None, raw_brier=None).gates
                if g.name == "per_user_no_regression")
    assert "too few minutes to judge (< 150): b" in gate.detail and gate.status == "passed"


# --------------------------------------------------------------------------- the scenario


@pytest.mark.slow
def test_one_user_worse_is_rejected_for_that_person(seeded_home: SeededHome, tmp_path: Path) -> None:
    from taskclf_core.console.read import review
    from taskclf_core.console.service import run_retrain
    from taskclf_core.paths import Home
    from taskclf_core.registry.promotion import promote

    root = tmp_path / "home"
    write_config(root)
    home = Home.resolve(root)
    champion = run_retrain(home, synthetic_request(seeded_home.seed, schema_version="v3"))
    promote(home, champion.run_id, approver="a", note="default team", auto_promote=False)
    result = run_retrain(home, synthetic_request(seeded_home.seed, schema_version="v3", scenario="one_user_worse"))
    assert result.outcome == "rejected", result.reason
    assert result.reason.startswith("Rejected: gate(s) per_user_no_regression")
    team = next(g for g in result.gates if g.name == "macro_f1_no_regression")
    assert team.status == "passed" and team.value is not None and team.value > 0  # the team average improves
    evidence = review.run_review(home, result.run_id).evidence
    assert evidence.checklist is not None
    worst = evidence.checklist.worst_off
    assert worst is not None and worst.high is not None and worst.high < -0.05
    # today's gates alone (every gate but the checklist's) would have let it through
    assert all(g.status != "failed" for g in result.gates if g.kind != "checklist")
    assert "per_user_no_regression" in [g.name for g in result.gates if g.status == "failed"]
    run = json.loads((root / "artifacts" / "runs" / result.run_id / "gates.json").read_text())
    assert run["checklist"]["all_passed"] is False


def test_the_default_team_passes_every_gate_including_the_checklists(seeded_home: SeededHome) -> None:
    gates = json.loads((seeded_home.root / "artifacts" / "runs" / seeded_home.awaiting / "gates.json").read_text())
    checklist = gates["checklist"]["gates"]
    assert {g["name"] for g in checklist} >= {"per_user_no_regression", "recent_week_no_regression", "recent_week_drift",
                                             "breakidle_not_build", "probabilities_sum_to_one", "label_order",
                                             "flap_rate_raw", "flap_rate_smoothed", "smoothing_blocks",
                                             "reject_rate_not_underfit", "calibration_brier"}
    assert [g["name"] for g in checklist if not g["passed"] and not g["skipped"]] == []
    assert [g["name"] for g in checklist if g["skipped"]] == ["calibration_brier"]  # no calibrator deployed
