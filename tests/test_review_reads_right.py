"""Issue 21 items 4 and 8-13 (a review that reads right) and issue 20 item 7 (derive once per
run), through the real pages under AppTest, the CLI and the report, on real runs.

Items 6 (``make serve``) and 7 (charts at 1280 px) are in ``test_access_serve.py`` and
``test_e2e.py``; the chart legend and the n/a bars also in ``test_charts.py``.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from taskclf_core.access.approvals import Approval, PendingApprovals
from taskclf_core.access.identity import oidc_identity
from taskclf_core.console import access
from taskclf_core.console.cli import app as cli_app
from taskclf_core.console.formatting import signoff_missing
from taskclf_core.console.read import review
from taskclf_core.console.reports import report
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from tests.conftest import TEST_CONFIG, SeededHome, synthetic_request, wait_job, write_config
from tests.helpers_app import HISTORY, RETRAIN, REVIEW, open_app, shown, texts, user

V3_AW = Path(__file__).parent / "fixtures" / "taskclf-data" / "v3-aw"
ROLES = "access:\n  approvers: [alice@example.com, bob@example.com]\n  operators: [olga@example.com]\n"
#: A microsecond timestamp as the records keep them (``2026-12-06T15:22:01.123456+00:00``).
RAW_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def everything(at: AppTest) -> list[str]:
    """Every text a reader sees on the page (main area and sidebar)."""
    out: list[str] = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "subheader", "title", "code", "text"):
        out += texts(getattr(at, kind))
    out += [e.label for e in at.expander]
    return out


# ----------------------------------------------------------------------------- a run the regression gate rejects


@pytest.fixture(scope="module")
def drift(seeded_home: SeededHome, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The seeded home plus a drift run made by the CLI (rejected by macro_f1_no_regression alone)."""
    root = tmp_path_factory.mktemp("drift-home") / "home"
    shutil.copytree(seeded_home.root, root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TASKCLF_HOME", str(root))
        mp.chdir(root)
        done = CliRunner().invoke(cli_app, [
            "train", "retrain", "--synthetic", "--scenario", "drift", "--force", "--schema", "v1",
            "--seed", str(seeded_home.seed), "--users", "5",
        ], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    run_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("Run: "))
    return {"root": root, "run": run_id, "stdout": done.stdout}


@pytest.fixture
def drift_home(drift: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "home"
    shutil.copytree(drift["root"], root)
    monkeypatch.setenv("TASKCLF_HOME", str(root))
    monkeypatch.delenv("TASKCLF_CALIBRATOR_STORE", raising=False)
    return root


# ----------------------------------------------------------------------------- item 4


def test_the_regression_difference_has_one_sign_in_table_sentence_chart_report_and_cli(
    drift: dict[str, Any], drift_home: Path
) -> None:
    """Item 4: the table said champion - challenger = +0.0424 (<= 0.02) beside -0.0424 in the sentence."""
    at = open_app(REVIEW, run=drift["run"])
    gates = at.table[0].value
    value = float(shown(gates.loc["macro_f1_no_regression", "value"]))
    assert value < 0 and shown(gates.loc["macro_f1_no_regression", "result"]) == "failed"
    assert shown(gates.loc["macro_f1_no_regression", "threshold"]) == ">= -0.02"
    assert shown(gates.loc["macro_f1_no_regression", "detail"]).startswith("challenger 0.")
    assert f"= {value:+.4f} < -0.02 (regression_tolerance 0.02)" in shown(gates.loc["macro_f1_no_regression", "detail"])
    (sentence,) = [m for m in texts(at.markdown) if m.startswith("Macro-F1 difference (challenger - champion)")]
    assert sentence.startswith(f"Macro-F1 difference (challenger - champion) {value:+.4f}, ")
    assert "the gate passes when it is at least -0.0200" in sentence
    bootstrap = next(json.loads(c.proto.spec) for c in at.get("vega_lite_chart")
                     if "bootstrap interval" in json.dumps(json.loads(c.proto.spec).get("title")))
    assert bootstrap["title"].startswith("Macro-F1 difference")
    html = report.render_report(review.run_review(Home.resolve(drift_home), drift["run"]))
    row = re.search(r"<tr><td>macro_f1_no_regression</td>.*?</tr>", html)
    assert row is not None and f'<td class="num">{value:.4f}</td><td>&gt;= -0.02</td>' in row.group(0)
    assert f"Macro-F1 difference (challenger - champion) {value:+.4f}" in html
    cli_gate = next(line for line in drift["stdout"].splitlines() if "macro_f1_no_regression" in line)
    assert f"{value:.4f}" in cli_gate and ">= -0.02" in cli_gate
    assert f"macro-F1 difference (challenger - champion) {value:+.4f} (95% CI " in drift["stdout"]


# ----------------------------------------------------------------------------- item 8


def test_a_note_over_the_limit_is_counted_and_refused_before_the_dialog(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 8: the 4,000-character limit was announced only after confirming."""
    at = open_app(REVIEW, run=seeded_home.awaiting)
    note = at.text_area(key="review_note")
    assert note.proto.max_chars == 4000  # the browser counts as one types and stops there
    assert at.text_input(key="review_approver").proto.max_chars == 200
    at.text_input(key="review_approver").input("bob")
    note.input("x" * 4001).run()  # refused by the field itself (as the browser does), not by the dialog
    assert len(at.text_area(key="review_note").value or "") <= 4000
    assert at.button(key="review_promote").disabled and not at.get("dialog")
    # A longer text that reaches the page anyway is refused before the dialog, with its length.
    assert signoff_missing("bob", "x" * 4001) == "The note has 4,001 characters; at most 4,000 are allowed: shorten it first."
    at.text_area(key="review_note").input("x" * 4000).run()
    assert not at.button(key="review_promote").disabled


LONG_NOTE = "Better on Meet and Debug\n" + " ".join(["the per-user figures agree with the last two weeks"] * 68)


def test_a_long_note_shows_its_first_line_and_the_rest_expands(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 8: a 3,500-character note filled the headline and Status."""
    assert 3400 < len(LONG_NOTE) < 4000
    registry.promote(Home.resolve(home_copy), seeded_home.awaiting, approver="bob", note=LONG_NOTE, auto_promote=False)
    at = open_app(REVIEW, run=seeded_home.awaiting)
    (signed,) = [m for m in texts(at.markdown) if m.startswith("Signed off by bob on ")]
    assert signed.endswith("; note: Better on Meet and Debug.") and len(signed) < 200
    (whole,) = [e for e in at.expander if e.label.startswith("Note of the ")]
    assert [t.value for t in whole.text] == [LONG_NOTE]
    status = open_app()
    assert "Note: Better on Meet and Debug" in texts(status.caption)
    (expander,) = [e for e in status.expander if e.label == "The whole note"]
    assert [t.value for t in expander.text] == [LONG_NOTE]


# ----------------------------------------------------------------------------- item 9


def test_auto_promote_on_never_says_a_person_must_promote(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 9: with auto_promote on, an awaiting run said "a person must promote it" at the top."""
    write_config(home_copy, TEST_CONFIG + "auto_promote: true\n")
    at = open_app(REVIEW, run=seeded_home.awaiting)
    assert not [t for t in everything(at) if "a person must promote it" in t]
    assert any(m.startswith("Every gate passed, but auto_promote is on now, so nothing will promote this run")
               for m in texts(at.markdown))
    assert "Recorded outcome when the run finished (evidence): awaiting_signoff." in texts(at.caption)
    html = report.render_report(review.run_review(Home.resolve(home_copy), seeded_home.awaiting))
    assert "a person must promote it" not in html


def void_approval(root: Path, run_id: str) -> None:
    """Alice's approval of ``run_id`` given while another model was champion (so it is void)."""
    approval = Approval(
        actor=oidc_identity(user("alice@example.com")), at=datetime.now(UTC).isoformat(), note="ok",
        champion="20200101T000000000000Z-aaaaaa",
    )
    (root / "models" / "pending_approvals.json").write_text(
        PendingApprovals(runs={run_id: [approval]}).model_dump_json(indent=2)
    )


def test_a_void_approval_is_not_headed_pending(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 9: a void approval was headed "Pending approval" on Status, History and Review."""
    write_config(home_copy, TEST_CONFIG + ROLES + "  required_approvals: 2\n")
    void_approval(home_copy, seeded_home.awaiting)
    bob = user("bob@example.com")
    for page in (None, HISTORY):
        at = open_app(page, signed_in=bob)
        lines = [w for w in texts(at.warning) if "alice@example.com" in w]
        assert len(lines) == 1 and lines[0].startswith(f"Void approval: Run {seeded_home.awaiting}: the approval by "), page
        assert " is void: the champion changed since" in lines[0]
    at = open_app(REVIEW, signed_in=bob, run=seeded_home.awaiting)
    assert [c for c in texts(at.caption) if "alice@example.com" in c][0].startswith("Void approval: ")
    assert not [t for t in everything(at) if t.startswith("Pending approval")]


def test_a_home_without_a_config_file_says_the_reference_defaults_are_in_use(home_copy: Path) -> None:
    """Item 9: "Configuration in use: …/retrain.yaml" for a file that does not exist."""
    (home_copy / "configs" / "retrain.yaml").unlink()
    at = open_app(RETRAIN)
    labels = [e.label for e in at.expander]
    path = home_copy / "configs" / "retrain.yaml"
    assert f"Configuration in use: the reference defaults (no file at {path})" in labels
    assert f"Configuration in use: {path}" not in labels


def test_a_viewer_cannot_edit_the_retrain_form(home_copy: Path) -> None:
    """Item 9: a viewer could edit every Retrain field though Start was disabled."""
    write_config(home_copy, TEST_CONFIG + ROLES)
    at = open_app(RETRAIN, signed_in=user("vic@elsewhere.net"))
    assert at.button(key="retrain_start").disabled
    widgets = [at.toggle(key="retrain_synthetic"), at.selectbox(key="retrain_scenario"),
               at.selectbox(key="retrain_schema"), at.number_input(key="retrain_users"),
               at.number_input(key="retrain_days"), at.number_input(key="retrain_seed"),
               at.toggle(key="retrain_force"), at.toggle(key="retrain_dry_run")]
    assert all(w.proto.disabled for w in widgets)
    operator = open_app(RETRAIN, signed_in=user("olga@example.com"))
    assert not operator.toggle(key="retrain_force").proto.disabled


def test_an_approver_with_an_unreadable_config_is_not_called_a_viewer(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 9: with an unreadable config an approver was told "you are signed in as viewer"."""
    write_config(home_copy, TEST_CONFIG + ROLES + "  required_approvals: two\n")
    at = open_app(REVIEW, signed_in=user("alice@example.com"), run=seeded_home.awaiting)
    assert not [t for t in everything(at) if "signed in as viewer" in t or "signed in as a viewer" in t]
    assert not [c for c in texts(at.sidebar.caption) if "(viewer)" in c]
    (signed,) = [c for c in texts(at.sidebar.caption) if c.startswith("Signed in as ")]
    assert signed == "Signed in as **alice@example.com** (no role while the configuration cannot be read)"
    alice = access.session_access(Home.resolve(home_copy), team=True, identity=oidc_identity(user("alice@example.com")))
    why = alice.needs("approver") or ""
    assert why.startswith("approvers only: the roles cannot be read, so nobody holds one: ") and "viewer" not in why


# ----------------------------------------------------------------------------- item 10


@pytest.mark.slow
def test_data_warnings_are_counted_in_the_retrain_result_and_the_headline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 10: data warnings only near the bottom of Review, with literal None cells."""
    write_config(tmp_path)
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    at = open_app(RETRAIN)
    at.toggle(key="retrain_synthetic").set_value(False).run()
    at.text_input(key="retrain_data_dir").input(str(V3_AW))
    at.date_input(key="retrain_dates").set_value((datetime(2025, 9, 9).date(), datetime(2025, 9, 11).date())).run()
    at.button(key="retrain_start").click().run()
    job = wait_job(Home.resolve(tmp_path), at.query_params["job"], timeout=180)
    assert job.state == "succeeded" and job.result is not None and job.result.data_warnings == 3, job.error
    at.run()
    assert "3 data warnings: rows taskclf accepts but that look wrong were kept in this run's data (listed on the review)." in texts(at.warning)
    run = open_app(REVIEW, run=job.result.run_id)
    headline = [w for w in texts(run.warning) if w.startswith("3 data warnings: ")]
    assert headline == ["3 data warnings: rows taskclf accepts but that look wrong were kept in this run's data (listed under Gates below)."]
    table = next(d.value for d in run.dataframe if "column" in d.value.columns)
    assert list(table["column"]) == ["active_seconds_keyboard", "active_seconds_mouse", "active_seconds_any"]
    cells = [str(v) for v in table.to_numpy().ravel()]
    assert "None" not in cells and "nan" not in cells and list(table["min"]) == ["", "", ""]


# ----------------------------------------------------------------------------- item 11


def test_one_time_format_and_sentences_that_read_as_english(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 11: "Rolled back from on …", "promoted automatically by auto", "..", microseconds."""
    home = Home.resolve(home_copy)
    registry.promote(home, seeded_home.awaiting, approver="bob", note="newer.", auto_promote=False)
    registry.rollback(home, seeded_home.champion, approver="carol", note="worse on Meet.")
    write_config(home_copy, TEST_CONFIG + ROLES + "  required_approvals: 2\n")
    void_approval(home_copy, seeded_home.awaiting)
    at = open_app(REVIEW, run=seeded_home.awaiting)
    page = everything(at)
    rolled = [m for m in page if m.startswith("Rolled back ")]
    assert len(rolled) == 1, page
    assert re.fullmatch(
        rf"Rolled back \(champion again: {seeded_home.champion}\), signed off by carol on "
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \([^)]*\); note: worse on Meet\.", rolled[0]), rolled[0]
    assert not [t for t in page if "Rolled back from on" in t or ".." in t or RAW_TIME.search(t)]
    history = open_app(HISTORY)
    assert not [t for t in everything(history) if RAW_TIME.search(t)]
    for frame in history.dataframe:  # names and notes wrap (rows taller than 4 rem), nothing raw
        assert frame.proto.row_height >= 65
        assert not [v for v in frame.value.astype(str).to_numpy().ravel() if RAW_TIME.search(v) or ".." in v]
    status = open_app()
    assert len(status.dataframe) >= 2 and all(frame.proto.row_height >= 65 for frame in status.dataframe)
    assert not [t for t in everything(status) if RAW_TIME.search(t)]


@pytest.mark.slow
def test_an_automatic_promotion_is_not_by_auto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeded_home: SeededHome) -> None:
    from taskclf_core.console.service import run_retrain

    write_config(tmp_path, TEST_CONFIG + "auto_promote: true\n")
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    result = run_retrain(Home.resolve(tmp_path), synthetic_request(seeded_home.seed))
    assert result.outcome == "promoted"
    at = open_app()
    (line,) = [m.replace("**", "") for m in texts(at.markdown) if m.startswith("Champion run ")]
    assert re.fullmatch(rf"Champion run `{result.run_id}`, promoted automatically on \d{{4}}-\d\d-\d\d \d\d:\d\d UTC\.", line)


# ----------------------------------------------------------------------------- item 12


def test_a_retrain_that_is_not_due_says_so_before_start(home_copy: Path) -> None:
    """Item 12: Start asked for confirmation, ran seven seconds and reported not_due."""
    at = open_app(RETRAIN)
    assert at.button(key="retrain_start").disabled
    (why,) = [w for w in texts(at.warning) if w.startswith("Start is disabled: Retrain not due until ")]
    assert "the 7-day cadence counts from the newest promoted model" in why
    assert why.endswith("Without Force a retrain started now stops at once as not_due: turn on Force to retrain anyway.")
    at.toggle(key="retrain_force").set_value(True).run()
    assert not at.button(key="retrain_start").disabled
    assert not [w for w in texts(at.warning) if w.startswith("Start is disabled")]


# ----------------------------------------------------------------------------- item 13


def test_the_report_lists_every_change_involving_the_run(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 13: a rollback from the run and its restore were missing from the report's history."""
    home = Home.resolve(home_copy)
    registry.promote(home, seeded_home.awaiting, approver="bob", note="newer", auto_promote=False)
    registry.rollback(home, seeded_home.champion, approver="carol", note="worse on Meet")
    registry.rollback(home, seeded_home.awaiting, approver="dora", note="Meet was a labelling error")
    html = report.render_report(review.run_review(home, seeded_home.champion))
    section = html[html.index("<h2>History of this run</h2>"):html.index("<h2>Gates</h2>")]
    items = re.findall(r"<li>(.*?)</li>", section)
    shown = [re.sub(r" on \d{4}-\d\d-\d\d \d\d:\d\d UTC( \([^)]*\))?", "", i) for i in items]
    assert shown == [
        "Signed off by fixture-alice, the first champion; note: seeded champion.",
        f"Superseded by {seeded_home.awaiting} (signed off by bob).",
        f"Made champion again by a rollback signed off by carol, replacing {seeded_home.awaiting}; note: worse on Meet.",
        f"Rolled back (champion again: {seeded_home.awaiting}), signed off by dora; note: Meet was a labelling error.",
    ]
    other = report.render_report(review.run_review(home, seeded_home.awaiting))
    assert len(re.findall(r"<li>", other[other.index("<h2>History of this run</h2>"):other.index("<h2>Gates</h2>")])) == 3


def test_the_legend_n_a_bars_and_share_link_on_review(home_copy: Path, seeded_home: SeededHome) -> None:
    """Item 13: "champion" in the legend without one; no word why a bar is missing; a relative link."""
    at = open_app(REVIEW, run=seeded_home.stale)  # evaluated when there was no champion
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]

    def colours(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            found = [node["color"]] if isinstance(node.get("color"), dict) and node["color"].get("field") == "model" else []
            return found + [c for v in node.values() for c in colours(v)]
        return [c for v in node for c in colours(v)] if isinstance(node, list) else []

    legends = [c for s in specs for c in colours(s)]
    assert len(legends) >= 3 and not [c for c in legends if "champion" in c["scale"]["domain"]]
    assert [c for c in legends if c["scale"]["domain"] == ["challenger", "baseline"]]
    assert not [s for s in specs if "champion" in json.dumps(s.get("title"))]
    per_class = next(s for s in specs if "Per-class" in json.dumps(s.get("title")))
    assert [line for line in per_class["title"]["subtitle"] if line.startswith("n/a: the rule baseline never predicts ")]
    links = [c for c in at.code if "Review?run=" in c.value]  # st.code: a copy button beside the text
    assert [c.value for c in links] == [f"Review?run={seeded_home.stale}"]  # the full address in a browser (test_e2e)


# ----------------------------------------------------------------------------- issue 20 item 7: derive once per run


def test_review_derives_once_per_run_content_and_again_when_a_file_changes(home_copy: Path, seeded_home: SeededHome) -> None:
    """Issue 20 item 7: every render re-read and re-derived the evidence, tables and chart specs."""
    from taskclf_core.console.read.review import _CHART_SPECS, _DERIVED

    home = Home.resolve(home_copy)
    first = review.run_review(home, seeded_home.awaiting)
    specs = review.chart_specs(first)
    misses = (_DERIVED.misses, _CHART_SPECS.misses)
    for _ in range(2):  # two more readers (sessions): the same derived objects, nothing derived again
        again = review.run_review(home, seeded_home.awaiting)
        assert again.evidence is first.evidence and again.content_key == first.content_key
        assert review.chart_specs(again) is specs
    at = open_app(REVIEW, run=seeded_home.awaiting)
    assert (_DERIVED.misses, _CHART_SPECS.misses) == misses
    def title(spec: dict[str, Any]) -> str:
        return spec["title"] if isinstance(spec["title"], str) else spec["title"]["text"]

    built = [title(json.loads(v)) for v in specs.values()]
    assert [t for t in (title(json.loads(c.proto.spec)) for c in at.get("vega_lite_chart")) if t in built] == built
    # A changed evidence file is a new key: derived again, and the page shows what the file says now.
    config = home_copy / "artifacts" / "runs" / seeded_home.awaiting / "config.yaml"
    config.write_text(config.read_text().replace("regression_tolerance: 0.02", "regression_tolerance: 0.05"))
    changed = review.run_review(home, seeded_home.awaiting)
    assert changed.content_key != first.content_key and changed.tolerance == 0.05
    assert _DERIVED.misses == misses[0] + 1
    assert changed.intact_problem is not None and "config.yaml" in changed.intact_problem  # and says it changed
