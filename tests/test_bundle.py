"""Model bundles: atomic round trip, and one clear error per way a bundle can be broken."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from helpers_registry import ENCODERS, FEATURES, make_metadata, make_metrics, tiny_model_text
from pydantic import ValidationError

from taskclf_core.data.schema import LABELS
from taskclf_core.errors import BundleError
from taskclf_core.fs.atomic import atomic_folder
from taskclf_core.registry import bundle as bundle_module
from taskclf_core.registry.bundle import (
    BUNDLE_FILES,
    BundleMetrics,
    git_commit,
    library_versions,
    load_bundle,
    sha256_bytes,
    verify_bundle,
    write_bundle_files,
)
from taskclf_core.registry.latest import bundle_created_at, in_future

RUN = "20261126T052430123456Z-a1b2c3"


@pytest.fixture
def bundle_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A complete bundle at ``<tmp>/models/<RUN>``; the cwd is ``<tmp>`` so messages read
    ``bundle models/<RUN>: ...``."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "models" / RUN
    with atomic_folder(target) as tmp:
        write_bundle_files(
            tmp,
            model_text=tiny_model_text(),
            encoders=ENCODERS,
            metadata=make_metadata(),
            metrics=make_metrics(),
        )
    return target


def _edit_json(path: Path, **changes: object) -> None:
    raw = json.loads(path.read_text())
    raw.update(changes)
    path.write_text(json.dumps(raw))


def test_bundle_round_trip_through_atomic_folder(bundle_dir: Path) -> None:
    loaded = load_bundle(bundle_dir)

    assert sorted(p.name for p in bundle_dir.iterdir()) == sorted(BUNDLE_FILES)
    assert not [p for p in bundle_dir.parent.iterdir() if p.name.startswith(".tmp-")]
    assert loaded.model_text == tiny_model_text()
    assert loaded.metadata.model_sha256 == sha256_bytes(tiny_model_text().encode())
    assert loaded.metadata.label_set == list(LABELS)
    assert loaded.metrics == make_metrics()
    assert loaded.encoders == ENCODERS
    proba = np.asarray(loaded.booster.predict(np.zeros((3, len(FEATURES)))))
    assert proba.shape == (3, len(LABELS))
    assert loaded.label == f"models/{RUN}"


def test_confusion_csv_has_label_header_and_index(bundle_dir: Path) -> None:
    lines = (bundle_dir / "confusion_matrix.csv").read_text().splitlines()

    assert lines[0] == "," + ",".join(LABELS)
    assert lines[1] == "BreakIdle,10,1,0,0,0,0,0,0"
    assert len(lines) == 1 + len(LABELS)


def test_metadata_json_is_canonical_and_records_environment(bundle_dir: Path) -> None:
    raw = json.loads((bundle_dir / "metadata.json").read_text())

    assert list(raw) == sorted(raw)
    assert set(raw["library_versions"]) == {
        "lightgbm",
        "pandas",
        "numpy",
        "scikit-learn",
        "taskclf_core",
    }
    assert raw["created_at"].endswith("+00:00")
    assert raw["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", raw["git_commit"])


def test_verify_bundle_is_none_for_a_good_bundle(bundle_dir: Path) -> None:
    assert verify_bundle(bundle_dir) is None
    assert verify_bundle(bundle_dir, parse_model=True) is None


@pytest.mark.parametrize("name", BUNDLE_FILES)
def test_load_names_the_missing_file(bundle_dir: Path, name: str) -> None:
    (bundle_dir / name).unlink()

    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert str(err.value) == f"bundle models/{RUN}: {name} is missing (incomplete bundle)"


def test_load_reports_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="the folder does not exist"):
        load_bundle(tmp_path / "nope", label="models/nope")


@pytest.mark.parametrize("name", ["metadata.json", "metrics.json", "categorical_encoders.json"])
def test_load_reports_bad_json_by_file(bundle_dir: Path, name: str) -> None:
    (bundle_dir / name).write_text('{"macro_f1": ')

    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert str(err.value).startswith(f"bundle models/{RUN}: {name} is not valid JSON (Expecting")


def test_load_reports_wrong_label_set(bundle_dir: Path) -> None:
    labels = [*LABELS[:-1], "Mixed/Unknown"]
    _edit_json(bundle_dir / "metadata.json", label_set=labels)

    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert str(err.value) == (
        f"bundle models/{RUN}: metadata.json has label_set {sorted(labels)} but the core "
        f"label set is {list(LABELS)} (missing: ['Write']; unexpected: ['Mixed/Unknown'])"
    )


def test_load_reports_unknown_schema_version(bundle_dir: Path) -> None:
    _edit_json(bundle_dir / "metadata.json", schema_version="v9")

    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert str(err.value) == (
        f"bundle models/{RUN}: metadata.json has schema_version 'v9'; known versions are v1, v2, v3"
    )


def test_load_reports_schema_hash_of_another_version(bundle_dir: Path) -> None:
    _edit_json(bundle_dir / "metadata.json", schema_hash="a15f4751a947")

    with pytest.raises(BundleError, match="schema_hash 'a15f4751a947' but schema v1 has hash"):
        load_bundle(bundle_dir)


def test_load_reports_altered_model_txt(bundle_dir: Path) -> None:
    with open(bundle_dir / "model.txt", "a") as fh:
        fh.write("\n")

    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert str(err.value) == (
        f"bundle models/{RUN}: model.txt does not match model_sha256 in metadata.json "
        "(file altered after the run?)"
    )
    assert verify_bundle(bundle_dir) == str(err.value)


def test_load_reports_invalid_metadata_fields(bundle_dir: Path) -> None:
    _edit_json(bundle_dir / "metadata.json", created_at="2026-11-26T05:24:30", extra_field=1)

    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    message = str(err.value)
    assert message.startswith(f"bundle models/{RUN}: metadata.json is invalid: ")
    assert "created_at: expected an aware time with a UTC offset" in message
    assert "extra_field" not in message  # unknown keys are kept, as taskclf ignores them


def test_load_reports_model_lightgbm_cannot_parse(bundle_dir: Path) -> None:
    garbage = b"this is not a model\n"
    (bundle_dir / "model.txt").write_bytes(garbage)
    _edit_json(bundle_dir / "metadata.json", model_sha256=sha256_bytes(garbage))

    assert verify_bundle(bundle_dir) is None  # the cheap check trusts the hash
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert str(err.value).startswith(
        f"bundle models/{RUN}: model.txt is not a LightGBM model (LightGBM says: "
    )


def test_load_reports_feature_names_that_differ_from_the_model(bundle_dir: Path) -> None:
    _edit_json(bundle_dir / "metadata.json", feature_names=list(reversed(FEATURES)))

    with pytest.raises(BundleError, match="model.txt has 38 features that differ from the 38"):
        load_bundle(bundle_dir)


def test_load_reports_confusion_csv_out_of_step_with_metrics(bundle_dir: Path) -> None:
    path = bundle_dir / "confusion_matrix.csv"
    path.write_text(path.read_text().replace("BreakIdle,10,", "BreakIdle,11,"))

    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert str(err.value) == (
        f"bundle models/{RUN}: confusion_matrix.csv does not match the confusion_matrix "
        "in metrics.json"
    )


def test_write_refuses_unknown_schema_and_foreign_labels(tmp_path: Path) -> None:
    with pytest.raises(
        BundleError, match="cannot write a bundle: metadata.json has schema_version"
    ):
        write_bundle_files(
            tmp_path,
            model_text=tiny_model_text(),
            encoders=ENCODERS,
            metadata=make_metadata(schema_version="v7"),
            metrics=make_metrics(),
        )
    with pytest.raises(BundleError, match="missing: \\['Write'\\]"):
        write_bundle_files(
            tmp_path,
            model_text=tiny_model_text(),
            encoders=ENCODERS,
            metadata=make_metadata(label_set=list(LABELS[:-1])),
            metrics=make_metrics(),
        )
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="the folder does not exist"):
        write_bundle_files(
            tmp_path / "absent",
            model_text="x",
            encoders={},
            metadata=make_metadata(),
            metrics=make_metrics(),
        )


def test_metadata_validation_messages() -> None:
    with pytest.raises(ValidationError, match="expected a date YYYY-MM-DD; got '2026/10/01'"):
        make_metadata(train_date_from="2026/10/01")
    with pytest.raises(ValidationError, match="train_date_from 2026-10-31 is after"):
        make_metadata(train_date_from="2026-10-31")
    with pytest.raises(ValidationError, match="data_provenance"):
        make_metadata(data_provenance="made-up")
    offset = make_metadata(created_at="2026-11-26T07:24:30+02:00")
    assert offset.created_at == "2026-11-26T05:24:30+00:00"


def test_metrics_matrix_must_be_square_over_label_names() -> None:
    with pytest.raises(ValidationError, match="confusion_matrix must be 2x2"):
        BundleMetrics(
            macro_f1=0.5, weighted_f1=0.5, confusion_matrix=[[1, 2]], label_names=["a", "b"]
        )


def test_bundle_created_at_is_lenient(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text('{"created_at": "2026-11-26T05:24:30"}')
    assert bundle_created_at(tmp_path) == datetime(2026, 11, 26, 5, 24, 30, tzinfo=UTC)
    (tmp_path / "metadata.json").write_text('{"created_at": "2026-11-26T07:24:30+02:00"}')
    assert bundle_created_at(tmp_path) == datetime(2026, 11, 26, 5, 24, 30, tzinfo=UTC)
    (tmp_path / "metadata.json").write_text('{"created_at": "yesterday"}')
    assert bundle_created_at(tmp_path) is None
    (tmp_path / "metadata.json").write_text("[]")
    assert bundle_created_at(tmp_path) is None
    assert bundle_created_at(tmp_path / "absent") is None


def test_one_future_tolerance_for_the_cadence_and_the_listings(tmp_path: Path) -> None:
    """A created_at a few minutes ahead (clock skew) is believed; further ahead it is not,
    by the cadence and by the listings alike (one rule: registry.latest)."""
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    for minutes, believed in ((4, True), (7, False)):
        ahead = now + timedelta(minutes=minutes)
        (tmp_path / "metadata.json").write_text(json.dumps({"created_at": ahead.isoformat()}))
        assert (bundle_created_at(tmp_path, now) == ahead) is believed
        assert in_future(ahead, now) is not believed


def test_git_commit_never_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    commit = git_commit()
    assert commit == "unknown" or re.fullmatch(r"[0-9a-f]{40}", commit)

    git_commit.cache_clear()
    monkeypatch.setenv("PATH", "")  # no git executable at all
    try:
        assert bundle_module.git_commit() == "unknown"
    finally:
        git_commit.cache_clear()


def test_library_versions_names_every_library() -> None:
    versions = library_versions()
    assert set(versions) == {"lightgbm", "pandas", "numpy", "scikit-learn", "taskclf_core"}
    assert all(isinstance(v, str) and v for v in versions.values())
