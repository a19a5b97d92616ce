"""Every page under AppTest against a real registry seeded by real retrains."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskclf_core.console import jobs
from taskclf_core.paths import Home
from tests.conftest import TEST_CONFIG, SeededHome, tree_state, wait_job, write_config
from tests.helpers_app import HISTORY, RETRAIN, REVIEW, open_app, shown, texts


def active_json(root: Path) -> dict[str, object]:
    return json.loads((root / "models" / "active.json").read_text())


def history_lines(root: Path) -> list[dict[str, object]]:
    path = root / "models" / "active_history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- Status


def test_status_shows_champion_cadence_and_run_awaiting_signoff(home_copy: Path, seeded_home: SeededHome) -> None:
    at = open_app()
    assert at.title[0].value == "Status"
    champion_line = next(shown(m.value) for m in at.markdown if "Champion run" in m.value)
    assert seeded_home.champion in champion_line and "fixture-alice" in champion_line
    assert [m.label for m in at.metric][:2] == ["Macro-F1", "Age"]
    assert any(s.startswith("Retrain not due until") for s in texts(at.success))
    awaiting = [w for w in texts(at.warning) if "awaits sign-off" in w]
    assert len(awaiting) == 1 and seeded_home.awaiting in awaiting[0]
    assert not at.error
    runs = next(d.value for d in at.dataframe if "run" in d.value.columns)  # after "What taskclf serves"
    assert set(runs["run"]) >= {seeded_home.awaiting, seeded_home.rejected, seeded_home.dry_run}
    assert runs.loc[runs["run"] == seeded_home.champion, "state"].item() == "signed off · champion"


def test_status_says_retrain_due_on_an_empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path)
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    at = open_app()
    assert "No champion yet" in at.info[0].value
    assert at.warning[0].value == "Retrain due: no promoted model exists yet."
    assert any("Cadence: every 7 day(s)" in c.value for c in at.caption)


def test_status_explains_problems_with_the_fix(home_copy: Path) -> None:
    (home_copy / "models" / "active.json").write_text("{not json")
    (home_copy / "configs" / "retrain.yaml").write_text("regression_tolerance: 1.7\n")
    before = tree_state(home_copy)
    at = open_app()
    errors = texts(at.error)
    (pointer,) = [e for e in errors if "models/active.json is not valid JSON" in e]
    # issue 12 item 8: one fix that applies, not "Roll back … Rollback is on the History page."
    fix = pointer.split("**Fix:** ")[1]
    assert fix.startswith(("Roll back on the History page to a former champion", "There is no good bundle in models/")), fix
    assert "Rollback is on the History page" not in fix and fix.count("oll back") == 1
    assert any("regression_tolerance must be a number in [0.0, 1.0]" in e and "**Fix:** Correct" in e for e in errors), errors
    assert "No champion yet" in at.info[0].value
    assert tree_state(home_copy) == before  # reading never repairs


def test_status_reports_a_broken_champion_bundle(home_copy: Path, seeded_home: SeededHome) -> None:
    model = home_copy / "models" / seeded_home.champion / "model.txt"
    model.write_text(model.read_text() + "\n# tampered\n")
    at = open_app()
    errors = texts(at.error)
    assert any("model.txt" in e and "is broken" in e for e in errors), errors


def test_status_shows_calibrator_cadence_when_a_store_is_configured(
    home_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = home_copy / "calibrators"
    store.mkdir()
    created = datetime.now(UTC) - timedelta(days=10)
    (store / "store.json").write_text(json.dumps({"created_at": created.isoformat()}))
    monkeypatch.setenv("TASKCLF_CALIBRATOR_STORE", "calibrators")
    at = open_app()
    due = [w for w in texts(at.warning) if w.startswith("Calibrator store update due since")]
    assert len(due) == 1
    assert any("calibrator_update_cadence_days" in c for c in texts(at.caption))


# ----------------------------------------------------------------------------- Review


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("rejected", "was rejected by gate(s)"),
        ("dry_run", "is a dry run: dry runs are never promotable"),
        ("stale", "the champion changed since this run was evaluated (was none, now "),
        ("champion", "is already the champion"),
    ],
)
def test_review_disables_promote_with_the_core_reason(
    home_copy: Path, seeded_home: SeededHome, which: str, reason: str
) -> None:
    run_id = getattr(seeded_home, which)
    at = open_app(REVIEW, run=run_id)
    assert at.subheader[0].value == f"Run {run_id}"
    assert at.button(key="review_promote").disabled
    (warning,) = [w for w in texts(at.warning) if w.startswith("Promote is disabled")]
    assert reason in warning


def test_review_disables_promote_when_auto_promote_is_on(home_copy: Path, seeded_home: SeededHome) -> None:
    write_config(home_copy, TEST_CONFIG + "auto_promote: true\n")
    at = open_app(REVIEW, run=seeded_home.awaiting)
    assert at.button(key="review_promote").disabled
    warning = shown(at.warning[0].value)
    assert "Promote is disabled: auto_promote is on in configs/retrain.yaml" in warning
    # issue 12 item 3: say what to do, since nothing will ever promote it
    assert "turn it off in" in warning and "to sign this run off here, or start a new retrain" in warning


def test_review_shows_headline_and_every_chart_with_downloads(home_copy: Path, seeded_home: SeededHome) -> None:
    at = open_app(REVIEW, run=seeded_home.awaiting)
    assert at.markdown[0].value == ":orange-badge[awaiting_signoff]"
    assert shown(at.markdown[1].value).startswith("Awaiting sign-off: every gate passed")
    assert [m.label for m in at.metric] == [
        "Challenger macro-F1", "Champion macro-F1", "Rule baseline macro-F1", "Gates failed",
    ]
    assert shown(at.markdown[2].value).startswith("**Worst-off person: ")  # the checklist's per-person gate
    assert f"Compared against champion **`{seeded_home.champion}`**" in at.markdown[3].value
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    titles = [s["title"] if isinstance(s["title"], str) else s["title"]["text"] for s in specs]
    assert [t.split(" (")[0] for t in titles] == [
        "Reliability as served: confidence vs accuracy", "Each person: served macro-F1 difference, worst first",
        "Headline metrics", "Per-class precision and recall", "Confusion matrices",
        "Macro-F1 difference with its 95% bootstrap interval", "Macro-F1 per user",
    ]
    keys = {b.key for b in at.get("download_button")}
    for name in ("metrics", "per_class", "confusion", "bootstrap", "per_user"):
        assert {f"review_png_{name}", f"review_svg_{name}", f"review_json_{name}"} <= keys
    assert "review_report" in keys


def test_review_gate_table_lists_failed_gates_first(home_copy: Path, seeded_home: SeededHome) -> None:
    at = open_app(REVIEW, run=seeded_home.rejected)
    assert at.markdown[0].value == ":red-badge[rejected]"
    assert "Rejected: gate(s)" in shown(at.markdown[1].value)
    gates = at.table[0].value
    assert list(gates.columns) == ["kind", "result", "value", "threshold", "config key", "detail"]
    results = list(gates["result"])
    assert results[0] == "failed"
    order = {"failed": 0, "passed": 1, "skipped": 2}
    assert results == sorted(results, key=order.__getitem__)
    assert "macro_f1_no_regression" in gates.index


def test_review_promotes_through_the_page(home_copy: Path, seeded_home: SeededHome) -> None:
    history_before = history_lines(home_copy)
    at = open_app(REVIEW, run=seeded_home.awaiting)
    assert at.info[0].value.startswith("Promote is available")
    assert at.button(key="review_promote").disabled  # until approver and note are filled
    at.text_input(key="review_approver").input("bob")
    at.text_area(key="review_note").input("same data, same quality; ship it").run()
    assert not at.button(key="review_promote").disabled
    at.button(key="review_promote").click().run()
    (dialog,) = at.get("dialog")
    assert dialog.proto.dialog.title == "Promote this run?"
    at.button(key="review_confirm_promote").click().run()
    assert not at.exception, at.exception
    assert seeded_home.awaiting in at.success[0].value and "is now the champion" in at.success[0].value
    assert not at.get("dialog")
    pointer = active_json(home_copy)
    assert pointer["model_id"] == seeded_home.awaiting
    reason = pointer["reason"]
    assert isinstance(reason, dict)
    assert (reason["action"], reason["approver"], reason["note"]) == ("promote", "bob", "same data, same quality; ship it")
    history = history_lines(home_copy)
    assert len(history) == len(history_before) + 1
    assert history[-1]["new_champion"] == seeded_home.awaiting and history[-1]["approver"] == "bob"
    assert (home_copy / "models" / seeded_home.awaiting / "model.txt").is_file()
    assert at.button(key="review_promote").disabled  # now it is the champion
    # issue 12 item 2: one effective state, the recorded outcome kept as evidence
    assert at.markdown[0].value == ":green-badge[signed off · champion]"
    signed = shown(at.markdown[1].value)
    assert signed.startswith("Signed off by bob on ") and signed.endswith("; note: same data, same quality; ship it.")
    assert any(c.startswith("Recorded outcome when the run finished (evidence): awaiting_signoff.") for c in texts(at.caption))
    # issue 12 item 4: the form is empty after the action
    assert at.text_input(key="review_approver").value == "" and at.text_area(key="review_note").value == ""


def test_review_promote_stays_disabled_until_approver_and_note_are_filled(home_copy: Path, seeded_home: SeededHome) -> None:
    before = tree_state(home_copy / "models")
    at = open_app(REVIEW, run=seeded_home.awaiting)
    assert at.button(key="review_promote").disabled  # issue 12 item 11: nothing filled yet
    assert any("Fill in an approver and a note first." in c for c in texts(at.caption))
    at.text_input(key="review_approver").input("bob").run()
    assert at.button(key="review_promote").disabled
    assert any("Fill in a note first." in c for c in texts(at.caption))
    at.text_area(key="review_note").input("   ").run()
    assert at.button(key="review_promote").disabled  # blank is not a note
    assert not at.get("dialog")
    assert tree_state(home_copy / "models") == before


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "20991231T000000000000Z-abcdef",
        "<script>alert(1)</script>",
        "20261126T052430123456Z-a1b2c3/../../models",
        "x" * 300,
    ],
)
def test_review_unknown_or_malicious_run_shows_a_message_and_touches_nothing(home_copy: Path, bad: str) -> None:
    before = tree_state(home_copy)
    at = open_app(REVIEW, run=bad)
    (error,) = at.error
    assert error.value.startswith("Cannot show this review: ")
    assert "invalid run id" in shown(error.value) or "no run 20991231T000000000000Z" in shown(error.value)
    assert not at.get("vega_lite_chart") and not at.button
    assert tree_state(home_copy) == before


def test_review_without_a_run_offers_a_picker(home_copy: Path, seeded_home: SeededHome) -> None:
    at = open_app(REVIEW)
    picker = at.selectbox(key="review_pick")
    # issue 12 item 13: state, date and macro-F1 beside each id
    (label,) = [o for o in picker.options if o.endswith(seeded_home.awaiting)]
    assert re.fullmatch(r"awaiting_signoff · \d{4}-\d\d-\d\d \d\d:\d\d UTC · macro-F1 0\.\d{4} · " + seeded_home.awaiting, label), label
    assert any(o.startswith("signed off · champion · ") and o.endswith(seeded_home.champion) for o in picker.options)
    picker.select(seeded_home.rejected).run()
    assert at.query_params["run"] == seeded_home.rejected
    assert at.subheader[0].value == f"Run {seeded_home.rejected}"


# ----------------------------------------------------------------------------- History


def test_history_lists_models_runs_and_champion_changes(home_copy: Path, seeded_home: SeededHome) -> None:
    at = open_app(HISTORY)
    changes, _, models, runs = (d.value for d in at.dataframe)  # the second: what taskclf serves
    assert list(changes["approver"]) == ["fixture-alice"] and list(changes["action"]) == ["promote"]
    assert changes["evidence"].item() == f"Review?run={seeded_home.champion}"
    assert list(models["model"]) == [seeded_home.champion] and models["champion"].item() == "★"
    assert set(runs["state"]) >= {"rejected", "dry_run", "awaiting_signoff", "signed off · champion"}


def test_history_filters_runs_by_outcome_from_the_url(home_copy: Path, seeded_home: SeededHome) -> None:
    at = open_app(HISTORY, outcome="dry_run")
    runs = at.dataframe[-1].value
    assert list(runs["run"]) == [seeded_home.dry_run]
    at.selectbox(key="history_outcome").select("rejected").run()
    assert at.query_params["outcome"] == "rejected"
    assert set(at.dataframe[-1].value["state"]) == {"rejected"}
    at.selectbox(key="history_outcome").select("all").run()
    assert "outcome" not in at.query_params


def test_history_warns_about_an_unknown_outcome_filter(home_copy: Path) -> None:
    at = open_app(HISTORY, outcome="<b>nope</b>")
    assert texts(at.warning)[0].startswith("unknown outcome filter")
    assert at.selectbox(key="history_outcome").value == "all"


def test_history_rolls_back_through_the_page(home_copy: Path, seeded_home: SeededHome) -> None:
    from taskclf_core.registry import listing as registry

    home = Home.resolve(home_copy)
    registry.promote(home, seeded_home.awaiting, approver="carol", note="newer", auto_promote=False)
    at = open_app(HISTORY)
    target = at.selectbox(key="history_target")
    assert [o.split(" · ")[0] for o in target.options] == [seeded_home.champion]
    assert target.value == seeded_home.champion  # the champion just replaced is the default
    assert at.button(key="history_rollback").disabled  # issue 12 item 11: nothing filled yet
    at.text_input(key="history_approver").input("dave")
    at.text_area(key="history_note").input("the new one misbehaves in production").run()
    at.button(key="history_rollback").click().run()
    at.button(key="history_confirm_rollback").click().run()
    assert not at.exception, at.exception
    assert seeded_home.champion in at.success[0].value and "champion again" in at.success[0].value
    assert active_json(home_copy)["model_id"] == seeded_home.champion
    last = history_lines(home_copy)[-1]
    assert (last["action"], last["approver"], last["new_champion"]) == ("rollback", "dave", seeded_home.champion)
    # issue 12 item 4: approver and note are cleared although the target switched to another model
    picker = at.selectbox(key="history_target")
    assert [o.split(" · ")[0] for o in picker.options] == [seeded_home.awaiting]
    assert picker.value is None  # just rolled back from: never the default
    assert at.text_input(key="history_approver").value == "" and at.text_area(key="history_note").value == ""
    assert at.button(key="history_rollback").disabled
    # issue 12 item 2: states after the rollback; History counts and filters by them
    runs = at.dataframe[-1].value
    state = dict(zip(runs["run"], runs["state"], strict=True))
    assert state[seeded_home.champion] == "signed off · champion again"
    assert state[seeded_home.awaiting] == "signed off · rolled back from"
    assert "2 promoted" in next(h.value for h in at.subheader if h.value.startswith("Runs ("))
    at.selectbox(key="history_outcome").select("promoted").run()
    assert set(at.dataframe[-1].value["run"]) == {seeded_home.champion, seeded_home.awaiting}


# ----------------------------------------------------------------------------- Retrain


def test_retrain_refuses_to_start_with_an_invalid_config(home_copy: Path) -> None:
    (home_copy / "configs" / "retrain.yaml").write_text("auto_promte: true\n")
    at = open_app(RETRAIN)
    assert "did you mean 'auto_promote'?" in texts(at.error)[0]
    assert at.button(key="retrain_start").disabled  # issue 12 item 12: disabled, with the reason
    assert "Start is disabled: the configuration is invalid (see above)." in texts(at.caption)
    assert not (home_copy / "artifacts" / "jobs").exists()


def test_retrain_refuses_a_missing_data_directory(home_copy: Path) -> None:
    at = open_app(RETRAIN)
    at.toggle(key="retrain_synthetic").set_value(False).run()
    at.text_input(key="retrain_data_dir").input(str(home_copy / "nope")).run()
    at.toggle(key="retrain_force").set_value(True).run()  # the seeded champion is young: not due
    at.button(key="retrain_start").click().run()
    assert "does not exist or is not a folder" in texts(at.error)[-1]
    assert not (home_copy / "artifacts" / "jobs").exists()


@pytest.mark.parametrize("bad", ["../../artifacts", "20991231T000000000000Z-abcdef"])
def test_retrain_unknown_job_in_the_url_shows_a_message_and_touches_nothing(home_copy: Path, bad: str) -> None:
    before = tree_state(home_copy)
    at = open_app(RETRAIN, job=bad)
    assert texts(at.error)[0].startswith("Cannot show retrain job: invalid job id" if "/" in bad else "Cannot show retrain job: no retrain job")
    assert tree_state(home_copy) == before


@pytest.mark.slow
def test_retrain_sparse_scenario_ends_with_a_clear_error(home_copy: Path) -> None:
    at = open_app(RETRAIN)
    assert at.toggle(key="retrain_synthetic").value is True  # no data/processed in the home
    at.selectbox(key="retrain_scenario").select("sparse")
    assert at.selectbox(key="retrain_schema").value == "v3"  # taskclf's current schema by default
    at.selectbox(key="retrain_schema").select("v1")
    at.number_input(key="retrain_days").set_value(3)
    at.number_input(key="retrain_users").set_value(2)
    at.toggle(key="retrain_force").set_value(True).run()  # Start is enabled once Force is on (not due)
    at.button(key="retrain_start").click().run()
    assert not at.exception, at.exception
    job_id = at.query_params["job"]
    final = wait_job(Home.resolve(home_copy), job_id, timeout=90)
    assert final.state == "failed" and final.error_kind == "InsufficientDataError"
    assert final.request["schema_version"] == "v1"
    at.run()
    (error,) = at.error
    assert shown(error.value).startswith(f"Retrain job `{job_id}` failed: only ")
    assert "labelled windows" in error.value and "Traceback" not in error.value


def test_retrain_page_follows_a_running_job_refuses_a_second_and_cancels(
    home_copy: Path, seeded_home: SeededHome
) -> None:
    from tests.conftest import synthetic_request

    home = Home.resolve(home_copy)
    runs_before = sorted(p.name for p in home.runs_dir.iterdir())
    job = jobs.start_job(home, synthetic_request(seeded_home.seed))
    at = open_app(RETRAIN)
    assert at.subheader[0].value == "Current retrain"
    assert at.info[0].value.startswith(f"Retrain job `{job.job_id}` is running")
    # issue 12 item 10: while it runs, its options are shown read-only and no second form is offered
    assert not [b for b in at.button if b.key == "retrain_start"]
    options = at.get("json")[0].proto.body
    assert f'"seed": {seeded_home.seed}' in options and '"synthetic": true' in options
    at.button(key="retrain_cancel").click().run()
    final = wait_job(home, job.job_id, timeout=60)
    assert final.state == "cancelled", final
    at.run()
    assert at.warning[0].value.startswith(f"Retrain job `{job.job_id}` was cancelled.")
    at.toggle(key="retrain_force").set_value(True).run()  # the seeded champion is young: not due
    assert not at.button(key="retrain_start").disabled
    assert sorted(p.name for p in home.runs_dir.iterdir()) == runs_before  # nothing half-written


def test_history_never_offers_a_left_over_bundle_as_a_rollback_target(home_copy: Path, seeded_home: SeededHome) -> None:
    """A bundle copied into models/ by a promotion that never took effect is no target (the
    registry's rule, read by the page, not re-derived)."""
    import shutil

    from taskclf_core.registry.bundle import BUNDLE_FILES

    left_over = home_copy / "models" / seeded_home.awaiting
    left_over.mkdir()
    for name in BUNDLE_FILES:
        shutil.copyfile(home_copy / "artifacts" / "runs" / seeded_home.awaiting / name, left_over / name)
    at = open_app(HISTORY)
    assert not at.exception, at.exception
    offered = [o.split(" · ")[0] for box in at.selectbox if box.key == "history_target" for o in box.options]
    assert seeded_home.awaiting not in offered
    listed = at.dataframe[2].value  # promoted models (after what taskclf serves): the left-over is listed, as such
    assert seeded_home.awaiting in list(listed["model"])
