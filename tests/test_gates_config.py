"""Gates a team can set: the ``gates:`` section decides, is recorded with the run, and its
absence means the reference thresholds."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pytest
import yaml
from helpers_retrain import CHECKLIST_OPEN, make_home

from taskclf_core.console.service import RetrainRequest, run_retrain
from taskclf_core.errors import ConfigError
from taskclf_core.model.thresholds import REFERENCE_THRESHOLDS, GateThresholds
from taskclf_core.train.config import parse_retrain_config

DATA = Path(__file__).parent / "fixtures" / "taskclf-data" / "v1"
REQUEST = {"force": True, "data_dir": DATA, "date_from": date(2025, 7, 1), "date_to": date(2025, 7, 3)}
ROUNDS = {"num_boost_round": 20, "seed": 1}


def _floor(value: float | None) -> float:
    """A threshold the measured value meets (inclusive), rounded down to 4 places."""
    return 0.0 if value is None else math.floor(value * 10_000) / 10_000


@pytest.mark.slow
def test_a_gates_section_the_run_meets_reaches_signoff_and_no_section_is_the_reference(tmp_path: Path) -> None:
    reference_home = make_home(tmp_path / "reference", train_params=ROUNDS)
    reference = run_retrain(reference_home, RetrainRequest(**REQUEST))
    assert reference.outcome == "rejected"
    failed_candidate = [g.name for g in reference.candidate_gates.gates if g.status == "failed"] \
        if reference.candidate_gates else []
    assert failed_candidate, "the noisy v1 fixture fails a reference candidate gate"
    run_dir = Path(reference.run_dir)
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["challenger"]["thresholds"] == REFERENCE_THRESHOLDS.model_dump()
    config_text = (run_dir / "config.yaml").read_text()
    assert yaml.safe_load(config_text)["gates"] == REFERENCE_THRESHOLDS.model_dump()

    challenger = evaluation["challenger"]
    per_class = [m["precision"] for m in challenger["per_class"].values() if m["precision"] is not None]
    team_gates = {
        "macro_f1": _floor(challenger["macro_f1"]),
        "weighted_f1": _floor(challenger["weighted_f1"]),
        "breakidle_precision": _floor(challenger["per_class"]["BreakIdle"]["precision"]),
        "breakidle_recall": _floor(challenger["per_class"]["BreakIdle"]["recall"]),
        "class_precision_floor": _floor(min(per_class)),
        "reject_rate_min": _floor(challenger["reject_rate"]),
        "reject_rate_max": 1.0,
        **CHECKLIST_OPEN,  # this test is about the team gates above
    }
    baseline_failed = any(g.name == "baseline_improvement" and g.status == "failed" for g in reference.gates)
    team_home = make_home(tmp_path / "team", train_params=ROUNDS, gates=team_gates,
                          require_baseline_improvement=not baseline_failed)
    team = run_retrain(team_home, RetrainRequest(**REQUEST))
    assert team.outcome == "awaiting_signoff", team.reason
    assert team.challenger_macro_f1 == reference.challenger_macro_f1  # same model, other rules
    team_dir = Path(team.run_dir)
    recorded = json.loads((team_dir / "evaluation.json").read_text())["challenger"]["thresholds"]
    assert recorded == GateThresholds(**team_gates).model_dump()
    assert yaml.safe_load((team_dir / "config.yaml").read_text())["gates"] == recorded
    gates = json.loads((team_dir / "gates.json").read_text())
    candidate = {g["name"]: g for g in gates["candidate"]["gates"]}
    assert candidate["breakidle_precision"]["config_key"] == "gates.breakidle_precision"
    assert candidate["breakidle_precision"]["threshold"] == f">= {team_gates['breakidle_precision']}"
    assert candidate["no_class_below_50_precision"]["config_key"] == "gates.class_precision_floor"

    # the same team, its gates: section removed: the reference verdict again
    (tmp_path / "team" / "configs" / "retrain.yaml").write_text(yaml.safe_dump({"train_params": ROUNDS}))
    again = run_retrain(team_home, RetrainRequest(**REQUEST))
    assert again.outcome == "rejected"
    assert [g.name for g in again.gates if g.status == "failed"] == [
        g.name for g in reference.gates if g.status == "failed"
    ]


def test_gates_section_errors_name_the_key_the_value_and_what_is_allowed() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'gates.breakidle_precison' \(did you mean 'breakidle_precision'\?\)"):
        parse_retrain_config({"gates": {"breakidle_precison": 0.9}}, source="retrain.yaml")
    with pytest.raises(ConfigError, match=r"retrain.yaml: gates.macro_f1 must be a number in \[0.0, 1.0\]; got 1.5"):
        parse_retrain_config({"gates": {"macro_f1": 1.5}}, source="retrain.yaml")
    with pytest.raises(ConfigError, match="reject_rate_min 0.4 must not be above reject_rate_max 0.2"):
        parse_retrain_config({"gates": {"reject_rate_min": 0.4, "reject_rate_max": 0.2}}, source="retrain.yaml")
    assert parse_retrain_config({}).gates == REFERENCE_THRESHOLDS
