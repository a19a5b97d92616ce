"""The records of the public retrain API: the dataset snapshot and the run's result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskclf_core.data.quality import DataWarning
from taskclf_core.model.gates import GateGroup, RegressionGate
from taskclf_core.model.reports import BootstrapInterval

Outcome = Literal["not_due", "dry_run", "rejected", "awaiting_signoff", "promoted"]


class DatasetSnapshot(BaseModel):
    """Immutable record of the dataset used for a training run."""

    model_config = ConfigDict(frozen=True)

    dataset_hash: str
    row_count: int  # labelled windows after projection
    date_from: str
    date_to: str
    user_count: int
    class_distribution: dict[str, int]
    feature_rows: int = 0  # windows before projection
    span_count: int = 0
    schema_version: str = ""
    train_rows: int = 0
    val_rows: int = 0
    test_rows: int = 0
    holdout_users: list[str] = Field(default_factory=list)
    source: dict[str, Any] = Field(default_factory=dict)
    #: Values kept although outside their documented range (taskclf accepts them).
    data_warnings: list[DataWarning] = Field(default_factory=list)


class RetrainResult(BaseModel):
    """Output of :func:`run_retrain_pipeline`."""

    promoted: bool
    champion_macro_f1: float | None = None
    challenger_macro_f1: float
    regression: GateGroup | None = None
    candidate_gates: GateGroup | None = None
    dataset_snapshot: DatasetSnapshot
    run_dir: str
    reason: str
    champion_source: str | None = None
    active_updated: bool = False
    # Additions to the reference:
    outcome: Outcome
    run_id: str | None = None
    baseline_macro_f1: float | None = None
    baseline_gate: GateGroup | None = None
    gates: list[RegressionGate] = Field(default_factory=list)
    bootstrap: BootstrapInterval | None = None
    due_at: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
