"""Dataset hash: canonical over order and dtype width, sensitive to any change."""

from __future__ import annotations

import pandas as pd
import pytest

from taskclf_core.data.hashing import combine_digests, partition_digests, span_digest
from taskclf_core.train.retrain import compute_dataset_hash

FIXTURES = "tests/fixtures/taskclf-data/v1"


@pytest.fixture(scope="module")
def data():
    days = [f"{FIXTURES}/features_v1/date=2025-07-0{d}/features.parquet" for d in (1, 2, 3)]
    features = pd.concat([pd.read_parquet(p) for p in days], ignore_index=True)
    spans = pd.read_parquet(f"{FIXTURES}/labels_v1/labels.parquet")
    return features, spans


def test_hash_is_16_hex_and_stable(data):
    features, spans = data
    digest = compute_dataset_hash(features, spans)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert compute_dataset_hash(features.copy(), spans.copy()) == digest


def test_reordered_rows_columns_and_narrower_dtypes_hash_the_same(data):
    features, spans = data
    base = compute_dataset_hash(features, spans)
    shuffled = features.sample(frac=1.0, random_state=3)[list(reversed(features.columns))]
    narrow = features.astype({"hour_of_day": "int32", "keys_per_min": "float32"})
    narrow["keys_per_min"] = features["keys_per_min"].astype("float32").astype("float64")
    assert compute_dataset_hash(shuffled, spans.sample(frac=1.0, random_state=4)) == base
    assert compute_dataset_hash(features.astype({"hour_of_day": "int32"}), spans) == base


@pytest.mark.parametrize(
    "change",
    [
        lambda f, s: (f.assign(keys_per_min=f["keys_per_min"].where(f.index != 7, 999.0)), s),
        lambda f, s: (f.assign(app_id=f["app_id"].where(f.index != 3, "other.app")), s),
        lambda f, s: (f.drop(index=11), s),
        lambda f, s: (f.assign(keys_per_min=f["keys_per_min"].where(f.index != 5, float("nan"))), s),
        lambda f, s: (f, s.assign(label=s["label"].where(s.index != 0, "Meet"))),
        lambda f, s: (f, s.drop(index=2)),
        lambda f, s: (f, s.assign(end_ts=s["end_ts"].where(s.index != 1, s["end_ts"] + pd.Timedelta(seconds=1)))),
    ],
    ids=["value", "string", "row", "null", "span-label", "span-row", "span-end"],
)
def test_any_change_changes_the_hash(data, change):
    features, spans = data
    changed = change(features.copy(), spans.copy())
    assert compute_dataset_hash(*changed) != compute_dataset_hash(features, spans)


def test_partition_digests_combine_like_the_whole(data):
    """A cluster hashing per (user, day) partition gets the same hash as one machine."""
    features, spans = data
    parts = []
    for _, chunk in features.groupby([features["user_id"], features["bucket_start_ts"].dt.date]):
        parts.extend(partition_digests(chunk))
    assert len(parts) == 6  # 2 users x 3 days
    assert combine_digests(features.columns, parts[::-1], span_digest(spans)) == compute_dataset_hash(features, spans)
