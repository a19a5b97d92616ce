"""The retrain lock never writes through a link and never truncates a file it did not create."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from taskclf_core.errors import BusyError, StorageError
from taskclf_core.train.lock import RETRAIN_LOCK, retrain_lock, retrain_running


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "outside" / "precious.txt"
    victim.parent.mkdir()
    victim.write_text("keep me\n" * 100)
    return victim


def test_a_symlink_at_the_lock_name_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    runs = tmp_path / "artifacts" / "runs"
    runs.mkdir(parents=True)
    (runs / RETRAIN_LOCK).symlink_to(victim)
    with pytest.raises(StorageError, match=r"\.retrain\.lock"), retrain_lock(tmp_path / "artifacts"):
        pass
    assert victim.read_text() == "keep me\n" * 100
    assert retrain_running(tmp_path / "artifacts") is None


def test_a_hard_link_at_the_lock_name_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    runs = tmp_path / "artifacts" / "runs"
    runs.mkdir(parents=True)
    os.link(victim, runs / RETRAIN_LOCK)
    with pytest.raises(StorageError, match="is not a retrain lock file"), retrain_lock(tmp_path / "artifacts"):
        pass
    assert victim.read_text() == "keep me\n" * 100


def test_the_lock_records_its_holder_in_place_and_a_second_retrain_is_busy(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    with retrain_lock(artifacts):
        holder = retrain_running(artifacts)
        assert holder is not None and holder.startswith(f"pid {os.getpid()}, started ")
        with pytest.raises(BusyError, match="another retrain is running"), retrain_lock(artifacts):
            pass
    assert retrain_running(artifacts) is None
    with retrain_lock(artifacts):  # the second holder overwrites the record, same size
        pass
    assert (artifacts / "runs" / RETRAIN_LOCK).stat().st_size == 120
