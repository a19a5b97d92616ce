"""Every page tells the truth after sign-off (issue 12) and never shows internals (issue 11), under AppTest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from taskclf_core.console.read import review
from taskclf_core.console.reports import report
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from tests.conftest import TEST_CONFIG, SeededHome, tree_state, write_config
from tests.helpers_app import HISTORY, RETRAIN, REVIEW, open_app, shown, texts


def decision_path(root: Path, run_id: str) -> Path:
    return root / "artifacts" / "runs" / run_id / "decision.json"


# ----------------------------------------------------------------------------- Review


def test_bootstrap_chart_has_a_real_height_and_the_interval_in_words(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 1: the chart was 70 px tall in the page, and the interval never said in words."""
    at = open_app(REVIEW, run=seeded_home.awaiting)
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    (boot,) = [s for s in specs if "bootstrap" in json.dumps(s.get("title"))]
    assert boot["height"] >= 120
    (sentence,) = [shown(m.value) for m in at.markdown if "bootstrap interval [" in m.value]
    assert re.fullmatch(
        r"Macro-F1 difference \(challenger - champion\) [+-]\d\.\d{4}, 95% paired bootstrap interval "
        r"\[[+-]\d\.\d{4}, [+-]\d\.\d{4}\] \(\d+ resamples, seed \d+\); the difference is within the regression "
        r"tolerance 0\.02 \(the gate passes when it is at least -0\.0200\)\.",
        sentence,
    ), sentence


def test_review_labels_which_rows_each_macro_f1_comes_from(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 5: Status and Review show different champion figures; each says where it comes from."""
    status_page = open_app()
    assert any("on the test rows of the run that produced it" in c for c in texts(status_page.caption))
    at = open_app(REVIEW, run=seeded_home.awaiting)
    assert any(c.startswith("Macro-F1: all three models re-evaluated on this run's test rows") for c in texts(at.caption))


def test_gate_counts_are_whole_numbers(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 14: challenger_acceptance showed "6.0000"."""
    at = open_app(REVIEW, run=seeded_home.awaiting)
    gates = at.table[0].value
    assert re.fullmatch(r"\d+", gates.loc["challenger_acceptance", "value"])
    assert re.fullmatch(r"0\.\d{4}", gates.loc["macro_f1_no_regression", "value"])


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("evaluation.json", b"[]", "evaluation.json is not valid (expected a JSON object)"),
        ("gates.json", b"[" * 100_000, "gates.json is not valid (nested too deeply to be one of our files)"),
        ("snapshot.json", b"\xff\xfe{}", "snapshot.json is not valid (not UTF-8 text: byte 1)"),
        ("config.yaml", b"\xff\xfeauto_promote: true\n", "config.yaml is not valid (not UTF-8 text: byte 1)"),
        ("snapshot.json", b'{"row_count": "many"}', "snapshot.json is not valid (dataset_hash is required)"),
    ],
)
def test_broken_evidence_files_are_named_not_a_traceback(
    home_copy: Path, seeded_home: SeededHome, name: str, content: bytes, expected: str
) -> None:
    """Issue 11 item 14: each broken evidence file is "not valid …" with the file named."""
    (home_copy / "artifacts" / "runs" / seeded_home.rejected / name).write_bytes(content)
    at = open_app(REVIEW, run=seeded_home.rejected)
    (error,) = texts(at.error)
    assert error == f"Cannot show this review: run {seeded_home.rejected}: {expected}"


def test_a_config_yaml_with_an_invalid_date_is_a_note_not_a_traceback(home_copy: Path, seeded_home: SeededHome) -> None:
    (home_copy / "artifacts" / "runs" / seeded_home.rejected / "config.yaml").write_text("when: 2026-13-45\n")
    at = open_app(REVIEW, run=seeded_home.rejected)
    assert any(c.startswith("the run's config.yaml is not valid (") for c in texts(at.caption)), texts(at.caption)


# ----------------------------------------------------------------------------- Status


