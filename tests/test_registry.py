"""The file registry: runs, champion pointer, history, promotion, rollback, lock, listings.

Every test builds a real registry in ``tmp_path`` (real bundles from a tiny LightGBM,
runs written with ``write_run``) and pins messages, not just exception types.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers_registry import champion_of, make_run, promoted_run, race_worker

from taskclf_core.errors import (
    BusyError,
    ChampionChanged,
    PromotionRefused,
    RegistryError,
    RunIdError,
)
from taskclf_core.paths import Home
from taskclf_core.registry import deploychange
from taskclf_core.registry.history import HistoryEntry, append_history, new_change_id
from taskclf_core.registry.latest import find_latest_model
from taskclf_core.registry.listing import (
    ChampionRef,
    champion_problem,
    cleanup_stale_temp,
    inspect_history,
    list_models,
    list_runs,
    promotability,
    promote,
    promote_auto,
    read_active,
    read_history,
    read_run,
    registry_lock,
    rollback,
    verify_run,
    write_run,
)
from taskclf_core.registry.runids import new_run_id


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


def _active_bytes(home: Home) -> bytes:
    return (home.models_dir / "active.json").read_bytes()


def _refusal(home: Home, run_id: str, *, auto_promote: bool = False) -> str:
    """promote's refusal message, after checking promotability says the same."""
    can, reason = promotability(home, run_id, auto_promote=auto_promote)
    with pytest.raises(PromotionRefused) as err:
        promote(home, run_id, approver="alice", note="ship it", auto_promote=auto_promote)
    assert not can
    assert reason == str(err.value)
    return str(err.value)


# --------------------------------------------------------------------------- runs


def test_write_run_records_a_manifest_of_every_file(home: Home) -> None:
    run_id = make_run(home)
    folder = home.runs_dir / run_id
    decision = json.loads((folder / "decision.json").read_text())

    others = sorted(p.name for p in folder.iterdir() if p.name != "decision.json")
    assert sorted(decision["manifest"]) == others
    from taskclf_core.registry.bundle import sha256_file

    assert all(decision["manifest"][n] == sha256_file(folder / n) for n in others)
    assert verify_run(home, run_id) is None
    assert read_run(home, run_id).decision.outcome == "awaiting_signoff"
    assert not [p for p in home.runs_dir.iterdir() if p.name.startswith(".tmp-")]


def test_decision_keeps_extra_keys_and_the_champion_error(home: Home) -> None:
    run_id = new_run_id()
    decision = {
        "outcome": "awaiting_signoff",
        "reason": "all gates passed",
        "champion_compared": None,
        "champion_error": "models/active.json is not valid JSON",
        "started_at": "2026-11-26T07:00:00+02:00",
        "finished_at": "2026-11-26T05:01:00Z",
        "auto_promote": False,
        "dataset_hash": "abc",
        "macro_f1": 0.7,
        "taskclf_core_version": "0.1.0",
    }
    write_run(home.runs_dir, run_id, files={"notes.txt": b"x"}, decision=decision)

    read = read_run(home, run_id).decision
    assert read.champion_error == "models/active.json is not valid JSON"
    assert read.model_extra == {"taskclf_core_version": "0.1.0"}
    assert (read.started_at, read.finished_at) == (
        "2026-11-26T05:00:00+00:00",
        "2026-11-26T05:01:00+00:00",
    )
    assert verify_run(home, run_id) == (
        f"run {run_id}: its manifest lists no model.txt; the run has no complete bundle"
    )


def test_verify_run_detects_an_altered_file(home: Home) -> None:
    run_id = make_run(home)
    with open(home.runs_dir / run_id / "gates.json", "a") as fh:
        fh.write(" ")

    assert verify_run(home, run_id) == (
        f"run {run_id}: gates.json does not match its SHA-256 in the manifest of "
        "decision.json (file altered after the run?)"
    )


def test_verify_run_detects_a_missing_file(home: Home) -> None:
    run_id = make_run(home)
    (home.runs_dir / run_id / "evaluation.json").unlink()

    assert verify_run(home, run_id) == (
        f"run {run_id}: evaluation.json is missing (listed in the manifest of decision.json)"
    )


