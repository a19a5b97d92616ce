"""Issue 11, registry side: hostile files, links, edits and input never get through.

Each test fails on the code before the fix: lock files followed links (11.2), a repair
linked to an orphan entry (11.3), a left-over bundle was a rollback target (11.4), only
``model.txt`` was hash-checked (11.5), an edited ``decision.json`` made a rejected run
promotable (11.6), symlinked run and bundle folders were used (11.8), approver and note
were unbounded text (11.11), edge timestamps raised ``OverflowError`` (11.13) and deep
JSON raised ``RecursionError`` (11.14).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers_registry import champion_of, make_run, promoted_run

from taskclf_core.errors import PromotionRefused, RegistryError, StorageError
from taskclf_core.fs.atomic import open_lock_file
from taskclf_core.paths import Home
from taskclf_core.registry.history import HistoryEntry, append_history, new_change_id
from taskclf_core.registry.latest import bundle_created_at
from taskclf_core.registry.listing import (
    LEFTOVER,
    champion_problem,
    inspect_active,
    inspect_history,
    inspect_models,
    list_models,
    list_runs,
    promotability,
    promote,
    read_active,
    read_history,
    read_run,
    rollback,
    rollback_targets,
)
from taskclf_core.registry.stamps import utc_now_iso


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# --------------------------------------------------------------------------- 11.2


def test_a_lock_file_planted_as_a_symlink_is_refused_and_its_target_untouched(
    home: Home, tmp_path: Path
) -> None:
    first = promoted_run(home)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (home.models_dir / ".registry.lock").unlink(missing_ok=True)
    (home.models_dir / ".registry.lock").symlink_to(outside)
    run_id = make_run(home, champion=champion_of(home))

    with pytest.raises(StorageError) as err:
        promote(home, run_id, approver="alice", note="ship", auto_promote=False)
    assert str(err.value).startswith(f"cannot lock {home.models_dir / '.registry.lock'}: ")
    assert outside.read_text() == "keep me"
    assert read_active(home).model_id == first  # type: ignore[union-attr]
    with pytest.raises(OSError):
        open_lock_file(home.models_dir / ".registry.lock")


def test_open_lock_file_requires_a_regular_file_and_never_truncates(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("pid 42")
    fd = open_lock_file(lock)
    os.close(fd)
    assert lock.read_text() == "pid 42"
    (tmp_path / "fifo").mkdir()
    with pytest.raises(OSError):
        open_lock_file(tmp_path / "fifo")


# --------------------------------------------------------------------------- 11.3


def _orphan(home: Home, run_id: str) -> HistoryEntry:
    """What a promotion killed between the history append and the pointer move leaves."""
    pointer = read_active(home)
    entry = HistoryEntry(
        change_id=new_change_id(),
        previous_change_id=pointer.change_id if pointer else None,
        time=utc_now_iso(),
        action="promote",
        approver="alice",
        note="killed before the pointer moved",
        previous_champion=pointer.model_id if pointer else None,
        new_champion=run_id,
        run_id=run_id,
        dataset_hash="d5a7a5e7c0ffee00",
        gates_summary="7 passed, 0 failed, 0 skipped",
    )
    append_history(home, entry)
    return entry


def test_a_repair_rollback_never_links_to_an_orphan_and_shows_the_gap(home: Home) -> None:
    first = promoted_run(home)
    second = promoted_run(home, note="second")
    stopped = make_run(home, champion=champion_of(home))
    orphan = _orphan(home, stopped)
    (home.models_dir / "active.json").write_text('{"oops": ')  # then the pointer is damaged

    entry = rollback(home, first, approver="ops", note="repair the pointer")

    assert entry.previous_change_id is None and entry.gap is not None
    report = inspect_history(home)
    assert [e.change_id for e in report.entries] == [entry.change_id]
    assert orphan.change_id not in {e.change_id for e in report.entries}
    assert [e.new_champion for e in report.unconfirmed] == [stopped, second, first]
    assert any(p.startswith("models/active_history.jsonl: history gap before rollback of") for p in report.problems)
    # The stopped run never took effect: it is promotable, not "already promoted".
    promote(home, stopped, approver="alice", note="again", auto_promote=False, expected_champion=first)
    assert read_active(home).model_id == stopped  # type: ignore[union-attr]


# --------------------------------------------------------------------------- 11.4


def test_a_left_over_bundle_is_listed_as_such_and_never_a_rollback_target(home: Home) -> None:
    first = promoted_run(home)
    stopped = make_run(home, champion=champion_of(home))
    # A promotion stopped after copying the bundle (before any history line).
    shutil.copytree(home.runs_dir / stopped, home.models_dir / stopped)
    for extra in ("evaluation.json", "gates.json", "decision.json"):
        (home.models_dir / stopped / extra).unlink()
    second = promoted_run(home, note="second")

    models = {m.model_id: m for m in list_models(home)}
    assert models[stopped].leftover == LEFTOVER and not models[stopped].rollback_target
    assert models[first].rollback_target and models[first].leftover is None
    with pytest.raises(PromotionRefused) as err:
        rollback(home, stopped, approver="ops", note="back")
    assert str(err.value) == (
        f"cannot roll back to {stopped}: it was never champion in the applied history "
        f"(models/{stopped} is left over from a promotion that never took effect); roll back "
        "only to a former champion, or promote its run"
    )
    assert read_active(home).model_id == second  # type: ignore[union-attr]


def test_a_note_that_is_not_text_is_refused_before_any_file_is_written(home: Home) -> None:
    promoted_run(home)
    run_id = make_run(home, champion=champion_of(home))
    before = _files(home.root)
    for note in ("bad \udcff surrogate", "x" * 4001, "bell \x07"):
        with pytest.raises(PromotionRefused):
            promote(home, run_id, approver="alice", note=note, auto_promote=False)
    assert _files(home.root) == before
    assert not (home.models_dir / run_id).exists()


# --------------------------------------------------------------------------- 11.5


@pytest.mark.parametrize("name", ["categorical_encoders.json", "metadata.json", "metrics.json", "confusion_matrix.csv"])
def test_every_file_of_a_promoted_bundle_is_checked_against_its_run(home: Home, name: str) -> None:
    first = promoted_run(home)
    second = promoted_run(home, note="second")
    path = home.models_dir / second / name
    if name.endswith(".json"):
        raw = json.loads(path.read_text())
        if name == "metrics.json":
            raw["macro_f1"] = 0.999
        elif name == "metadata.json":
            raw["dataset_hash"] = "0" * 16
        else:
            raw["app_category"] = ["__unknown__", "browser"]
        path.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n")
    else:
        path.write_text(path.read_text().replace("10", "11", 1))
    expected = (
        f"bundle models/{second}: {name} does not match its SHA-256 in the manifest of "
        f"artifacts/runs/{second}/decision.json (file altered after the run?)"
    )
    assert {m.model_id: m.broken for m in list_models(home)}[second] == expected
    assert expected in (inspect_active(home).problem or "")
    with pytest.raises(RegistryError, match="does not match its SHA-256"):
        read_active(home)
    problem = champion_problem(home)
    assert problem is not None and f"for example {first}" in problem.fix


# --------------------------------------------------------------------------- 11.6


def test_an_edited_decision_does_not_make_a_gate_rejected_run_promotable(home: Home) -> None:
    promoted_run(home)
    run_id = make_run(
        home, champion=champion_of(home), outcome="rejected", failed_gates=("breakidle_precision",)
    )
    path = home.runs_dir / run_id / "decision.json"
    raw = json.loads(path.read_text())
    raw.update(outcome="awaiting_signoff", failed_gates=[])
    path.write_text(json.dumps(raw))

    can, reason = promotability(home, run_id, auto_promote=False)
    assert not can
    assert reason == (
        f"run {run_id}: decision.json says 'awaiting_signoff' but gates.json records failed "
        "gate(s) breakidle_precision; the files disagree (edited?); it cannot be promoted"
    )
    with pytest.raises(PromotionRefused, match="the files disagree"):
        promote(home, run_id, approver="alice", note="sneak", auto_promote=False)


# --------------------------------------------------------------------------- 11.8


def test_symlinked_run_and_bundle_folders_are_refused_and_reported(home: Home, tmp_path: Path) -> None:
    first = promoted_run(home)
    second = promoted_run(home, note="second")
    # A run folder moved outside the home and linked back.
    run_id = make_run(home, champion=champion_of(home))
    outside = tmp_path / "outside-run"
    shutil.move(str(home.runs_dir / run_id), outside)
    (home.runs_dir / run_id).symlink_to(outside, target_is_directory=True)
    with pytest.raises(RegistryError, match="is a symbolic link; refused"):
        read_run(home, run_id)
    assert {r.run_id: r.broken for r in list_runs(home)}[run_id] is not None
    assert not promotability(home, run_id, auto_promote=False)[0]
    # A promoted bundle replaced by a link to a copy outside the home.
    copy = tmp_path / "outside-bundle"
    shutil.move(str(home.models_dir / first), copy)
    (home.models_dir / first).symlink_to(copy, target_is_directory=True)
    report = inspect_models(home)
    broken = {m.model_id: m.broken for m in report.models}[first]
    assert broken == f"models/{first} is a symbolic link; refused (never loaded, promoted or rolled back to)"
    assert broken in report.problems
    with pytest.raises(PromotionRefused, match="is a symbolic link; refused"):
        rollback(home, first, approver="ops", note="back")
    assert read_active(home).model_id == second  # type: ignore[union-attr]


# --------------------------------------------------------------------------- 11.11


@pytest.mark.parametrize(
    ("approver", "note", "message"),
    [
        ("\u200b\u200b", "ok", "the approver must be plain visible text; character 1 is U+200B"),
        ("alice\x1b[2J", "ok", "character 6 is U+001B, a control character"),
        ("alice\u202e", "ok", "U+202E, a bidirectional control character"),
        ("a\x85b", "ok", "U+0085, a control character"),
        ("a" * 201, "ok", "the approver must be at most 200 characters; got 201"),
        ("alice", "n" * 4001, "the note must be at most 4000 characters; got 4001"),
        ("alice", "fine\x1b]8;;http://x\x07", "the note must be plain text"),
        ("   ", "ok", "an approver is required"),
    ],
)
def test_hostile_approver_and_note_are_refused_with_clear_messages(
    home: Home, approver: str, note: str, message: str
) -> None:
    first = promoted_run(home)
    second = promoted_run(home, note="second")
    run_id = make_run(home, champion=champion_of(home))
    before = _files(home.root)
    with pytest.raises(PromotionRefused) as err:
        promote(home, run_id, approver=approver, note=note, auto_promote=False)
    assert message in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 300
    with pytest.raises(PromotionRefused) as err:
        rollback(home, first, approver=approver, note=note)
    assert message in str(err.value)
    assert _files(home.root) == before
    assert read_active(home).model_id == second  # type: ignore[union-attr]


def test_a_note_may_hold_line_breaks_and_emoji(home: Home) -> None:
    promoted_run(home)
    run_id = make_run(home, champion=champion_of(home))
    entry = promote(home, run_id, approver="Zoë O'Neil", note="line one\n\tline two 👩‍💻", auto_promote=False)
    assert entry.note == "line one\n\tline two 👩‍💻" and read_history(home)[0].approver == "Zoë O'Neil"


# --------------------------------------------------------------------------- 11.13 / 11.14


def test_edge_timestamps_are_invalid_files_not_overflow_errors(home: Home) -> None:
    first = promoted_run(home)
    second = promoted_run(home, note="second")
    path = home.models_dir / "active_history.jsonl"
    lines = path.read_text().splitlines()
    raw = json.loads(lines[0])
    raw["time"] = "0001-01-01T00:00:00+01:00"
    path.write_text("\n".join([json.dumps(raw), *lines[1:]]) + "\n")
    report = inspect_history(home)
    assert any("line 1 is not a valid entry" in p and "representable range" in p for p in report.problems)

    meta = home.models_dir / first / "metadata.json"
    data = json.loads(meta.read_text())
    data["created_at"] = "9999-12-31T23:59:59-01:00"
    meta.write_text(json.dumps(data))
    assert bundle_created_at(home.models_dir / first) is None
    broken = {m.model_id: m.broken for m in list_models(home)}[first]
    assert broken is not None and "metadata.json" in broken

    decision = home.runs_dir / second / "decision.json"
    raw = json.loads(decision.read_text())
    raw["finished_at"] = "9999-12-31T23:59:59-01:00"
    decision.write_text(json.dumps(raw))
    summary = {r.run_id: r.broken for r in list_runs(home)}[second]
    assert summary is not None and "finished_at" in summary and "representable range" in summary


@pytest.mark.parametrize("where", ["active.json", "metadata.json", "decision.json", "history"])
def test_deeply_nested_json_is_an_invalid_file_not_a_recursion_error(home: Home, where: str) -> None:
    first = promoted_run(home)
    deep = "[" * 100_000
    if where == "active.json":
        (home.models_dir / "active.json").write_text(deep)
        state = inspect_active(home)
        assert state.problem == "models/active.json is not valid JSON (nested too deeply to be one of our files)"
        assert inspect_history(home).problems
    elif where == "metadata.json":
        (home.models_dir / first / "metadata.json").write_text(deep)
        assert "metadata.json" in ({m.model_id: m.broken for m in list_models(home)}[first] or "")
        assert inspect_active(home).problem is not None
    elif where == "decision.json":
        (home.runs_dir / first / "decision.json").write_text(deep)
        assert "decision.json is not valid JSON" in ({r.run_id: r.broken for r in list_runs(home)}[first] or "")
    else:
        with (home.models_dir / "active_history.jsonl").open("a") as fh:
            fh.write(deep + "\n")
        assert any("line 2 is not a valid entry" in p for p in inspect_history(home).problems)


def test_a_created_at_in_the_future_is_reported_as_a_problem(home: Home) -> None:
    first = promoted_run(home)
    path = home.models_dir / first / "metadata.json"
    raw = json.loads(path.read_text())
    raw["created_at"] = "2999-01-01T00:00:00+00:00"
    path.write_text(json.dumps(raw))
    # The run's manifest vouches for the original file: the edit is also caught there.
    problems = inspect_models(home).problems
    assert any("metadata.json does not match its SHA-256" in p for p in problems)
    # Without a run (e.g. a taskclf bundle), the future time itself is the problem.
    shutil.rmtree(home.runs_dir / first)
    raw["model_sha256"] = ""
    raw["library_versions"] = {}
    path.write_text(json.dumps(raw))
    problems = inspect_models(home).problems
    assert any(
        p == f"models/{first}/metadata.json: created_at 2999-01-01T00:00:00+00:00 is in the future; "
        "the retrain cadence cannot count from it (clock wrong, or the file was edited)"
        for p in problems
    ), problems


def test_model_folders_with_impossible_dates_are_listed_not_raised(home: Home) -> None:
    first = promoted_run(home)
    for name in ("2026-13-45_999999_run-0000", "99999999T999999999999Z-abcdef"):
        shutil.copytree(home.models_dir / first, home.models_dir / name)
    models = {m.model_id: m for m in list_models(home)}
    assert set(models) == {first, "2026-13-45_999999_run-0000", "99999999T999999999999Z-abcdef"}
    assert models["2026-13-45_999999_run-0000"].leftover == LEFTOVER


def test_rollback_targets_are_former_champions_with_good_bundles(home: Home) -> None:
    first = promoted_run(home)
    second = promoted_run(home, note="second")
    third = promoted_run(home, note="third")
    stopped = make_run(home, champion=champion_of(home))
    shutil.copytree(home.runs_dir / stopped, home.models_dir / stopped)
    (home.models_dir / first / "metrics.json").write_text("{}")
    assert rollback_targets(home) == [second]
    assert third not in rollback_targets(home)  # the champion
