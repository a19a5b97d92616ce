"""SIGKILL at every write of a policy promotion and of a rollback: taskclf serves one deployment whole.

The home is a copy of the fixture's ``policy-temperature`` (taskclf's policy: model A, its
temperature store, threshold 0.9) with a console run awaiting sign-off. Each operation is
first run once recording every fault point it reaches (``TASKCLF_FAULTPOINT_RECORD``), then
once per point in a fresh copy, killed there. After each kill, taskclf's own resolution
rules (``tests/taskclf_policy_rules.py``, independent of our code) must give the old
deployment whole (A, ``artifacts/calibrator_store``, 0.9, the policy's exact bytes) or the
new one whole (the run's model, a store bound to it, its threshold), never a mix and never
an error; and the next change (or ``complete_interrupted_change``) leaves every path agreeing.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import taskclf_policy_rules as taskclf_rules
from helpers_faults import Zygote, shared_zygote

from taskclf_core.console.request import RetrainRequest
from taskclf_core.console.service import run_retrain
from taskclf_core.paths import Home
from taskclf_core.registry.deploychange import complete_interrupted_change
from taskclf_core.registry.deployment import inspect_deployment
from taskclf_core.registry.pointer import registry_lock
from taskclf_core.registry.promotion import promote
from tests.helpers_upstream import DATA, DATA_FROM, DATA_TO, POLICY, A, sample_config, upstream_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zygote() -> Zygote:
    return shared_zygote()


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """``awaiting``: the run not yet promoted; ``promoted``: after its sign-off."""
    base = tmp_path_factory.mktemp("policy-crash")
    awaiting = upstream_home(base / "awaiting", config=sample_config(macro_f1=0.2, regression_tolerance=0.5))
    result = run_retrain(Home.resolve(awaiting), RetrainRequest(
        force=True, data_dir=DATA, date_from=DATA_FROM, date_to=DATA_TO))
    assert result.outcome == "awaiting_signoff", result.reason
    promoted = base / "promoted"
    shutil.copytree(awaiting, promoted)
    promote(Home.resolve(promoted), result.run_id, approver="alice", note="ship", auto_promote=False)
    deployment = json.loads((awaiting / "artifacts" / "runs" / result.run_id / "deployment.json").read_text())
    return {"awaiting": awaiting, "promoted": promoted, "run": result.run_id,
            "threshold": deployment["reject_threshold"],
            "old_policy": (POLICY / "policy-temperature" / "models" / "inference_policy.json").read_bytes()}


def _whole(root: Path, homes: dict[str, object]) -> str:
    """``"old"`` or ``"new"`` when taskclf resolves that deployment whole; fails otherwise."""
    run = str(homes["run"])
    resolved = taskclf_rules.resolve(root / "models")  # raises TaskclfRaises if taskclf would
    assert resolved.from_policy, "taskclf fell back to active.json: the policy was left unusable"
    if resolved.model_dir.name == A:
        assert resolved.threshold == 0.9 and resolved.store_dir == root / "artifacts" / "calibrator_store"
        assert (root / "models" / "inference_policy.json").read_bytes() == homes["old_policy"]
        return "old"
    assert resolved.model_dir.name == run, resolved.model_dir
    assert resolved.threshold == homes["threshold"]
    assert resolved.store_dir is not None and resolved.store_dir.name == run
    assert json.loads((resolved.store_dir / "store.json").read_text())["model_bundle_id"] == run
    assert (resolved.model_dir / "model.txt").is_file()
    return "new"


def _points(zygote: Zygote, source: Path, scratch: Path, op: str, **args: str) -> list[str]:
    """Every fault point the operation reaches, as ``name#n``."""
    root = scratch / "record"
    shutil.copytree(source, root)
    record = scratch / "points.txt"
    trial = zygote.run(op, root=str(root), env={"TASKCLF_FAULTPOINT_RECORD": str(record)}, **args)
    assert trial.status == "ok", trial.describe()
    seen: Counter[str] = Counter()
    points = []
    for name in record.read_text().split():
        seen[name] += 1
        points.append(f"{name}#{seen[name]}")
    return points


def _settle(root: Path) -> None:
    """What the next change does first: complete an interrupted change; then every path agrees."""
    home = Home.resolve(root)
    with registry_lock(home):
        complete_interrupted_change(home)
    deployment = inspect_deployment(home)
    assert deployment.served.model_id == deployment.batch.model_id, deployment.problems
    assert not [p for p in deployment.problems if p.severity == "error"], deployment.problems


@pytest.mark.parametrize(("op", "source", "target"), [("promote", "awaiting", "run"), ("rollback", "promoted", "A")])
def test_a_kill_at_every_write_leaves_one_deployment_whole(
    op: str, source: str, target: str, homes: dict[str, object], zygote: Zygote, tmp_path: Path
) -> None:
    args = {"run_id": str(homes["run"])} if op == "promote" else {"model_id": A}
    points = _points(zygote, Path(str(homes[source])), tmp_path, op, **args)
    assert {"deploy.policy#1", "commit.appended#1"} <= set(points)
    if op == "promote":
        assert "deploy.store#1" in points
    reached: Counter[str] = Counter()
    for point in points:
        root = tmp_path / point.replace("#", "-")
        shutil.copytree(Path(str(homes[source])), root)
        trial = zygote.run(op, root=str(root), fault=point, **args)
        assert trial.killed, f"{op} at {point}: {trial.describe()}"
        reached[_whole(root, homes)] += 1
        _settle(root)
        assert _whole(root, homes) in ("old", "new")
    # some kills land before the policy moved and some after
    assert reached["old"] and reached["new"], reached
    print(f"{op}: {len(points)} kill points, {dict(reached)}")
