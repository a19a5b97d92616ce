"""The spot check a sign-off records: whom the approver looked at must cover what the run asks
(the worst-off and median people it proposes, and ``gates.spot_check_users`` people in all)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from taskclf_core.errors import PromotionRefused
from taskclf_core.paths import Home
from taskclf_core.registry.spotcheck import missing_spot_checks, run_checklist
from tests.conftest import SeededHome
from tests.helpers_retrain import spot_check_home


@pytest.fixture(scope="module")
def spot_home(tmp_path_factory: pytest.TempPathFactory, seeded_home: SeededHome) -> tuple[Path, str]:
    """A champion and a run awaiting sign-off whose config keeps the default spot check (3 people)."""
    root = tmp_path_factory.mktemp("spot") / "home"
    return root, spot_check_home(root, seeded_home.seed)


def _copy(spot_home: tuple[Path, str], tmp_path: Path) -> tuple[Home, str]:
    root, run_id = spot_home
    shutil.copytree(root, tmp_path / "home")
    return Home.resolve(tmp_path / "home"), run_id


def test_the_run_proposes_the_worst_off_and_the_median_person(spot_home: tuple[Path, str]) -> None:
    from taskclf_core.registry.runs import read_run

    root, run_id = spot_home
    evidence = run_checklist(read_run(Home.resolve(root), run_id))
    assert evidence is not None and evidence.spot_check_required == 3
    assert [c.why for c in evidence.spot_check] == ["worst off", "median"]
    worst = min(evidence.per_user, key=lambda u: u.difference)
    assert evidence.spot_check[0].user_id == worst.user_id
    people = sorted(u.user_id for u in evidence.per_user)
    proposed = [c.user_id for c in evidence.spot_check]
    third = next(p for p in people if p not in proposed)
    assert missing_spot_checks(evidence, proposed) == (
        "look at 1 more person(s): 3 people in all (gates.spot_check_users)")
    assert missing_spot_checks(evidence, [proposed[0], third]).startswith(f"look at {proposed[1]} first")
    assert missing_spot_checks(evidence, [*proposed, "nobody"]) == "nobody is not a person of this run's evaluation rows"
    assert missing_spot_checks(evidence, [*proposed, third]) is None


def test_a_sign_off_records_whom_it_looked_at_or_is_refused(spot_home: tuple[Path, str], tmp_path: Path) -> None:
    from taskclf_core.console.service import promote_run
    from taskclf_core.registry.history import read_history
    from taskclf_core.registry.runs import read_run

    home, run_id = _copy(spot_home, tmp_path)
    evidence = run_checklist(read_run(home, run_id))
    assert evidence is not None
    proposed = [c.user_id for c in evidence.spot_check]
    with pytest.raises(PromotionRefused, match=rf"^the spot check of run {run_id} is not complete: look at 1 more"):
        promote_run(home, run_id, approver="ann", note="n", looked_at=proposed)
    third = next(u.user_id for u in evidence.per_user if u.user_id not in proposed)
    entry = promote_run(home, run_id, approver="ann", note="n", looked_at=[*proposed, third, third])
    assert entry.approvals[0].looked_at == tuple(sorted({*proposed, third}))  # type: ignore[union-attr]
    assert "looked at " + ", ".join(sorted({*proposed, third})) in entry.approvals[0].describe()  # type: ignore[union-attr]
    assert read_history(home)[0].approvals[0].looked_at == entry.approvals[0].looked_at  # type: ignore[union-attr]


@pytest.mark.slow
def test_the_cli_takes_the_people_looked_at(spot_home: tuple[Path, str], tmp_path: Path) -> None:
    home, run_id = _copy(spot_home, tmp_path)
    env = {"TASKCLF_HOME": str(home.root), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "taskclf_core.console.cli", *args], capture_output=True,
                              text=True, env=env, timeout=120)

    refused = cli("train", "promote", run_id, "--approver", "cid", "--note", "n", "--looked-at", "someone")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (f"error: the spot check of run {run_id} is not complete: someone is not a "
                                      "person of this run's evaluation rows")
    ok = cli("train", "promote", run_id, "--approver", "cid", "--note", "n", "--json")  # not recorded: allowed
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["approvals"][0]["looked_at"] == []
