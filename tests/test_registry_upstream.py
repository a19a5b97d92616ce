"""A registry taskclf wrote, read as it is; our pointer and history readable by taskclf's rules.

The fixture ``tests/fixtures/upstream-registry/v{1,2,3}/models`` was written by taskclf
itself (bundle folders like ``2026-11-29_211443_run-5212``, no ``model_sha256``,
``reject_threshold: null``, its ``active.json`` and history line). Each test copies one into
a fresh home and checks: it reads as champion (origin "trained by taskclf", "no recorded
hash", not broken), shows in the listings, loads for evaluation; a promotion replaces it by
compare-and-swap and a rollback returns to it; after each step ``active.json`` resolves by
taskclf's rules (``helpers_taskclf_rules``), whatever the models folder is called, so
taskclf would never auto-repair it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers_registry import champion_of, make_run
from helpers_taskclf_rules import (
    FACTS,
    FIXTURES,
    check_fields,
    taskclf_history_lines,
    taskclf_resolve_active,
)

from taskclf_core.errors import ChampionChanged, PromotionRefused
from taskclf_core.paths import Home
from taskclf_core.registry.bundle import INTEGRITY_UNVERIFIABLE, ORIGIN_TASKCLF
from taskclf_core.registry.installed import load_installed
from taskclf_core.registry.listing import (
    LEFTOVER,
    inspect_active,
    inspect_history,
    inspect_models,
    promote,
    read_active,
    rollback,
)

SCHEMAS = ("v1", "v2", "v3")
N_FEATURES = {"v1": 39, "v2": 38, "v3": 299}


def _upstream_home(tmp_path: Path, schema: str, models_name: str = "models") -> tuple[Home, str]:
    root = tmp_path / "home"
    root.mkdir()
    shutil.copytree(FIXTURES / schema / "models", root / models_name)
    if models_name != "models":  # as taskclf writes it there: relative to the parent folder
        for name in ("active.json", "active_history.jsonl"):
            path = root / models_name / name
            path.write_text(path.read_text().replace('"models/', f'"{models_name}/'))
    home = Home(root, models=root / models_name)
    return home, FACTS["bundles_in_this_fixture"][schema]["run_id"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_taskclf_registry_reads_as_champion_with_its_origin_and_no_recorded_hash(
    tmp_path: Path, schema: str
) -> None:
    home, upstream = _upstream_home(tmp_path, schema)
    before = {p.name: p.read_bytes() for p in home.models_dir.iterdir() if p.is_file()}

    state = inspect_active(home)
    assert state.problem is None and state.champion_id == upstream
    report = inspect_models(home)
    assert report.problems == []
    [model] = report.models
    assert (model.model_id, model.is_champion, model.broken) == (upstream, True, None)
    assert (model.origin, model.integrity, model.leftover) == (
        ORIGIN_TASKCLF,
        INTEGRITY_UNVERIFIABLE,
        None,
    )
    assert model.metadata is not None and model.metadata.reject_threshold is None
    history = inspect_history(home)
    assert history.problems == []
    [entry] = history.entries
    assert (entry.action, entry.approver, entry.new_champion, entry.previous_champion) == (
        "set_active",
        "taskclf",
        upstream,
        None,
    )
    assert entry.note == "manual set-active" and entry.origin == "taskclf"

    # Loaded for evaluation as champion: booster, encoders, metadata, origin, integrity.
    bundle = load_installed(home, upstream)
    assert bundle is not None and bundle.origin == ORIGIN_TASKCLF
    assert bundle.integrity == INTEGRITY_UNVERIFIABLE and not bundle.verifiable
    assert bundle.booster.num_feature() == N_FEATURES[schema]
    assert list(bundle.encoders) == FACTS["schemas"][schema]["categorical_columns"]
    assert len(bundle.model_sha256) == 64  # taskclf records none: the hash of its model.txt
    # Reading never writes.
    assert {p.name: p.read_bytes() for p in home.models_dir.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("models_name", ["models", "registry-models"])
def test_promote_over_a_taskclf_champion_and_roll_back_to_it_keep_taskclf_reading_the_pointer(
    tmp_path: Path, schema: str, models_name: str
) -> None:
    home, upstream = _upstream_home(tmp_path, schema, models_name)
    assert taskclf_resolve_active(home.models_dir).name == upstream

    stale = make_run(home, champion=None)  # evaluated against no champion: CAS must refuse
    with pytest.raises(ChampionChanged):
        promote(home, stale, approver="alice", note="ship", auto_promote=False)
    ours = make_run(home, champion=champion_of(home))
    entry = promote(home, ours, approver="alice", note="beats taskclf's", auto_promote=False)

    assert entry.previous_champion == upstream and entry.old is not None
    assert read_active(home).model_id == ours  # type: ignore[union-attr]
    assert taskclf_resolve_active(home.models_dir).name == ours
    raw = json.loads((home.models_dir / "active.json").read_text())
    assert raw["model_dir"] == f"{models_name}/{ours}"
    assert list(raw)[:5] == ["model_dir", "selected_at", "policy_version", "model_id", "reason"]
    assert raw["reason"]["note"] == "beats taskclf's" and raw["reason"]["metric"] == "macro_f1"

    back = rollback(home, upstream, approver="ops", note="return to taskclf's", expected_champion=ours)

    assert back.previous_champion == ours and back.new_champion == upstream
    assert taskclf_resolve_active(home.models_dir).name == upstream
    assert [e.action for e in inspect_history(home).entries] == ["rollback", "promote", "set_active"]
    assert inspect_history(home).problems == []
    lines = taskclf_history_lines(home.models_dir)
    assert [line["new"]["model_id"] for line in lines] == [upstream, ours, upstream]
    assert lines[1]["old"]["model_id"] == upstream and lines[2]["old"]["model_id"] == ours
    assert lines[2]["at"] == lines[2]["new"]["selected_at"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_our_bundle_metadata_and_metrics_carry_every_field_taskclf_requires(
    tmp_path: Path, schema: str
) -> None:
    home, _ = _upstream_home(tmp_path, schema)
    ours = make_run(home, champion=champion_of(home))
    promote(home, ours, approver="alice", note="n", auto_promote=False)
    folder = home.models_dir / ours
    metadata = json.loads((folder / "metadata.json").read_text())
    check_fields(metadata, FACTS["metadata_json_fields"], "metadata.json")
    assert set(FACTS["metadata_json_fields"]) <= set(metadata)  # optional ones written too
    metrics = json.loads((folder / "metrics.json").read_text())
    check_fields(metrics, FACTS["metrics_json_fields_required_by_registry"], "metrics.json")
    from datetime import datetime

    assert datetime.fromisoformat(metadata["created_at"]).tzinfo is not None


def test_a_taskclf_bundle_that_was_never_champion_is_listed_as_left_over(tmp_path: Path) -> None:
    home, upstream = _upstream_home(tmp_path, "v1")
    shutil.copytree(
        FIXTURES / "v2" / "models" / "2026-11-29_211454_run-1131",
        home.models_dir / "2026-11-29_211454_run-1131",
    )
    models = {m.model_id: m for m in inspect_models(home).models}
    assert models["2026-11-29_211454_run-1131"].leftover == LEFTOVER
    assert not models["2026-11-29_211454_run-1131"].rollback_target
    ours = make_run(home, champion=champion_of(home))
    promote(home, ours, approver="alice", note="n", auto_promote=False)
    with pytest.raises(PromotionRefused, match="it was never champion in the applied history"):
        rollback(home, "2026-11-29_211454_run-1131", approver="ops", note="n")
    assert read_active(home).model_id == ours  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "model_dir",
    ["../models/2026-11-29_211443_run-5212", "models/../../etc", "/etc", "models/x/../../y", "models"],
)
def test_a_pointer_model_dir_that_is_a_path_trick_is_reported_not_followed(
    tmp_path: Path, model_dir: str
) -> None:
    home, _ = _upstream_home(tmp_path, "v1")
    raw = json.loads((home.models_dir / "active.json").read_text())
    raw["model_dir"] = model_dir
    (home.models_dir / "active.json").write_text(json.dumps(raw))
    state = inspect_active(home)
    assert state.problem is not None and "does not name a bundle folder in models/" in state.problem
    assert (home.models_dir / "active.json").read_text() == json.dumps(raw)  # never repaired


def test_our_old_pointer_in_a_models_folder_not_named_models_is_reported_not_repaired(
    tmp_path: Path,
) -> None:
    home, upstream = _upstream_home(tmp_path, "v1", "champions")
    assert inspect_active(home).problem is None
    raw = json.loads((home.models_dir / "active.json").read_text())
    raw["model_dir"] = f"models/{upstream}"  # what we used to write: taskclf cannot resolve it
    (home.models_dir / "active.json").write_text(json.dumps(raw))
    state = inspect_active(home)
    assert state.problem is not None and "expected champions/<model id>" in state.problem
    with pytest.raises(AssertionError, match="does not resolve"):
        taskclf_resolve_active(home.models_dir)


def test_a_taskclf_set_active_after_our_promotion_keeps_one_readable_history(tmp_path: Path) -> None:
    """taskclf drops our extra keys when it records ``old``; the chain still links up."""
    home, upstream = _upstream_home(tmp_path, "v1")
    ours = make_run(home, champion=champion_of(home))
    promote(home, ours, approver="alice", note="ours", auto_promote=False)
    ours_pointer = json.loads((home.models_dir / "active.json").read_text())
    keys = list(FACTS["active_json_fields"])
    old = {k: ours_pointer[k] for k in keys}  # what taskclf's ActivePointer keeps
    new = {
        "model_dir": f"models/{upstream}",
        "selected_at": "2026-11-30T08:00:00.000001+00:00",
        "policy_version": 1,
        "model_id": upstream,
        "reason": {"metric": "macro_f1", "macro_f1": 0.2595, "weighted_f1": 0.4658, "note": "manual set-active"},
    }
    (home.models_dir / "active.json").write_text(json.dumps(new, indent=2) + "\n")
    with (home.models_dir / "active_history.jsonl").open("a") as fh:
        fh.write(json.dumps({"at": new["selected_at"], "old": old, "new": new}, separators=(",", ":")) + "\n")

    report = inspect_history(home)
    assert report.problems == [] and report.complete
    assert [(e.action, e.new_champion) for e in report.entries] == [
        ("set_active", upstream),
        ("promote", ours),
        ("set_active", upstream),
    ]
    assert report.applied == {ours, upstream}
    back = rollback(home, ours, approver="ops", note="ours again", expected_champion=upstream)
    assert back.previous_champion == upstream
    assert taskclf_resolve_active(home.models_dir).name == ours


def test_a_taskclf_bundle_with_free_text_train_dates_loads_as_taskclf_does(tmp_path: Path) -> None:
    home, upstream = _upstream_home(tmp_path, "v1")
    path = home.models_dir / upstream / "metadata.json"
    raw = json.loads(path.read_text())
    raw["train_date_from"], raw["train_date_to"] = "whenever", "2025-07-03"
    raw["future_field"] = {"added": "by a later taskclf"}
    path.write_text(json.dumps(raw, indent=2))
    assert inspect_active(home).problem is None
    [model] = inspect_models(home).models
    assert model.broken is None and model.metadata is not None
    assert model.metadata.train_date_from == "whenever"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_taskclf_champion_is_identified_by_its_model_bytes_for_the_run_record(
    tmp_path: Path, schema: str
) -> None:
    import hashlib

    from taskclf_core.train.champion import load_champion as pipeline_champion

    home, upstream = _upstream_home(tmp_path, schema)
    state = pipeline_champion(home)
    assert state.error is None and state.model_id == upstream
    sha = hashlib.sha256((home.models_dir / upstream / "model.txt").read_bytes()).hexdigest()
    assert state.model_sha256 == sha
    assert load_installed(home, upstream).model_sha256 == sha  # one answer: LoadedBundle.model_sha256
    # The file itself is untouched: no hash is written into taskclf's metadata.
    assert "model_sha256" not in json.loads((home.models_dir / upstream / "metadata.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_forced_retrain_evaluates_the_taskclf_champion_and_records_it(
    tmp_path: Path, schema: str
) -> None:
    from datetime import date

    from conftest import SEED_DAYS, SEED_USERS, write_config

    from taskclf_core.console.request import RetrainRequest
    from taskclf_core.console.service import run_retrain
    from taskclf_core.data.synthetic import synthesize_data_dir

    home, upstream = _upstream_home(tmp_path, schema)
    write_config(home.root)
    last = date(2026, 11, 20)
    users = 1 if schema == "v2" else SEED_USERS  # v2 files hold one user each
    team = synthesize_data_dir(
        tmp_path / "data", users=users, days=SEED_DAYS, date_to=last, seed=0, schema_version=schema
    )
    user = str(team.spans["user_id"].iloc[0]) if schema == "v2" else None
    request = RetrainRequest(data_dir=tmp_path / "data", force=True, date_to=last, user_id=user)
    result = run_retrain(home, request)
    decision = json.loads((home.runs_dir / result.run_id / "decision.json").read_text())
    assert decision["champion_error"] is None, decision["champion_error"]
    assert decision["champion_compared"]["run_id"] == upstream
    evaluation = json.loads((home.runs_dir / result.run_id / "evaluation.json").read_text())
    assert evaluation["champion"] is not None