def test_verify_run_checks_the_bundle_behind_the_manifest(home: Home) -> None:
    run_id = make_run(home, extra_files={"model.txt": b"tree\n"})

    assert verify_run(home, run_id) == (
        f"bundle artifacts/runs/{run_id}: model.txt does not match model_sha256 in "
        "metadata.json (file altered after the run?)"
    )


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "decision.json", "", "é.json"])
def test_write_run_refuses_unsafe_file_names(home: Home, name: str) -> None:
    with pytest.raises(RegistryError, match=f"{name!r} is not an allowed file name"):
        write_run(home.runs_dir, new_run_id(), files={name: b"x"}, decision={})
    assert not home.runs_dir.exists() or not list(home.runs_dir.iterdir())


def test_write_run_refuses_an_invalid_decision(home: Home) -> None:
    run_id = new_run_id()
    with pytest.raises(RegistryError) as err:
        write_run(home.runs_dir, run_id, files={}, decision={"outcome": "maybe"})
    message = str(err.value)
    assert message.startswith(
        f"cannot write run {run_id}: the decision is invalid: outcome must be one of "
        "'dry_run', 'rejected', 'awaiting_signoff' or 'promoted'; got 'maybe'"
    )
    assert "reason is required" in message
    assert not (home.runs_dir / run_id).exists()


BAD_RUN_IDS = [
    "../../etc",
    "/etc/passwd",
    "20261126T052430123456Z-a1b2c3/../../x",
    "20261126T052430123456Z-a1b2c\x00",
    "20261126T052430123456Z-a1b2c3\n",
    "２０２６1126T052430123456Z-a1b2c3",
    "20261126T052430123456Z-A1B2C3",
    "x" * 5000,
    "",
]


@pytest.mark.parametrize("bad", BAD_RUN_IDS)
def test_run_ids_from_outside_are_validated_before_any_path(home: Home, bad: str) -> None:
    for call in (
        lambda: read_run(home, bad),
        lambda: promote(home, bad, approver="a", note="n", auto_promote=False),
        lambda: rollback(home, bad, approver="a", note="n"),
        lambda: write_run(home.runs_dir, bad, files={}, decision={}),
    ):
        with pytest.raises(RunIdError) as err:
            call()
        assert str(err.value).startswith(("invalid run id ", "invalid model id "))
        assert "20261126T052430123456Z-a1b2c3" in str(err.value)
        assert len(str(err.value)) < 250
    can, reason = promotability(home, bad, auto_promote=False)
    assert not can and reason.startswith("invalid run id ")
    assert verify_run(home, bad) is not None
    assert not home.models_dir.exists() and not home.runs_dir.exists()


def test_read_run_reports_an_unknown_run(home: Home) -> None:
    run_id = new_run_id()
    with pytest.raises(RunIdError) as err:
        read_run(home, run_id)
    assert str(err.value) == f"no run {run_id} in artifacts/runs"


def test_list_runs_is_newest_first_and_lists_broken_runs(home: Home) -> None:
    first = make_run(home)
    second = make_run(home, outcome="rejected", failed_gates=("breakidle_precision",))
    broken = make_run(home)
    (home.runs_dir / broken / "decision.json").write_text("{")
    missing = make_run(home)
    (home.runs_dir / missing / "metrics.json").unlink()
    (home.runs_dir / f".tmp-{new_run_id()}.999999.abcdef12").mkdir()
    (home.runs_dir / "notes").mkdir()

    runs = list_runs(home)

    assert [r.run_id for r in runs] == [missing, broken, second, first, "notes"]
    assert runs[0].broken == (
        f"run {missing}: metrics.json is missing (listed in the manifest of decision.json)"
    )
    assert runs[1].broken is not None
    assert runs[1].broken.startswith(f"run {broken}: decision.json is not valid JSON")
    assert runs[1].outcome is None
    assert (runs[2].outcome, runs[2].broken) == ("rejected", None)
    assert runs[4].broken == "folder name 'notes' is not a run id"


