"""Synthetic teams at schema v2 and v3: taskclf's layout, title sketches with signal."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskclf_core.data import schema
from taskclf_core.data.datadir import load_data_dir
from taskclf_core.data.featurecheck import validate_features
from taskclf_core.data.projection import project_spans
from taskclf_core.data.quality import data_warnings
from taskclf_core.errors import ConfigError
from taskclf_core.synthetic.team import generate_team, synthesize_data_dir

LAST_DAY = date(2025, 7, 14)
TOKEN = list(schema.TITLE_SKETCH_FEATURES[:128])
CHAR3 = list(schema.TITLE_SKETCH_FEATURES[128:])


@pytest.fixture(scope="module")
def v3_team():
    return generate_team(users=3, days=7, date_to=LAST_DAY, seed=5, schema_version="v3")


def test_v3_team_has_taskclfs_columns_and_passes_the_same_validation_as_its_own_data(
    v3_team,
) -> None:
    features = v3_team.features
    assert tuple(features.columns) == schema.COLUMNS["v3"]
    assert set(features["schema_version"]) == {"v3"}
    assert set(features["schema_hash"]) == {schema.SCHEMA_HASHES["v3"]}
    validate_features(features, source="synthetic v3")
    assert data_warnings(features) == []
    for column in ("title_char_count", "title_token_count", "title_separator_count"):
        assert features[column].dtype == np.int64


def test_v3_sketches_are_frequencies_like_taskclfs(v3_team) -> None:
    features = v3_team.features
    token, char3 = features[TOKEN].to_numpy(), features[CHAR3].to_numpy()
    empty = features["app_id"].eq("com.apple.loginwindow").to_numpy()
    assert empty.any() and not token[empty].any() and not char3[empty].any()
    assert (features.loc[empty, "title_char_count"] == 0).all()
    # Elsewhere each sketch adds up to 1 within the rounding to 6 places.
    assert np.allclose(token[~empty].sum(axis=1), 1.0, atol=1e-4)
    assert np.allclose(char3[~empty].sum(axis=1), 1.0, atol=1e-4)
    assert np.array_equal(token, np.round(token, 6))
    # Sparsity as in v3-aw: a handful of token buckets, a few dozen trigram buckets.
    assert 3 <= np.median((token[~empty] > 0).sum(axis=1)) <= 8
    assert 15 <= np.median((char3[~empty] > 0).sum(axis=1)) <= 40


def test_v3_title_sketches_carry_the_task(v3_team) -> None:
    labelled = project_spans(v3_team.features, v3_team.spans)
    labelled = labelled[labelled["label"].notna()]
    sketch = labelled[TOKEN].to_numpy()
    labels = labelled["label"].to_numpy()
    names = sorted(set(labels))
    centroids = np.stack([sketch[labels == name].mean(axis=0) for name in names])
    nearest = np.array(names)[np.argmax(sketch @ centroids.T, axis=1)]
    accuracy = float((nearest == labels).mean())
    assert accuracy > 0.5, accuracy  # chance is 1/8; titles alone say a lot, not all


def test_every_v1_column_and_span_is_the_same_at_every_schema() -> None:
    teams = {
        v: generate_team(users=2, days=3, date_to=LAST_DAY, seed=9, schema_version=v)
        for v in schema.SCHEMA_VERSIONS
    }
    common = [c for c in schema.COLUMNS["v1"] if c not in ("schema_version", "schema_hash")]
    for version in ("v2", "v3"):
        pd.testing.assert_frame_equal(teams[version].features[common], teams["v1"].features[common])
        pd.testing.assert_frame_equal(teams[version].spans, teams["v1"].spans)
        assert teams[version].schema_version == version


def test_same_seed_same_bytes_other_seed_other_titles() -> None:
    def digest(seed: int) -> int:
        team = generate_team(users=1, days=2, date_to=LAST_DAY, seed=seed, schema_version="v3")
        frame = team.features.drop(columns="source_ids")
        return int(pd.util.hash_pandas_object(frame, index=False).sum())

    assert digest(3) == digest(3)
    assert digest(3) != digest(4)


@pytest.mark.parametrize(("version", "users"), [("v3", 2), ("v2", 1)])
def test_a_synthetic_directory_at_v2_or_v3_loads_back_unchanged(
    tmp_path: Path, version: str, users: int
) -> None:
    out = tmp_path / "data"
    team = synthesize_data_dir(
        out, users=users, days=2, date_to=LAST_DAY, seed=1, schema_version=version
    )
    user = str(team.features["user_id"].iloc[0]) if version == "v2" else None
    loaded = load_data_dir(out, team.date_from, team.date_to, user_id=user)
    assert loaded.schema_version == version and loaded.warnings == ()
    back = loaded.features.sort_values(list(schema.PRIMARY_KEY)).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        back.drop(columns="source_ids"), team.features.drop(columns="source_ids")
    )


def test_unknown_schema_version_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown schema version 'v4'; known: v1, v2, v3"):
        generate_team(users=1, days=1, date_to=LAST_DAY, schema_version="v4")
