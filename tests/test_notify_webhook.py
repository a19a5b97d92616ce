"""Signed webhooks against a real HTTP server on 127.0.0.1 (pytest-httpserver), deliveries off the request path."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from taskclf_core.console.service import promote_run, run_retrain
from taskclf_core.notify import Event, emit, flush
from taskclf_core.notify.sign import verify
from taskclf_core.paths import Home
from taskclf_core.registry.history import HistoryEntry
from tests.conftest import ROOT, SeededHome, synthetic_request
from tests.helpers_notify import SECRET, deliveries, set_up, silent_server

README = ROOT / "README.md"


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    return ("127.0.0.1", 0)


def webhook(url: str, events: list[str] | None = None, name: str = "hook") -> dict[str, Any]:
    return {"name": name, "kind": "webhook", "url": url, "events": events or ["promoted"]}


def secret_for(name: str = "hook", value: str = SECRET) -> str:
    return f'[notify.{name}]\nsecret = "{value}"\n'


def event(**extra: Any) -> Event:
    fields: dict[str, Any] = {"kind": "promoted", "title": "Run X promoted", "summary": "a test", "run_id": "r1",
                              "page": "Review?run=r1"}
    return Event(**{**fields, **extra})


def readme_verifier() -> Any:
    """The ten-line verifier the README gives receivers, executed as written."""
    block = re.search(r"<!-- verifier -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None, "README has no verifier block"
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 10
    scope: dict[str, Any] = {}
    exec(code, scope)  # noqa: S102 (our own README)
    return scope["verify"]


def test_a_delivery_is_signed_and_verifies_with_the_secret_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    set_up(tmp_path, monkeypatch, [webhook(httpserver.url_for("/hook"))], secret_for())
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    emit(Home(tmp_path), event())
    assert flush(10)
    (request, _), = httpserver.log
    body, headers = request.get_data(), request.headers
    stamp, signature = headers["X-Taskclf-Timestamp"], headers["X-Taskclf-Signature"]
    assert verify(SECRET, stamp, signature, body)
    assert not verify("another-secret-0123456789", stamp, signature, body)
    assert not verify(SECRET, stamp, signature, body.replace(b"r1", b"r2"))  # a changed body
    assert not verify(SECRET, stamp, signature, body, now=int(stamp) + 301)  # a replay after 5 minutes
    receiver = readme_verifier()  # what the README tells receivers to run
    assert receiver(SECRET.encode(), headers, body)
    assert not receiver(b"another-secret-0123456789", headers, body)
    payload = json.loads(body)
    assert payload["link"] == "http://console.test:8501/Review?run=r1"
    assert (payload["kind"], payload["run_id"], headers["X-Taskclf-Event"]) == ("promoted", "r1", "promoted")
    assert SECRET not in (tmp_path / "artifacts" / "notifications.jsonl").read_text()
    (record,) = deliveries(tmp_path)
    assert (record["status"], record["attempts"], record["target"]) == ("delivered", 1, "hook")


def test_a_target_answering_500_twice_is_delivered_on_the_third_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    set_up(tmp_path, monkeypatch, [webhook(httpserver.url_for("/flaky"))], secret_for())
    for status in (500, 500, 200):
        httpserver.expect_ordered_request("/flaky", method="POST").respond_with_data("x", status=status)
    emit(Home(tmp_path), event())
    assert flush(10)
    assert len(httpserver.log) == 3
    ids = {r.headers["X-Taskclf-Delivery"] for r, _ in httpserver.log}
    assert len(ids) == 1  # the same delivery id on every attempt: a receiver can drop duplicates
    (record,) = deliveries(tmp_path)
    assert (record["status"], record["attempts"], record["error"]) == ("delivered", 3, None)


def test_a_target_failing_every_attempt_is_recorded_failed_with_its_last_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    set_up(tmp_path, monkeypatch, [webhook(httpserver.url_for("/down"))], secret_for(), attempts=2)
    httpserver.expect_request("/down").respond_with_data("no", status=503)
    emit(Home(tmp_path), event())
    assert flush(10)
    (record,) = deliveries(tmp_path)
    assert (record["status"], record["attempts"], record["error"]) == ("failed", 2, "HTTP 503 SERVICE UNAVAILABLE")


def test_a_webhook_without_its_secret_sends_nothing_and_says_where_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    secrets = set_up(tmp_path, monkeypatch, [webhook(httpserver.url_for("/hook"))], secret_for("other"))
    emit(Home(tmp_path), event())
    assert flush(10)
    assert httpserver.log == []  # nothing unsigned leaves
    (record,) = deliveries(tmp_path)
    assert record["status"] == "failed" and record["attempts"] == 0
    assert record["error"] == ('webhook target hook has no secret: add [notify.hook] secret = "..." to the secrets '
                               "file (nothing is sent unsigned)")
    assert secrets.exists()


@pytest.mark.slow
def test_a_target_that_never_answers_does_not_delay_the_promotion(
    seeded_home: SeededHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timings = {}
    with silent_server() as url:
        for name, targets in (("without", []), ("with", [webhook(url, name="silent")])):
            root = tmp_path / name
            shutil.copytree(seeded_home.root, root)
            set_up(root, monkeypatch, targets, secret_for("silent"), timeout_seconds=1, attempts=2)
            started = time.perf_counter()
            entry = promote_run(Home(root), seeded_home.awaiting, approver="alice", note="ship it", origin="cli")
            timings[name] = time.perf_counter() - started
            assert getattr(entry, "new_champion", None) == seeded_home.awaiting
        assert deliveries(tmp_path / "with") == []  # still trying when the promotion returned
        assert timings["with"] - timings["without"] < 0.1, timings
        assert flush(15)
    (record,) = deliveries(tmp_path / "with")
    assert (record["status"], record["attempts"], record["error"]) == ("failed", 2, "no answer within 1 s")
    assert record["event"] == "promoted" and record["run_id"] == seeded_home.awaiting


@pytest.mark.slow
def test_a_full_queue_drops_a_delivery_and_records_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with silent_server() as url:
        set_up(tmp_path, monkeypatch, [webhook(url, name="slow")], secret_for("slow"), queue_size=1, attempts=1,
               timeout_seconds=1)
        for number in range(3):
            emit(Home(tmp_path), event(run_id=f"r{number}"))
        assert flush(10)
    statuses = sorted(r["status"] for r in deliveries(tmp_path))
    assert len(statuses) == 3 and "dropped" in statuses
    dropped = next(r for r in deliveries(tmp_path) if r["status"] == "dropped")
    assert dropped["error"] == "1 deliveries already wait for target slow (notify.queue_size)"


EMITTER = textwrap.dedent("""
    import sys, time
    from taskclf_core.notify import Event, emit
    from taskclf_core.paths import Home
    emit(Home.resolve(sys.argv[1]), Event(kind="promoted", title="t", summary="s"))
    print(time.monotonic(), flush=True)