def test_list_runs_verify_hashes_every_file(home: Home) -> None:
    run_id = make_run(home)
    with open(home.runs_dir / run_id / "evaluation.json", "a") as fh:
        fh.write(" ")

    assert list_runs(home)[0].broken is None
    assert "evaluation.json does not match its SHA-256" in (
        list_runs(home, verify=True)[0].broken or ""
    )


def test_cleanup_removes_only_leftovers_of_dead_writers(home: Home) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    home.models_dir.mkdir(parents=True)
    home.runs_dir.mkdir(parents=True)
    stale_dir = home.runs_dir / f".tmp-{new_run_id()}.{dead.pid}.0123abcd"
    stale_dir.mkdir()
    (stale_dir / "model.txt").write_text("partial")
    stale_file = home.models_dir / f".tmp-active.json.{dead.pid}.89abcdef"
    stale_file.write_text("{")
    live = home.runs_dir / f".tmp-{new_run_id()}.{os.getpid()}.0123abcd"
    live.mkdir()
    unrelated = home.models_dir / ".tmp-notes"
    unrelated.mkdir()

    assert cleanup_stale_temp(home, min_age_seconds=3600) == []
    removed = cleanup_stale_temp(home, min_age_seconds=0)

    assert sorted(removed) == sorted([stale_dir, stale_file])
    assert live.exists() and unrelated.exists()
    assert not stale_dir.exists() and not stale_file.exists()


# --------------------------------------------------------------------------- promotion


def test_first_promotion_sets_pointer_history_and_bundle(home: Home) -> None:
    run_id = make_run(home)
    assert promotability(home, run_id, auto_promote=False) == (
        True,
        f"run {run_id} passed every gate and can be promoted; it replaces no champion "
        "(this will be the first)",
    )

    entry = promote(home, run_id, approver=" alice ", note=" good gates ", auto_promote=False)

    pointer = read_active(home)
    assert pointer is not None
    assert (pointer.model_dir, pointer.model_id) == (f"models/{run_id}", run_id)
    assert pointer.change_id == entry.change_id
    assert pointer.reason.action == "promote"
    assert (pointer.reason.approver, pointer.reason.note) == ("alice", "good gates")
    assert pointer.selected_at.endswith("+00:00")
    assert (entry.previous_champion, entry.new_champion, entry.previous_change_id) == (
        None,
        run_id,
        None,
    )
    assert entry.gates_summary == "7 passed, 0 failed, 0 skipped"
    assert entry.dataset_hash == "d5a7a5e7c0ffee00"
    assert read_history(home) == [entry]
    assert [m.model_id for m in list_models(home)] == [run_id]
    assert list_models(home)[0].is_champion and list_models(home)[0].broken is None
    assert champion_problem(home) is None
    for name in ("model.txt", "metadata.json", "metrics.json"):
        src = (home.runs_dir / run_id / name).read_bytes()
        assert (home.models_dir / run_id / name).read_bytes() == src


def test_promotion_over_a_champion_links_the_history(home: Home) -> None:
    first = promoted_run(home)
    second = make_run(home, champion=champion_of(home))

    entry = promote(home, second, approver="bob", note="better", auto_promote=False)

    history = read_history(home)
    assert [e.new_champion for e in history] == [second, first]
    assert entry.previous_champion == first
    assert entry.previous_change_id == history[1].change_id
    assert [(m.model_id, m.is_champion) for m in list_models(home)] == [
        (second, True),
        (first, False),
    ]


def test_promote_refuses_a_dry_run(home: Home) -> None:
    run_id = make_run(home, outcome="dry_run")
    assert _refusal(home, run_id) == (
        f"run {run_id} is a dry run: dry runs are never promotable; start a real run"
    )


def test_promote_refuses_a_rejected_run(home: Home) -> None:
    run_id = make_run(
        home, outcome="rejected", failed_gates=("breakidle_precision", "macro_f1_no_regression")
    )
    assert _refusal(home, run_id) == (
        f"run {run_id} was rejected by gate(s) breakidle_precision, macro_f1_no_regression; "
        "it can never be promoted"
    )


