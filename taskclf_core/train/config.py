"""The retrain configuration (``configs/retrain.yaml``): fields, defaults, strict loading."""

from __future__ import annotations

import difflib
import reprlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskclf_core.errors import ConfigError

DEFAULT_RETRAIN_CADENCE_DAYS = 7
DEFAULT_CALIBRATOR_UPDATE_CADENCE_DAYS = 7
DEFAULT_DATA_LOOKBACK_DAYS = 30
DEFAULT_REGRESSION_TOLERANCE = 0.02
DEFAULT_NUM_BOOST_ROUND = 100
DEFAULT_MODELS_DIR = "models"


class TrainParams(BaseModel):
    """Hyperparameters forwarded to :func:`~taskclf_core.model.lgbm.train_lgbm`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    num_boost_round: int = Field(DEFAULT_NUM_BOOST_ROUND, ge=1, le=100_000)
    class_weight: Literal["balanced", "none"] = "balanced"
    seed: int = Field(0, ge=0, le=2**31 - 1)


class RetrainConfig(BaseModel):
    """Cadence, gate thresholds, and training parameters for the retrain loop."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    global_retrain_cadence_days: int = Field(DEFAULT_RETRAIN_CADENCE_DAYS, ge=0, le=3650)
    calibrator_update_cadence_days: int = Field(DEFAULT_CALIBRATOR_UPDATE_CADENCE_DAYS, ge=0, le=3650)
    data_lookback_days: int = Field(DEFAULT_DATA_LOOKBACK_DAYS, ge=1, le=3650)
    regression_tolerance: float = Field(DEFAULT_REGRESSION_TOLERANCE, ge=0.0, le=1.0)
    require_baseline_improvement: bool = True
    auto_promote: bool = False
    min_improvement: float = Field(0.0, ge=0.0, le=1.0)
    train_params: TrainParams = Field(default_factory=lambda: TrainParams.model_validate({}))


#: Shows a value in a message, shortened: a hostile file (deep nesting, YAML aliases that
#: expand to billions of items) must not make the message itself huge or slow.
_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxstring, _SHOW.maxother = 2, 4, 4, 60, 60

_ALLOWED: dict[str, str] = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
}


def _describe_error(err: Any, source: str) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    value = err.get("input")
    kind = err["type"]
    fields: dict[str, Any] = dict(RetrainConfig.model_fields)
    if err["loc"] and err["loc"][0] == "train_params" and len(err["loc"]) > 1:
        fields = dict(TrainParams.model_fields)
    if kind == "invalid_key":
        return (
            f"{source}: key {_SHOW.repr(value)} is not a name (keys are text); allowed keys: "
            f"{', '.join(fields)}"
        )
    if kind == "extra_forbidden":
        name = str(err["loc"][-1])
        close = difflib.get_close_matches(name, list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{source}: unknown key {loc!r}{hint}; allowed keys: {', '.join(fields)}"
    field = fields.get(str(err["loc"][-1])) if err["loc"] else None
    expected = ""
    if field is not None:
        ann = getattr(field.annotation, "__name__", str(field.annotation))
        expected = _ALLOWED.get(ann, ann)
        bounds = [m for m in field.metadata if hasattr(m, "ge") or hasattr(m, "le")]
        ge = next((m.ge for m in bounds if hasattr(m, "ge")), None)
        le = next((m.le for m in bounds if hasattr(m, "le")), None)
        if ge is not None and le is not None:
            expected += f" in [{ge}, {le}]"
        elif ge is not None:
            expected += f" >= {ge}"
    if "literal" in kind:
        expected = err["msg"].replace("Input should be ", "one of ")
    if kind == "model_type" or kind == "dict_type":
        expected = "a mapping of keys to values"
    return f"{source}: {loc} must be {expected or err['msg']}; got {_SHOW.repr(value)}"


def parse_retrain_config(raw: Any, *, source: str = "config") -> RetrainConfig:
    """Validate a mapping (e.g. parsed YAML) into a :class:`RetrainConfig`.

    Raises:
        ConfigError: unknown key, wrong type or out-of-range value, naming the key,
            the value and what is allowed.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of keys to values; got {type(raw).__name__} {_SHOW.repr(raw)}"
        )
    try:
        return RetrainConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe_error(e, source) for e in exc.errors()]
        raise ConfigError("; ".join(problems)) from None


def load_retrain_config(path: Path) -> RetrainConfig:
    """Load a :class:`RetrainConfig` from a YAML file.

    Args:
        path: YAML file whose keys match :class:`RetrainConfig` fields.

    Returns:
        A validated config instance.

    Raises:
        ConfigError: the file is missing, unreadable, not YAML, or invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # One line: a reader error's text spans two ("...\n  in "<unicode string>", position 0").
        detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, yaml.reader.ReaderError):
            where = f" at character {exc.position + 1}"
        raise ConfigError(f"{path}: not valid YAML{where}: {detail}") from None
    except (ValueError, OverflowError) as exc:  # e.g. a timestamp like 2026-13-45
        raise ConfigError(f"{path}: not valid YAML: a value cannot be read ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    return parse_retrain_config(raw, source=str(path))


def config_to_yaml(config: RetrainConfig) -> str:
    """The effective configuration as YAML (stored with every run)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
