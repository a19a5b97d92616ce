"""configs/retrain.yaml: reference defaults, strict validation with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskclf_core.errors import ConfigError
from taskclf_core.train.config import RetrainConfig, load_retrain_config

SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "retrain.yaml"


def test_shipped_config_has_the_reference_defaults_and_a_comment_per_key():
    config = load_retrain_config(SHIPPED)
    assert config == RetrainConfig()
    assert (config.global_retrain_cadence_days, config.calibrator_update_cadence_days, config.data_lookback_days) == (7, 7, 30)
    assert (config.regression_tolerance, config.require_baseline_improvement, config.auto_promote) == (0.02, True, False)
    assert (config.train_params.num_boost_round, config.train_params.class_weight, config.min_improvement) == (100, "balanced", 0.0)
    lines = SHIPPED.read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#") and ":" in line and not line.strip().startswith("#") and line.strip() != "train_params:":
            assert lines[i - 1].strip().startswith("#"), f"no comment above {line!r}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("regresion_tolerance: 0.1\n", "unknown key 'regresion_tolerance' (did you mean 'regression_tolerance'?)"),
        ("regression_tolerance: high\n", "regression_tolerance must be a number in [0.0, 1.0]; got 'high'"),
        ("regression_tolerance: 1.7\n", "regression_tolerance must be a number in [0.0, 1.0]; got 1.7"),
        ("global_retrain_cadence_days: -3\n", "global_retrain_cadence_days must be a whole number in [0, 3650]; got -3"),
        ("auto_promote: maybe\n", "auto_promote must be true or false; got 'maybe'"),
        ("train_params:\n  class_weight: heavy\n", "train_params.class_weight must be one of 'balanced' or 'none'; got 'heavy'"),
        ("train_params:\n  num_boost_round: 0\n", "train_params.num_boost_round must be a whole number in [1, 100000]; got 0"),
        ("- 1\n- 2\n", "expected a mapping of keys to values; got list"),
        ("a: [1\n", "not valid YAML at line"),
    ],
)
def test_bad_config_is_refused_with_key_value_and_allowed(tmp_path, text, message):
    path = tmp_path / "retrain.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_retrain_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert path.read_text() == text  # nothing on disk changed


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_retrain_config(tmp_path / "nope.yaml")