""")


def _emit_in_a_process(root: Path) -> tuple[float, float]:
    """Emit one event in a fresh process that then ends: (seconds from emit to its exit, its exit code)."""
    proc = subprocess.run([sys.executable, "-c", EMITTER, str(root)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    ended = time.monotonic()
    assert proc.returncode == 0, proc.stderr
    return ended - float(proc.stdout.strip()), proc.returncode


@pytest.mark.slow
def test_a_process_ends_after_its_deliveries_or_gives_them_up_within_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    delivered = tmp_path / "delivered"
    set_up(delivered, monkeypatch, [webhook(httpserver.url_for("/hook"))], secret_for())
    _emit_in_a_process(delivered)
    assert [r["status"] for r in deliveries(delivered)] == ["delivered"]  # the process waited for it
    assert len(httpserver.log) == 1
    with silent_server() as url:
        stuck = tmp_path / "stuck"
        set_up(stuck, monkeypatch, [webhook(url)], secret_for(), timeout_seconds=30, exit_wait_seconds=1)
        waited, _ = _emit_in_a_process(stuck)
    assert waited < 10  # the bound (1 s) and the interpreter's exit, not the 30 s timeout
    (record,) = deliveries(stuck)
    assert record["status"] == "gave_up"
    assert record["error"] == "the process ended before the delivery did (waited 1 s: notify.exit_wait_seconds)"


def test_apprise_errors_are_recorded_without_the_credentials_of_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with silent_server() as url:
        port = url.split(":")[2].split("/")[0]
    secrets = f'[notify.chat]\nurls = ["json://someone:pa55w0rd-xyz@127.0.0.1:{port}/in"]\n'
    set_up(tmp_path, monkeypatch, [{"name": "chat", "kind": "apprise", "events": ["promoted"]}], secrets, attempts=1)
    emit(Home(tmp_path), event())
    assert flush(30)
    (record,) = deliveries(tmp_path)
    assert record["status"] == "failed" and record["error"].startswith("Apprise could not deliver")
    text = (tmp_path / "artifacts" / "notifications.jsonl").read_text()
    assert "pa55w0rd-xyz" not in text and "someone" not in text


@pytest.mark.slow
def test_a_run_its_reason_and_its_promotion_reach_the_webhook(
    home_copy: Path, seeded_home: SeededHome, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    set_up(home_copy, monkeypatch, [webhook(httpserver.url_for("/hook"), ["run_awaiting_signoff", "promoted"])],
           secret_for())
    httpserver.expect_request("/hook").respond_with_data("ok")
    home = Home(home_copy)
    reason = "the November labels arrived"
    result = run_retrain(home, synthetic_request(seeded_home.seed, reason=reason, started_by="OS user ops",
                                                 started_how="cli"))
    assert result.outcome == "awaiting_signoff"
    decision = json.loads((home_copy / "artifacts" / "runs" / str(result.run_id) / "decision.json").read_text())
    assert decision["requested"] == {"by": "OS user ops", "how": "cli", "reason": reason}
    entry = promote_run(home, str(result.run_id), approver="alice", note="ship it", origin="cli")
    assert isinstance(entry, HistoryEntry) and entry.requested is not None and entry.requested.reason == reason
    history = (home_copy / "models" / "active_history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["requested"]["reason"] == reason
    assert flush(10)
    payloads = [json.loads(r.get_data()) for r, _ in httpserver.log]
    assert [p["kind"] for p in payloads] == ["run_awaiting_signoff", "promoted"]
    for payload in payloads:
        assert payload["run_id"] == result.run_id and payload["reason"] == reason
        assert payload["link"] == f"http://console.test:8501/Review?run={result.run_id}"
    awaiting = payloads[0]
    assert awaiting["figures"]["challenger_macro_f1"] == pytest.approx(result.challenger_macro_f1)
    assert awaiting["actor"] == "OS user ops" and awaiting["gates_failed"] == []
    assert payloads[1]["actor"] == entry.approver


def test_notify_test_prints_one_line_per_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    from typer.testing import CliRunner

    from taskclf_core.console.cli import app

    httpserver.expect_request("/ok").respond_with_data("ok")
    with silent_server() as url:
        set_up(tmp_path, monkeypatch, [webhook(httpserver.url_for("/ok"), name="good"), webhook(url, name="silent")],
               secret_for("good") + secret_for("silent"), attempts=1, timeout_seconds=1)
        monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
        result = CliRunner().invoke(app, ["notify", "test"], catch_exceptions=False)
    lines = result.stdout.splitlines()
    assert result.exit_code == 2 and len(lines) == 2
    assert re.fullmatch(r"webhook good: delivered \(1 attempt, \d+\.\d\d s\)", lines[0])
    assert lines[1] == "webhook silent: failed after 1 attempt: no answer within 1 s"
    assert json.loads(httpserver.log[0][0].get_data())["kind"] == "test"
    (tmp_path / "configs" / "retrain.yaml").write_text("auto_promote: false\n")
    empty = CliRunner().invoke(app, ["notify", "test"], catch_exceptions=False)
    assert empty.exit_code == 2
    assert empty.stderr.strip() == (f"error: no notification targets in {tmp_path / 'configs' / 'retrain.yaml'} (add a "
                                    'notify: section with targets; see README "Notifications")')


def test_a_failed_retrain_is_announced_and_a_busy_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    from taskclf_core.console.service import RetrainRequest
    from taskclf_core.errors import BusyError, DataError
    from taskclf_core.train.lock import retrain_lock

    set_up(tmp_path, monkeypatch, [webhook(httpserver.url_for("/hook"), ["run_failed"])], secret_for())
    httpserver.expect_request("/hook").respond_with_data("ok")
    home = Home(tmp_path)
    missing = tmp_path / "no-such-data"
    with pytest.raises(DataError):
        run_retrain(home, RetrainRequest(data_dir=missing, force=True, reason="weekly", started_by="OS user ops",
                                         started_how="cli"))
    with retrain_lock(home.artifacts_dir), pytest.raises(BusyError):
        run_retrain(home, synthetic_request(0))  # another retrain runs: a refusal, not a failure
    assert flush(10)
    (payload,) = [json.loads(r.get_data()) for r, _ in httpserver.log]
    assert (payload["kind"], payload["title"], payload["actor"], payload["reason"]) == (
        "run_failed", "Retrain failed", "OS user ops", "weekly")
    assert payload["summary"].startswith("The retrain stopped before saving a run: ") and str(missing) in payload["summary"]
    assert payload["link"] == "http://console.test:8501/Retrain"


def test_a_due_retrain_is_announced_once_per_due_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    from typer.testing import CliRunner

    from taskclf_core.console.cli import app

    set_up(tmp_path, monkeypatch, [webhook(httpserver.url_for("/hook"), ["retrain_due"])], secret_for())
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    httpserver.expect_request("/hook").respond_with_data("ok")
    for _ in range(2):
        result = CliRunner().invoke(app, ["train", "check-retrain"], catch_exceptions=False)
        assert result.stdout.splitlines() == ["Global retrain: DUE (no promoted model exists yet)"]
        assert flush(10)
    (payload,) = [json.loads(r.get_data()) for r, _ in httpserver.log]  # once, not once per check
    assert (payload["kind"], payload["title"]) == ("retrain_due", "A retrain is due")
    assert [r["status"] for r in deliveries(tmp_path)] == ["delivered"]