def test_rejected_run_without_failed_gates_in_decision_names_them_from_gates_json(
    home: Home,
) -> None:
    gates = {
        "candidate": {
            "all_passed": False,
            "gates": [
                {"name": "breakidle_precision", "passed": False, "skipped": False},
                {"name": "challenger_acceptance", "passed": True, "skipped": False},
            ],
        },
        "comparative": {
            "gates": [{"name": "macro_f1_no_regression", "passed": False, "skipped": True}]
        },
    }
    run_id = make_run(
        home, outcome="rejected", extra_files={"gates.json": json.dumps(gates).encode()}
    )
    assert _refusal(home, run_id) == (
        f"run {run_id} was rejected by gate(s) breakidle_precision; it can never be promoted"
    )


def test_promote_refuses_when_auto_promote_is_on(home: Home) -> None:
    run_id = make_run(home)
    assert _refusal(home, run_id, auto_promote=True) == (
        "auto_promote is on in configs/retrain.yaml: promotion is automatic"
    )


def test_promote_refuses_a_run_promoted_automatically(home: Home) -> None:
    run_id = make_run(home, outcome="promoted", auto_promote=True)
    promote_auto(home, run_id)  # as the pipeline does (else it is an interrupted promotion)
    assert _refusal(home, run_id) == (
        f"run {run_id} has outcome 'promoted' (it was promoted automatically when it ran); "
        "only runs awaiting sign-off are promoted by hand"
    )


@pytest.mark.parametrize(
    ("approver", "note", "message"),
    [
        ("", "fine", "an approver is required to promote; got ''"),
        ("   ", "fine", "an approver is required to promote; got '   '"),
        ("alice", "", "a note is required to promote (say why); got ''"),
        ("alice", " \t", "a note is required to promote (say why); got ' \\t'"),
    ],
)
def test_promote_requires_approver_and_note(
    home: Home, approver: str, note: str, message: str
) -> None:
    run_id = make_run(home)
    with pytest.raises(PromotionRefused) as err:
        promote(home, run_id, approver=approver, note=note, auto_promote=False)
    assert str(err.value) == message
    assert not (home.models_dir / "active.json").exists()


def test_promote_refuses_altered_run_files(home: Home) -> None:
    run_id = make_run(home)
    with open(home.runs_dir / run_id / "gates.json", "a") as fh:
        fh.write(" ")
    assert _refusal(home, run_id) == (
        f"run {run_id} cannot be promoted because its files are not intact: run {run_id}: "
        "gates.json does not match its SHA-256 in the manifest of decision.json "
        "(file altered after the run?)"
    )
    assert not (home.models_dir / run_id).exists()


def test_promote_refuses_the_current_champion_and_earlier_champions(home: Home) -> None:
    first = promoted_run(home)
    assert _refusal(home, first) == f"run {first} is already the champion"

    second = promoted_run(home, note="newer")
    message = _refusal(home, first)
    assert message.startswith(f"run {first} was already promoted (promote of {first} by alice at ")
    assert message.endswith("); use rollback to make it champion again")
    assert read_active(home).model_id == second  # type: ignore[union-attr]


def test_promote_refuses_when_champion_changed(home: Home) -> None:
    first = promoted_run(home)
    stale = make_run(home, champion=champion_of(home))
    second = promoted_run(home, note="someone else was faster")

    can, reason = promotability(home, stale, auto_promote=False)
    with pytest.raises(ChampionChanged) as err:
        promote(home, stale, approver="carol", note="looks good", auto_promote=False)

    expected = (
        f"the champion changed since this run was evaluated (was {first}, now {second}); "
        "re-run the retrain to compare against the new champion"
    )
    assert (can, reason, str(err.value)) == (False, expected, expected)
    assert read_active(home).model_id == second  # type: ignore[union-attr]


def test_promote_refuses_a_run_compared_against_nothing_once_a_champion_exists(
    home: Home,
) -> None:
    early = make_run(home)
    first = promoted_run(home)
    with pytest.raises(ChampionChanged, match=f"\\(was none, now {first}\\)"):
        promote(home, early, approver="a", note="n", auto_promote=False)


