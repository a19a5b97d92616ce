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
