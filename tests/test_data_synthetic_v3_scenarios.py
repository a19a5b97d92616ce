"""Each synthetic scenario keeps its meaning at schema v3, through a real data directory."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from taskclf_core.console.request import RetrainRequest
from taskclf_core.console.service import promote_run, run_retrain
from taskclf_core.errors import InsufficientDataError
from taskclf_core.synthetic.team import synthesize_data_dir
from tests.helpers_retrain import make_home

pytestmark = pytest.mark.slow

LAST_DAY = date(2025, 7, 30)
FIRST_DAY = date(2025, 7, 1)


def v3_retrain(home, root: Path, scenario: str):
    data = root / f"data-{scenario}"
    synthesize_data_dir(data, scenario, users=3, days=30, date_to=LAST_DAY, seed=0, schema_version="v3")
    request = RetrainRequest(force=True, data_dir=data, date_from=FIRST_DAY, date_to=LAST_DAY)
    return run_retrain(home, request)


def test_scenarios_at_v3_give_their_outcomes(tmp_path: Path) -> None:
    home = make_home(tmp_path, train_params={"num_boost_round": 40})  # outcomes hold; the suite stays quick
    first = v3_retrain(home, tmp_path, "default")
    assert first.outcome == "awaiting_signoff", first.reason
    assert first.candidate_gates.all_passed
    promote_run(home, first.run_id, approver="alice", note="v3 champion")

    drift = v3_retrain(home, tmp_path, "drift")
    gates = {g.name: g for g in drift.gates}
    assert drift.outcome == "rejected", drift.reason
    assert drift.candidate_gates.all_passed  # only the comparison with the champion fails
    assert gates["macro_f1_no_regression"].status == "failed", gates["macro_f1_no_regression"].detail

    noisy = v3_retrain(home, tmp_path, "noisy")
    assert noisy.outcome == "rejected" and not noisy.candidate_gates.all_passed

    with pytest.raises(InsufficientDataError, match=r"only \d+ labelled windows"):
        v3_retrain(home, tmp_path, "sparse")