def test_promote_honours_an_explicit_expected_champion(home: Home) -> None:
    first = promoted_run(home)
    run_id = make_run(home, champion=champion_of(home))
    with pytest.raises(ChampionChanged, match=f"\\(was none, now {first}\\)"):
        promote(home, run_id, approver="a", note="n", auto_promote=False, expected_champion=None)
    promote(home, run_id, approver="a", note="n", auto_promote=False, expected_champion=first)
    assert read_active(home).model_id == run_id  # type: ignore[union-attr]


def test_promote_of_an_unknown_run_names_it(home: Home) -> None:
    run_id = new_run_id()
    with pytest.raises(RunIdError) as err:
        promote(home, run_id, approver="a", note="n", auto_promote=False)
    assert str(err.value) == f"no run {run_id} in artifacts/runs"
    assert promotability(home, run_id, auto_promote=False) == (
        False,
        f"no run {run_id} in artifacts/runs",
    )


def test_promote_auto_makes_an_automatic_change(home: Home) -> None:
    first = promoted_run(home)
    run_id = make_run(home, outcome="promoted", auto_promote=True, champion=champion_of(home))

    entry = promote_auto(home, run_id)

    assert (entry.action, entry.approver, entry.previous_champion) == (
        "auto_promote",
        "auto",
        first,
    )
    assert entry.note == "test run with outcome promoted"
    assert read_active(home).reason.action == "auto_promote"  # type: ignore[union-attr]
    with pytest.raises(PromotionRefused, match=f"run {run_id} is already the champion"):
        promote_auto(home, run_id)


def test_promote_auto_refuses_a_run_awaiting_signoff(home: Home) -> None:
    run_id = make_run(home)
    with pytest.raises(PromotionRefused) as err:
        promote_auto(home, run_id)
    assert str(err.value) == (
        f"run {run_id} has outcome 'awaiting_signoff' with auto_promote off; automatic "
        "promotion needs outcome 'promoted' from a run with auto_promote on"
    )


def test_pipeline_may_hold_the_lock_around_write_run_and_promote_auto(home: Home) -> None:
    with registry_lock(home):
        run_id = make_run(home, outcome="promoted", auto_promote=True)
        promote_auto(home, run_id)
    assert read_active(home).model_id == run_id  # type: ignore[union-attr]


def test_registry_follows_a_models_folder_placed_elsewhere(tmp_path: Path) -> None:
    home = Home(tmp_path, models=tmp_path / "shared" / "champions")
    run_id = promoted_run(home)

    assert (home.models_dir / run_id / "model.txt").is_file()
    assert not (tmp_path / "models").exists()
    pointer = read_active(home)
    # taskclf resolves model_dir against the folder holding the models folder
    assert pointer is not None and pointer.model_dir == f"{home.models_dir.name}/{run_id}"
    assert champion_problem(home) is None
    assert [m.is_champion for m in list_models(home)] == [True]


def test_promote_reuses_a_complete_bundle_left_by_a_stopped_promotion(home: Home) -> None:
    run_id = make_run(home)
    target = home.models_dir / run_id
    target.mkdir(parents=True)
    for name in (
        "model.txt",
        "metadata.json",
        "metrics.json",
        "confusion_matrix.csv",
        "categorical_encoders.json",
    ):
        shutil.copyfile(home.runs_dir / run_id / name, target / name)

    promote(home, run_id, approver="a", note="n", auto_promote=False)

    assert read_active(home).model_id == run_id  # type: ignore[union-attr]


def test_promote_refuses_a_broken_bundle_already_in_models(home: Home) -> None:
    run_id = make_run(home)
    (home.models_dir / run_id).mkdir(parents=True)
    message = _refusal(home, run_id)
    assert message == (
        f"models/{run_id} already exists and is broken (bundle models/{run_id}: model.txt is "
        "missing (incomplete bundle)); move it aside, then promote again"
    )


# --------------------------------------------------------------------------- crashes and history


