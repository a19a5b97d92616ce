"""The champion as the pipeline sees it: loaded from ``active.json`` for evaluation."""

from __future__ import annotations

from dataclasses import dataclass

from taskclf_core.errors import TaskclfError
from taskclf_core.model.lgbm import TrainedModel
from taskclf_core.paths import Home
from taskclf_core.registry.installed import load_installed
from taskclf_core.registry.pointer import read_active
from taskclf_core.registry.stamps import sha256_bytes


@dataclass(frozen=True)
class ChampionState:
    """The current champion as the pipeline sees it."""

    model_id: str | None = None  # None: no champion
    model_sha256: str | None = None
    model: TrainedModel | None = None
    error: str | None = None  # set when a champion exists but cannot be loaded


def load_champion(home: Home) -> ChampionState:
    """Load the champion named by ``models/active.json`` (never raises for a broken one)."""
    try:
        pointer = read_active(home)
    except TaskclfError as exc:
        return ChampionState(model_id="(unreadable active.json)", error=str(exc))
    if pointer is None:
        return ChampionState()
    try:
        # Every file checked against the run's manifest, the same check listings make.
        loaded = load_installed(home, pointer.model_id)
        model = TrainedModel(
            booster=loaded.booster,
            # The model's own columns (taskclf's bundles carry no feature_names in metadata).
            feature_names=list(loaded.booster.feature_name()),
            encoders=dict(loaded.encoders),
            schema_version=loaded.metadata.schema_version,
            params=dict(loaded.metadata.params),
        )
    except TaskclfError as exc:
        return ChampionState(model_id=pointer.model_id, error=str(exc))
    # taskclf's bundles record no hash: the evidence names the hash of the model.txt read.
    digest = loaded.metadata.model_sha256 or sha256_bytes(loaded.model_text.encode("utf-8"))
    return ChampionState(pointer.model_id, digest, model)


def current_champion_id(home: Home) -> str | None:
    """The champion's model id now (``None``: no champion; a marker when unreadable)."""
    try:
        pointer = read_active(home)
    except TaskclfError:
        return "(unreadable active.json)"
    return pointer.model_id if pointer else None
