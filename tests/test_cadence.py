"""Cadence: due without a model, with an unreadable created_at, and by age (times, not strings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from taskclf_core.train.cadence import (
    check_calibrator_update_due,
    check_retrain_due,
    find_latest_model,
    retrain_cadence,
)


def model(models, name, created_at):
    folder = models / name
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({"created_at": created_at}))
    return folder


def test_due_without_models_and_with_unreadable_created_at(tmp_path):
    models = tmp_path / "models"
    assert check_retrain_due(models)
    model(models, "a", "not a time")
    assert check_retrain_due(models, 7)
    assert "no readable created_at" in retrain_cadence(models, 7).reason


def test_age_compares_times_not_strings(tmp_path):
    models = tmp_path / "models"
    now = datetime.now(UTC)
    # an offset timestamp that sorts lower as a string but is the newest time
    model(models, "old", (now - timedelta(days=10)).isoformat())
    newest = (now - timedelta(days=1)).astimezone(tz=None).replace(tzinfo=None).isoformat()  # naive = UTC
    model(models, "new", (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S-05:00"))
    model(models, "naive", newest)
    assert find_latest_model(models).name in {"new", "naive"}
    assert not check_retrain_due(models, 7)
    assert check_retrain_due(models, 0)
    status = retrain_cadence(models, 7, now=now)
    assert not status.due and status.due_at is not None and status.due_at > now


def test_calibrator_store(tmp_path):
    store = tmp_path / "store"
    assert check_calibrator_update_due(store)
    store.mkdir()
    (store / "store.json").write_text(json.dumps({"created_at": datetime.now(UTC).isoformat()}))
    assert not check_calibrator_update_due(store, 7)
    (store / "store.json").write_text(json.dumps({"created_at": "2020-01-01T00:00:00"}))
    assert check_calibrator_update_due(store, 7)


def test_a_created_at_in_the_future_or_at_the_calendar_edge_never_suppresses_the_cadence(tmp_path):
    """A bundle dated 2999 would keep a retrain from ever being due: it is not believed."""
    import json as _json

    from taskclf_core.train.cadence import calibrator_cadence, retrain_cadence

    models = tmp_path / "models"
    (models / "a").mkdir(parents=True)
    (models / "a" / "metadata.json").write_text(_json.dumps({"created_at": "2999-01-01T00:00:00+00:00"}))
    status = retrain_cadence(models, 7)
    assert status.due and status.due_at is None
    assert status.reason == "a/metadata.json created_at 2999-01-01T00:00:00+00:00 is in the future"
    (models / "b").mkdir()
    (models / "b" / "metadata.json").write_text(_json.dumps({"created_at": "0001-01-01T00:00:00+01:00"}))
    status = retrain_cadence(models, 7)  # no OverflowError; both unreadable, the later name wins
    assert status.due and status.reason == "b/metadata.json has no readable created_at"
    store = tmp_path / "store"
    store.mkdir()
    (store / "store.json").write_text(_json.dumps({"created_at": "9999-12-31T23:59:59-01:00"}))
    calibrator = calibrator_cadence(store, 7)
    assert calibrator.due and calibrator.reason.endswith("has no readable created_at")
    (store / "store.json").write_text(_json.dumps({"created_at": "2999-06-01T00:00:00+00:00"}))
    assert calibrator_cadence(store, 7).reason.endswith("created_at 2999-06-01T00:00:00+00:00 is in the future")
