"""Builders for pipeline tests: a temporary home with a config, real synthetic runs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from taskclf_core.console.service import RetrainRequest, run_retrain
from taskclf_core.paths import Home
from taskclf_core.train.retrain import RetrainResult
from tests.conftest import write_config


def make_home(root: Path, **config: Any) -> Home:
    """A home with ``configs/retrain.yaml`` (reference defaults, overridden by ``config``)."""
    write_config(root, config)
    return Home(root)


def retrain(home: Home, **request: Any) -> RetrainResult:
    """A synthetic retrain (3 users, 30 days, schema v1 unless given) through the service layer."""
    fields = {"synthetic": True, "force": True, "users": 3, "days": 30, "schema_version": "v1", **request}
    return run_retrain(home, RetrainRequest(**fields))


def tree_digest(folder: Path) -> dict[str, str]:
    """Path → SHA-256 of every file below ``folder`` (to prove nothing changed)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
