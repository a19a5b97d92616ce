"""configs/retrain.yaml: reference defaults, strict validation with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskclf_core.errors import ConfigError
from taskclf_core.train.config import (
    MAX_CONFIG_BYTES,
    RetrainConfig,
    default_config_text,
    load_retrain_config,
    parse_retrain_yaml,
    read_config,
    write_default_config,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "configs" / "retrain.yaml"


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


def test_missing_config_means_the_reference_defaults(tmp_path):
    state = read_config(tmp_path / "configs" / "retrain.yaml")
    assert state.defaults is True and state.require() == RetrainConfig() and state.text is None
    (tmp_path / "retrain.yaml").write_text("auto_promote: true\n")
    state = read_config(tmp_path / "retrain.yaml")
    assert state.defaults is False and state.require().auto_promote is True
    assert state.text == "auto_promote: true\n"


def test_a_broken_or_dangling_config_is_still_an_error(tmp_path):
    (tmp_path / "retrain.yaml").write_text("auto_promote: maybe\n")
    state = read_config(tmp_path / "retrain.yaml")
    assert state.config is None and "auto_promote must be true or false" in (state.error or "")
    assert state.text == "auto_promote: maybe\n" and state.effective == RetrainConfig()
    with pytest.raises(ConfigError, match="auto_promote must be true or false"):
        state.require()
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere.yaml")
    with pytest.raises(ConfigError, match="config file not found"):
        read_config(tmp_path / "dangling.yaml").require()
    (tmp_path / "huge.yaml").write_bytes(b"#" * (2 << 20))  # refused before it is read whole
    state = read_config(tmp_path / "huge.yaml")
    assert state.text is None and "larger than" in (state.error or "")


def test_default_config_text_is_the_shipped_file_and_the_defaults():
    assert parse_retrain_yaml(default_config_text()) == RetrainConfig()
    assert load_retrain_config(SHIPPED) == parse_retrain_yaml(default_config_text())
    # One file: the package ships taskclf_core/defaults/retrain.yaml, `taskclf init` writes it,
    # and the project's configs/retrain.yaml is the same bytes.
    assert SHIPPED.read_bytes() == (ROOT / "taskclf_core" / "defaults" / "retrain.yaml").read_bytes()
    assert SHIPPED.read_text() == default_config_text()
    assert default_config_text().count("\n# ") >= 8  # commented, one comment per key


def test_write_default_config_never_overwrites(tmp_path):
    target = tmp_path / "configs" / "retrain.yaml"
    assert write_default_config(target) == target
    assert target.read_text() == default_config_text() and load_retrain_config(target) == RetrainConfig()
    target.write_text("auto_promote: true\n")
    with pytest.raises(ConfigError) as info:
        write_default_config(target)
    assert str(info.value) == f"{target} already exists; not overwritten (edit it, or delete it and run init again)"
    assert target.read_text() == "auto_promote: true\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["retrain.yaml"]  # no temp file left


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("auto_promote: false\nregression_tolerance: 0.02\nauto_promote: true\n",
         "key 'auto_promote' appears twice, at line 1 and line 3; keep one of them"),
        ("train_params:\n  seed: 1\n  num_boost_round: 5\n  seed: 2\n",
         "key 'seed' appears twice, at line 2 and line 4; keep one of them"),
        ("{auto_promote: false, auto_promote: true}\n",
         "key 'auto_promote' appears twice, at line 1 and line 1; keep one of them"),
    ],
)
def test_duplicate_keys_are_refused_naming_both_lines(tmp_path, text, message):
    path = tmp_path / "retrain.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_retrain_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_config_reads_at_most_the_size_limit():
    with pytest.raises(ConfigError) as info:
        load_retrain_config(Path("/dev/zero"))  # endless: must stop after the limit
    assert str(info.value) == (
        f"/dev/zero: the config file is larger than {MAX_CONFIG_BYTES:,} bytes; a retrain config is a few "
        "hundred bytes (is this the right file?)"
    )


def test_config_that_is_a_folder_or_not_utf8(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_retrain_config(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes(b"# caf\xe9\nauto_promote: true\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text: byte 6"):
        load_retrain_config(tmp_path / "latin1.yaml")