def test_crash_between_history_append_and_pointer_move_leaves_an_orphan(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = promoted_run(home)
    before = _active_bytes(home)
    run_id = make_run(home, champion=champion_of(home))

    def crash(*args: object, **kwargs: object) -> None:
        raise SystemExit("power cut")

    monkeypatch.setattr(deploychange, "write_active", crash)
    with pytest.raises(SystemExit):
        promote(home, run_id, approver="a", note="n", auto_promote=False)
    monkeypatch.undo()

    assert _active_bytes(home) == before
    assert [e.new_champion for e in read_history(home)] == [first]
    report = inspect_history(home)
    assert [e.new_champion for e in report.orphaned] == [run_id]
    assert report.problems[0].endswith(
        "never took effect (the process stopped before moving the pointer); ignored"
    )

    # The run can still be promoted; the bundle copied before the crash is reused.
    entry = promote(home, run_id, approver="a", note="again", auto_promote=False)
    assert [e.change_id for e in read_history(home)][0] == entry.change_id
    assert [e.new_champion for e in read_history(home)] == [run_id, first]
    assert len(inspect_history(home).orphaned) == 1


def test_orphan_entry_appended_by_hand_is_not_effective(home: Home) -> None:
    first = promoted_run(home)
    other = make_run(home)
    orphan = HistoryEntry(
        change_id=new_change_id(),
        previous_change_id=read_active(home).change_id,  # type: ignore[union-attr]
        time="2026-11-26T05:24:30+00:00",
        action="promote",
        approver="mallory",
        note="never happened",
        previous_champion=first,
        new_champion=other,
        run_id=other,
        dataset_hash="x",
        gates_summary="",
    )
    append_history(home, orphan)

    assert [e.new_champion for e in read_history(home)] == [first]
    assert inspect_history(home).orphaned == [orphan]


def test_torn_last_history_line_is_tolerated(home: Home) -> None:
    first = promoted_run(home)
    with open(home.models_dir / "active_history.jsonl", "ab") as fh:
        fh.write(b'{"change_id": "0123456789abcdef0123456789abcdef", "action": "pro')

    assert [e.new_champion for e in read_history(home)] == [first]
    problems = inspect_history(home).problems
    assert len(problems) == 1
    assert problems[0].startswith("models/active_history.jsonl line 2 is not a valid entry (")
    assert problems[0].endswith("); ignored (torn write?)")

    second = promoted_run(home, note="after the torn line")
    assert [e.new_champion for e in read_history(home)] == [second, first]
    lines = (home.models_dir / "active_history.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["new_champion"] == second


# --------------------------------------------------------------------------- broken pointer


def test_garbage_in_active_json_is_reported_not_replaced(home: Home) -> None:
    first = promoted_run(home)
    second_run = make_run(home, champion=champion_of(home))
    garbage = b'{"model_dir": "models/x", oops'
    (home.models_dir / "active.json").write_bytes(garbage)

    with pytest.raises(RegistryError) as err:
        read_active(home)
    assert str(err.value).startswith("models/active.json is not valid JSON (Expecting")
    problem = champion_problem(home)
    assert problem is not None and problem.what == str(err.value)
    assert problem.fix.startswith(f"roll back on the History page to a former champion whose bundle is good (for example {first})")
    message = _refusal(home, second_run)
    assert message.startswith("the champion pointer is broken (models/active.json is not valid")
    assert list_models(home)[0].broken is None
    assert _active_bytes(home) == garbage  # nothing replaced it

    entry = rollback(home, first, approver="ops", note="repair the pointer")

    assert read_active(home).model_id == first  # type: ignore[union-attr]
    assert champion_problem(home) is None
    assert entry.previous_champion is None
    # The repair links to nothing (the last line on file might never have taken effect)
    # and records the gap; the earlier change is shown as unconfirmed.
    assert entry.previous_change_id is None and entry.gap is not None
    assert [e.action for e in read_history(home)] == ["rollback"]
    report = inspect_history(home)
    assert [e.new_champion for e in report.unconfirmed] == [first]
    assert any("history gap before rollback of" in p for p in report.problems)


def test_pointer_naming_a_missing_or_broken_bundle_is_reported(home: Home) -> None:
    first = promoted_run(home)
    model = home.models_dir / first / "model.txt"
    model.write_bytes(model.read_bytes() + b"\n")

    with pytest.raises(RegistryError) as err:
        read_active(home)
    assert str(err.value) == (
        f"models/active.json points to models/{first}, which is broken: bundle models/{first}: "
        f"model.txt does not match its SHA-256 in the manifest of artifacts/runs/{first}/"
        "decision.json (file altered after the run?)"
    )
    problem = champion_problem(home)
    assert problem is not None and problem.what == str(err.value)
    assert problem.fix == (
        "there is no good bundle in models/ to roll back to: move "
        "models/active.json aside by hand (the registry then has no champion) and run a retrain"
    )

    shutil.rmtree(home.models_dir / first)
    with pytest.raises(RegistryError) as err:
        read_active(home)
    assert str(err.value) == f"models/active.json points to models/{first}, which does not exist"


def test_pointer_cannot_steer_a_path_outside_models(home: Home) -> None:
    promoted_run(home)
    raw = json.loads(_active_bytes(home))
    raw["model_dir"] = "../../etc"
    (home.models_dir / "active.json").write_text(json.dumps(raw))

    with pytest.raises(RegistryError) as err:
        read_active(home)
    assert str(err.value).startswith("models/active.json: model_dir '../../etc' does not name a bundle folder in models/")


# --------------------------------------------------------------------------- rollback


def test_rollback_restores_a_previous_champion(home: Home) -> None:
    first = promoted_run(home)
    second = promoted_run(home, note="newer")

    entry = rollback(
        home, first, approver="ops", note="second misbehaves", expected_champion=second
    )

    pointer = read_active(home)
    assert pointer is not None and pointer.model_id == first
    assert pointer.change_id == entry.change_id and pointer.reason.action == "rollback"
    assert (entry.previous_champion, entry.new_champion, entry.approver) == (second, first, "ops")
    assert entry.gates_summary == "7 passed, 0 failed, 0 skipped"
    assert [e.action for e in read_history(home)] == ["rollback", "promote", "promote"]


def test_rollback_refusals(home: Home) -> None:
    first = promoted_run(home)
    second = promoted_run(home, note="newer")
    unknown = new_run_id()

    cases = [
        (
            lambda: rollback(home, unknown, approver="a", note="n"),
            f"there is no promoted model {unknown} in models/; roll back only to a model listed there",
        ),
        (
            lambda: rollback(home, second, approver="a", note="n"),
            f"model {second} is already the champion",
        ),
        (
            lambda: rollback(home, first, approver="", note="n"),
            "an approver is required to roll back; got ''",
        ),
        (
            lambda: rollback(home, first, approver="a", note=" "),
            "a note is required to roll back (say why); got ' '",
        ),
    ]
    for call, message in cases:
        with pytest.raises(PromotionRefused) as err:
            call()
        assert str(err.value) == message

    with pytest.raises(ChampionChanged) as changed:
        rollback(home, first, approver="a", note="n", expected_champion=first)
    assert str(changed.value) == (
        f"the champion changed since the rollback was chosen (was {first}, now {second}); "
        "review the history and try again"
    )

    (home.models_dir / first / "metrics.json").write_text("{}")
    with pytest.raises(PromotionRefused) as err:
        rollback(home, first, approver="a", note="n")
    assert str(err.value) == (
        f"cannot roll back to {first}: bundle models/{first}: metrics.json does not match its "
        f"SHA-256 in the manifest of artifacts/runs/{first}/decision.json (file altered after "
        "the run?)"
    )
    assert read_active(home).model_id == second  # type: ignore[union-attr]
    assert len(read_history(home)) == 2


# --------------------------------------------------------------------------- lock


def test_lock_times_out_with_busy_error_and_is_reentrant(home: Home) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with registry_lock(home):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        with pytest.raises(BusyError) as err, registry_lock(home, timeout=0.2):
            pass
        assert 0.2 <= time.monotonic() - started < 2
        assert str(err.value) == (
            "the model registry is busy: another promotion or rollback holds "
            "models/.registry.lock (waited 0.2 s); try again in a moment"
        )
    finally:
        release.set()
        thread.join()
    with registry_lock(home, timeout=1), registry_lock(home, timeout=0):
        pass


def test_lock_of_a_killed_process_is_released_by_the_kernel(home: Home) -> None:
    home.models_dir.mkdir(parents=True)
    script = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(home.models_dir / '.registry.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(BusyError), registry_lock(home, timeout=0.1):
            pass
    finally:
        proc.kill()
        proc.wait()
    with registry_lock(home, timeout=2):
        pass


# --------------------------------------------------------------------------- listings


def test_list_models_flags_broken_bundles_and_the_champion(home: Home) -> None:
    first = promoted_run(home)
    second = promoted_run(home, note="newer")
    (home.models_dir / first / "categorical_encoders.json").unlink()
    (home.models_dir / ".tmp-leftover.1.abcdef12").mkdir()

    models = list_models(home)

    assert [(m.model_id, m.is_champion) for m in models] == [(second, True), (first, False)]
    assert models[0].broken is None and models[0].metrics is not None
    assert models[1].broken == (
        f"bundle models/{first}: categorical_encoders.json is missing (incomplete bundle)"
    )
    assert champion_problem(home) is None


def test_find_latest_model_uses_created_at_then_run_id(home: Home) -> None:
    assert find_latest_model(home.models_dir) is None
    first = promoted_run(home)
    second = promoted_run(home, note="newer")
    assert find_latest_model(home.models_dir) == home.models_dir / second

    meta = home.models_dir / first / "metadata.json"
    raw = json.loads(meta.read_text())
    raw["created_at"] = (datetime.now(UTC) + timedelta(minutes=1)).replace(tzinfo=None).isoformat()  # naive: UTC
    meta.write_text(json.dumps(raw))
    assert find_latest_model(home.models_dir) == home.models_dir / first

    # In the future (beyond the tolerance): not believed, so placed by its run id's time.
    raw["created_at"] = "2099-01-01T00:00:00"
    meta.write_text(json.dumps(raw))
    assert find_latest_model(home.models_dir) == home.models_dir / second

    raw["created_at"] = "garbage"
    meta.write_text(json.dumps(raw))
    (home.models_dir / second / "metadata.json").write_text("{")
    # Both unreadable: placed by the time in their run ids, so the newest run is found.
    assert find_latest_model(home.models_dir) == home.models_dir / second


# --------------------------------------------------------------------------- race


def test_racing_promotions_against_the_same_champion_exactly_one_wins(home: Home) -> None:
    champion = promoted_run(home)
    expected = ChampionRef(run_id=champion, model_sha256=champion_of(home).model_sha256)  # type: ignore[union-attr]
    contenders = [make_run(home, champion=expected) for _ in range(8)]

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(contenders))
    results = ctx.Queue()
    workers = [
        ctx.Process(target=race_worker, args=(str(home.root), run_id, barrier, results))
        for run_id in contenders
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=90) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    assert [o for o in outcomes if o[1] == "error"] == []
    winners = [run_id for run_id, status, _ in outcomes if status == "won"]
    assert len(winners) == 1
    winner = winners[0]
    for run_id, status, message in outcomes:
        if run_id != winner:
            assert (status, message) == (
                "changed",
                f"the champion changed since this run was evaluated (was {champion}, now "
                f"{winner}); re-run the retrain to compare against the new champion",
            )

    pointer = read_active(home)
    assert pointer is not None and pointer.model_id == winner
    report = inspect_history(home)
    assert [e.new_champion for e in report.entries] == [winner, champion]
    assert report.entries[0].previous_change_id == report.entries[1].change_id
    assert report.orphaned == [] and report.problems == []
    assert sorted(m.model_id for m in list_models(home)) == sorted([champion, winner])
    assert not [p for p in home.models_dir.iterdir() if p.name.startswith(".tmp-")]