def test_status_on_a_fresh_home_uses_the_reference_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 7: no configs/retrain.yaml is not an error; one caption says the defaults are in use."""
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    at = open_app()
    assert not at.error, texts(at.error)
    (caption,) = [c for c in texts(at.caption) if c.startswith("No configuration file at ")]
    assert caption.endswith("the reference defaults are in use (`taskclf init` writes the commented default file).")
    assert "Cadence: every 7 day(s) (the reference default of `global_retrain_cadence_days`)." in texts(at.caption)
    # Item 16: the way to a first retrain is a link, not plain text.
    links = [p.proto.label for p in at.get("page_link")]
    assert "Start a retrain on the Retrain page" in links
    assert tree_state(tmp_path) == {}  # reading never writes


def test_status_says_what_to_do_with_runs_stranded_by_auto_promote(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 3: auto_promote on strands runs awaiting sign-off."""
    write_config(home_copy, TEST_CONFIG + "auto_promote: true\n")
    at = open_app()
    (warning,) = [w for w in texts(at.warning) if "auto_promote is on" in w]
    assert "nothing will promote them: turn auto_promote off to sign them off on their review" in warning


def test_status_sentences_name_the_run_and_the_date_once(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 15: "Run X awaits sign-off: run X passed…" and "not due until D: …; due at D"."""
    at = open_app()
    (awaiting,) = [w for w in texts(at.warning) if "awaits sign-off" in w]
    assert awaiting.count(seeded_home.awaiting) == 1
    assert "awaits sign-off: it passed every gate" in awaiting
    (cadence,) = [s for s in texts(at.success) if s.startswith("Retrain not due until")]
    when = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", cadence)
    assert when and cadence.count(when.group(0)) == 1, cadence


def test_cadence_after_a_rollback_names_the_model_it_counts_from_and_the_champion(
    home_copy: Path, seeded_home: SeededHome
) -> None:
    """Item 9: after a rollback the cadence counts from the newest promoted model, which no longer serves."""
    home = Home.resolve(home_copy)
    registry.promote(home, seeded_home.awaiting, approver="carol", note="newer", auto_promote=False)
    registry.rollback(home, seeded_home.champion, approver="dave", note="back", expected_champion=seeded_home.awaiting)
    at = open_app()
    (cadence,) = [s for s in texts(at.success) if s.startswith("Retrain not due until")]
    assert f"counts from the newest promoted model {seeded_home.awaiting}, created " in cadence
    assert cadence.endswith(f"; the champion serving now is {seeded_home.champion}.")
    champion_line = next(shown(m.value) for m in at.markdown if "Champion run" in m.value)
    assert "made champion again by rollback by **dave**" in champion_line


def test_an_interrupted_auto_promotion_stops_being_a_problem_once_the_champion_moved_on(
    home_copy: Path, seeded_home: SeededHome
) -> None:
    """Issue 11 item 19: the flag stayed on Status after a later run had promoted."""
    for run_id in (seeded_home.stale, seeded_home.dry_run):  # before / after the champion's promotion
        path = decision_path(home_copy, run_id)
        path.write_text(json.dumps({**json.loads(path.read_text()), "outcome": "promoted"}))
    at = open_app()
    problems = [e for e in texts(at.error) if "automatic promotion never took effect" in e]
    assert len(problems) == 1 and seeded_home.dry_run in problems[0]  # the later one still applies
    history = open_app(HISTORY)
    runs = history.dataframe[-1].value
    stale = runs.loc[runs["run"] == seeded_home.stale]
    assert stale["state"].item() == "broken (recorded: promoted)"  # kept, labelled, as evidence
    assert "never took effect" in stale["detail"].item()


# ----------------------------------------------------------------------------- Retrain


def test_a_start_that_may_promote_automatically_asks_first(home_copy: Path) -> None:
    """Issue 11 item 12: with auto_promote on, one click must not start a job that can replace the champion."""
    write_config(home_copy, TEST_CONFIG + "auto_promote: true\n")
    at = open_app(RETRAIN)
    at.toggle(key="retrain_force").set_value(True).run()  # the seeded champion is young: not due
    assert any("you will be asked to confirm" in c for c in texts(at.caption))
    at.button(key="retrain_start").click().run()
    (dialog,) = at.get("dialog")
    assert dialog.proto.dialog.title == "Start a retrain that may replace the champion?"
    assert not (home_copy / "artifacts" / "jobs").exists()
    at.button(key="retrain_cancel_start").click().run()
    assert not at.get("dialog")
    assert not (home_copy / "artifacts" / "jobs").exists()


def test_a_dry_run_never_asks(home_copy: Path) -> None:
    write_config(home_copy, TEST_CONFIG + "auto_promote: true\n")
    at = open_app(RETRAIN)
    at.toggle(key="retrain_dry_run").set_value(True).run()
    assert not any("you will be asked to confirm" in c for c in texts(at.caption))


# ----------------------------------------------------------------------------- HTML report


def test_report_after_signoff_shows_the_effective_state_and_keeps_the_recorded_outcome(
    home_copy: Path, seeded_home: SeededHome
) -> None:
    """Item 2 (report) and item 17: no empty header row, no tooltips promised."""
    home = Home.resolve(home_copy)
    registry.promote(home, seeded_home.awaiting, approver="bob <b@x>", note="ship & see", auto_promote=False)
    html = report.render_report(review.run_review(home, seeded_home.awaiting))
    assert '<span class="outcome promoted">signed off · champion</span>' in html
    assert "Signed off by bob &lt;b@x&gt; on " in html and "; note: ship &amp; see." in html
    assert '<th scope="row">Recorded outcome (evidence)</th><td>awaiting_signoff: Awaiting sign-off' in html
    assert "<th></th>" not in html and "tooltip" not in html.lower()


def test_report_puts_the_files_not_intact_warning_first(home_copy: Path, seeded_home: SeededHome) -> None:
    """Issue 11 item 7: Review showed it, the report did not."""
    run = home_copy / "artifacts" / "runs" / seeded_home.awaiting
    (run / "model.txt").write_text((run / "model.txt").read_text() + "\n# edited\n")
    html = report.render_report(review.run_review(Home.resolve(home_copy), seeded_home.awaiting))
    warning = html.index("<p class=\"warning\">This run's files are not intact: ")
    assert warning < html.index("<h2>Headline</h2>")


# ----------------------------------------------------------------------------- thresholds and data warnings (issue 10)


def test_review_names_each_threshold_with_its_config_key_and_the_data_warnings(
    home_copy: Path, seeded_home: SeededHome
) -> None:
    snapshot = home_copy / "artifacts" / "runs" / seeded_home.awaiting / "snapshot.json"
    data = json.loads(snapshot.read_text())
    data["data_warnings"] = [
        {"kind": "out_of_range", "column": "keys_per_min", "rows": 12, "max_value": 9999.0, "allowed": "[0, 600]",
         "detail": "kept"}
    ]
    snapshot.write_text(json.dumps(data))
    at = open_app(REVIEW, run=seeded_home.awaiting)
    gates = at.table[0].value
    assert shown(gates.loc["breakidle_precision", "config key"]) == "gates.breakidle_precision"
    checks = next(d.value for d in at.dataframe if "check" in d.value.columns)
    assert set(checks["config key"]) >= {"gates.macro_f1", "gates.weighted_f1"}
    assert any(w.startswith("1 data warning(s)") for w in texts(at.warning))
    warnings = next(d.value for d in at.dataframe if "column" in d.value.columns)
    assert (warnings["column"].item(), warnings["rows"].item(), warnings["max"].item()) == ("keys_per_min", 12, 9999.0)


def test_streamlit_config_keeps_internal_errors_off_the_pages() -> None:
    """Issue 11 item 14: no type, message or traceback of an internal error reaches a page."""
    import tomllib

    from tests.conftest import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["address"] == "127.0.0.1"
