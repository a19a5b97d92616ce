"""The retrain configuration (``configs/retrain.yaml``): fields, defaults, strict loading."""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskclf_core.access.policy import AccessPolicy
from taskclf_core.errors import ConfigError, StorageError, describe_validation_error, show_value
from taskclf_core.fs.atomic import write_text_atomic
from taskclf_core.fs.jsonfile import decode_utf8, read_bounded
from taskclf_core.model.thresholds import GateThresholds
from taskclf_core.notify.config import NotifyConfig
from taskclf_core.train.dask.config import ComputeConfig
from taskclf_core.train.deploy import ServingConfig

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
    #: Acceptance-check and candidate-gate thresholds; the reference values by default.
    gates: GateThresholds = Field(default_factory=lambda: GateThresholds())
    #: Where the retrain runs: this process (``local``) or a Dask cluster (``dask``).
    compute: ComputeConfig = Field(default_factory=lambda: ComputeConfig.model_validate({}))
    #: Roles and the two-person rule for a team deployment (issue 14); none by default.
    access: AccessPolicy = Field(default_factory=lambda: AccessPolicy())
    #: How a challenger is deployed (taskclf's inference policy); None: like the current deployment.
    serving: ServingConfig | None = None
    #: Where events go (webhooks, chat, email; issue 24); None: no targets, nothing is sent.
    notify: NotifyConfig | None = None


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
            f"{source}: expected a mapping of keys to values; got {type(raw).__name__} {show_value(raw)}"
        )
    try:
        return RetrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, model=RetrainConfig, source=source)) from None


#: A config file larger than this is refused before it is read (``--config /dev/zero``).
MAX_CONFIG_BYTES = 1 << 20


class _DuplicateKey(yaml.YAMLError):
    """A mapping names the same key twice (YAML would silently keep the last one)."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, naming both lines."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the model refuses it with its own message
                continue
            if first is not None:
                raise _DuplicateKey(
                    f"key {show_value(key)} appears twice, at line {first} and line {line}; keep one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _read_config_text(path: Path) -> str:
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    except ValueError as exc:  # the only one read_bounded raises: too large
        raise ConfigError(
            f"{path}: the config file is {exc}; a retrain config is a few hundred bytes (is this the right file?)"
        ) from None
    try:
        return decode_utf8(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None


def parse_retrain_yaml(text: str, *, source: str = "config") -> RetrainConfig:
    """Parse and validate the text of a retrain config (YAML).

    Raises:
        ConfigError: not YAML, a key given twice, or invalid (see :func:`parse_retrain_config`).
    """
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # One line: a reader error's text spans two ("...\n  in "<unicode string>", position 0").
        detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, yaml.reader.ReaderError):
            where = f" at character {exc.position + 1}"
        raise ConfigError(f"{source}: not valid YAML{where}: {detail}") from None
    except (ValueError, OverflowError) as exc:  # e.g. a timestamp like 2026-13-45
        raise ConfigError(f"{source}: not valid YAML: a value cannot be read ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None
    return parse_retrain_config(raw, source=source)


def load_retrain_config(path: Path) -> RetrainConfig:
    """Load a :class:`RetrainConfig` from a YAML file.

    Args:
        path: YAML file whose keys match :class:`RetrainConfig` fields.

    Returns:
        A validated config instance.

    Raises:
        ConfigError: the file is missing, unreadable, larger than :data:`MAX_CONFIG_BYTES`,
            not YAML, names a key twice, or is invalid.
    """
    path = Path(path)
    return parse_retrain_yaml(_read_config_text(path), source=str(path))


@dataclass(frozen=True)
class ConfigState:
    """A config file as read once: its path, text, parsed value or error.

    ``defaults`` is True when there is no file: the reference defaults apply (``taskclf
    init`` writes the commented default file). A file that exists but cannot be read or
    is invalid (also a dangling symlink) has ``error`` set and no ``config``.
    """

    path: Path
    text: str | None
    config: RetrainConfig | None
    error: str | None
    defaults: bool = False

    @property
    def effective(self) -> RetrainConfig:
        """The parsed config, or the reference defaults when it is missing or invalid."""
        return self.config or RetrainConfig.model_validate({})

    def require(self) -> RetrainConfig:
        """The parsed config (the defaults when there is no file).

        Raises:
            ConfigError: the file exists but cannot be read or is invalid.
        """
        if self.config is None:
            raise ConfigError(self.error or f"{self.path}: the config cannot be used")
        return self.config


def read_config(path: Path) -> ConfigState:
    """Read a config file once, without raising: the one way the console reads its config.

    A missing file is not an error: the reference defaults apply (``defaults`` is True).
    Reading is bounded (:data:`MAX_CONFIG_BYTES`) and strict (see :func:`parse_retrain_yaml`).
    """
    path = Path(path)
    if not os.path.lexists(path):
        return ConfigState(path, None, RetrainConfig.model_validate({}), None, defaults=True)
    text: str | None = None
    try:
        text = _read_config_text(path)
        return ConfigState(path, text, parse_retrain_yaml(text, source=str(path)), None)
    except ConfigError as exc:
        return ConfigState(path, text, None, str(exc))


#: The commented default config: the reference defaults, one comment per key. Shipped with
#: the package; ``taskclf init`` copies it and ``configs/retrain.yaml`` in the project is
#: the same file.
DEFAULT_CONFIG_RESOURCE = ("defaults", "retrain.yaml")


def default_config_text() -> str:
    """The text of the shipped default config (what ``taskclf init`` writes)."""
    return importlib.resources.files("taskclf_core").joinpath(*DEFAULT_CONFIG_RESOURCE).read_text(encoding="utf-8")


def write_default_config(path: Path) -> Path:
    """Write the shipped default config (:func:`default_config_text`) to ``path`` (atomically),
    never over an existing file.

    Raises:
        ConfigError: ``path`` already exists, or cannot be written.
    """
    path = Path(path)
    if os.path.lexists(path):
        raise ConfigError(f"{path} already exists; not overwritten (edit it, or delete it and run init again)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, default_config_text())
    except StorageError as exc:  # the atomic write names the path and the reason
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def config_to_yaml(config: RetrainConfig) -> str:
    """The effective configuration as YAML (stored with every run)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _threshold_fields(config: RetrainConfig) -> dict[str, Any]:
    """The effective ``gates:`` and ``serving:`` sections, flattened (``gates.per_user.tolerance``)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}", inner)
        else:
            out[prefix] = value

    walk("gates", config.gates.model_dump(mode="json"))
    walk("serving", config.serving.model_dump(mode="json") if config.serving is not None else "follow the deployment")
    return out


def thresholds_version(config: RetrainConfig) -> str:
    """The version of the thresholds in force: a hash of the effective ``gates:`` and ``serving:``.

    taskclf's acceptance guide (§12) asks for a version bump whenever a threshold, a required
    metric, a reject bound or a personalisation condition changes; the hash changes exactly then.
    """
    import hashlib
    import json

    text = json.dumps(_threshold_fields(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def threshold_changes(before: RetrainConfig, after: RetrainConfig) -> list[str]:
    """What changed between two configurations' thresholds: ``"gates.macro_f1 0.65 -> 0.6"``."""
    a, b = _threshold_fields(before), _threshold_fields(after)
    return [f"{key} {a.get(key, '(none)')} -> {b.get(key, '(none)')}" for key in sorted(set(a) | set(b))
            if a.get(key) != b.get(key)]
