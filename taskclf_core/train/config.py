"""The retrain configuration (``configs/retrain.yaml``): fields, defaults, strict loading."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskclf_core.access.policy import AccessPolicy
from taskclf_core.errors import ConfigError, RegistryError, describe_validation_error, show_value
from taskclf_core.fs.atomic import write_text_atomic
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
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: the config file is larger than {MAX_CONFIG_BYTES:,} bytes; a retrain config is a few "
            "hundred bytes (is this the right file?)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read the config file (not UTF-8 text: byte {exc.start + 1})") from None


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


def load_retrain_config_or_defaults(path: Path) -> tuple[RetrainConfig, bool]:
    """The config at ``path``, or the reference defaults when no file is there.

    A fresh home has no ``configs/retrain.yaml``: every command then runs with the
    defaults (and says so) instead of failing. A file that exists but is broken (also a
    dangling symlink) is still an error.

    Returns:
        ``(config, used_defaults)``; ``used_defaults`` is true when ``path`` does not exist.

    Raises:
        ConfigError: the file exists but cannot be read or is invalid.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return RetrainConfig.model_validate({}), True
    return load_retrain_config(path), False


#: What ``taskclf init`` writes: the reference defaults, one comment per key
#: (the same values as ``configs/retrain.yaml`` in the project folder).
DEFAULT_CONFIG_YAML = """\
# Retrain configuration for taskclf (read by `taskclf train ...` and the app).
# Without this file every command uses these reference defaults and says so;
# `taskclf init` writes this file. Unknown keys, keys given twice, wrong types and
# out-of-range values are refused with a clear error.

# Days between global retrains; a retrain is due when the newest promoted model is
# at least this old (or there is none). 0 = always due.
global_retrain_cadence_days: 7

# Days between per-user calibrator store updates (checked against <store>/store.json).
calibrator_update_cadence_days: 7

# Days of data (ending today, UTC) a retrain reads from a data directory by default.
data_lookback_days: 30

# Max allowed macro-F1 drop of the challenger below the champion, in [0, 1]
# (gate macro_f1_no_regression: challenger - champion >= -tolerance).
regression_tolerance: 0.02

# The challenger must beat the rule baseline on macro-F1 (gate baseline_improvement).
require_baseline_improvement: true

# Promote at once when every gate passes; when false a person signs off in the app
# or with `taskclf train promote`.
auto_promote: false

# Margin by which the challenger's macro-F1 must exceed the rule baseline's
# (baseline_improvement passes when challenger - baseline > min_improvement), in [0, 1].
min_improvement: 0.0

train_params:
  # LightGBM boosting rounds.
  num_boost_round: 100
  # Class weight strategy: balanced (n / (k * n_class)) or none.
  class_weight: balanced
  # Seed for LightGBM; the same data and config give a byte-identical model.txt.
  seed: 0

# Thresholds of the acceptance checks and candidate gates (inclusive); the reference
# values are shown. A run records the thresholds it was judged by.
gates:
  # Challenger macro-F1 at least (acceptance check macro_f1).
  macro_f1: 0.65
  # Challenger weighted-F1 at least (acceptance check weighted_f1).
  weighted_f1: 0.7
  # BreakIdle precision at least (gate breakidle_precision); 0 asks for nothing.
  breakidle_precision: 0.95
  # BreakIdle recall at least (acceptance check breakidle_recall).
  breakidle_recall: 0.9
  # Every class's precision at least (gate no_class_below_50_precision).
  class_precision_floor: 0.5
  # Share of windows rejected as Mixed/Unknown (top probability below 0.55) at least
  # this (check reject_rate_bounds) ...
  reject_rate_min: 0.05
  # ... and at most this.
  reject_rate_max: 0.3
  # Macro-F1 on users seen in training (only when users are held out).
  seen_user_f1: 0.7
  # Macro-F1 on held-out users (only when users are held out).
  unseen_user_f1: 0.6
  # A calibrator refit passes when its Brier score is at least this share better than the
  # raw model's (taskclf's acceptance guide, section 3).
  calibration_brier_improvement: 0.05

# Where a retrain runs (README "Running on a Dask cluster"); `taskclf train retrain
# --engine/--scheduler` override engine and scheduler for one run.
compute:
  # local: this process; dask: the same retrain on a Dask cluster.
  engine: local
  # For dask: local (a cluster started on this machine) or a scheduler address
  # tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786) whose workers see the data directory at
  # the same path; other schemes are refused. The Dask engine is an optional install:
  # pip install -e '.[dask]'.
  scheduler: local
  # Worker processes of a local cluster; 0 = one per core.
  workers: 0
  # Memory limit per worker of a local cluster (e.g. 4GB); auto shares the machine.
  worker_memory: auto
  # Seconds to connect: reach the scheduler, its handshake and first reply, and a first
  # worker; a listener that is not a Dask scheduler fails the run within this.
  connect_timeout_s: 10
  # Seconds the scheduler may leave a call unanswered during a run (it is asked every
  # few seconds) before the run fails.
  call_timeout_s: 60
  # Minutes a LightGBM worker waits for a lost one before the fit fails.
  fit_timeout_minutes: 5
  # Seconds a task waits for a lost worker before the run fails.
  no_workers_timeout_s: 30

# Who may do what when the console is served to a team (sign-in configured, `make serve`;
# see README "Serving the console to a team"): emails or @domain patterns. Signed-in
# people listed in neither are viewers. Local mode (`make run`) and the CLI check no roles.
# A person is their verified email, compared case- and look-alike-insensitively.
access:
  # May promote and roll back.
  approvers: []
  # May start and cancel retrains.
  operators: []
  # Sign-offs from different approvers a promotion or a rollback needs (2 = the two-person
  # rule; at most the number of approvers listed). The CLI counts once per OS user.
  required_approvals: 1
  # OS user -> email: whose CLI approvals are whose (e.g. {alice: alice@example.com}), so
  # one person's browser and CLI approvals count once.
  cli_users: {}
  # Hours a sign-in lasts; "Sign out" ends all of that person's sessions at once.
  session_hours: 8
  # 0 = off; N = a sign-off needs a sign-in at most N minutes old (asked with prompt=login).
  signoff_reauth_minutes: 0
  # Days a pending approval (the first of two) waits for the next; then it is void, noted
  # on History and announced (event approval_expired). Fractions of a day are allowed.
  approval_expiry_days: 7

# How a challenger is deployed in taskclf: models/inference_policy.json (model + calibrator
# store + reject threshold). Without this section (the default) a challenger follows the
# current deployment: a policy with a calibrator gets a new policy with a calibrator refitted
# for the challenger (a tuned threshold is tuned again); no policy stays no policy. Uncomment
# it to choose. Calibrators and thresholds are fitted on the validation split.
# serving:
#   # tune (taskclf's tune-reject: grid 0.10-0.95, reject rate in [0.05, 0.30], best accuracy
#   # on accepted minutes) or a number in (0, 1].
#   reject_threshold: tune
#   # none, temperature or isotonic (as taskclf's `train calibrate`).
#   calibration: temperature
#   # Also tune one threshold per eligible user (only taskclf's online predictor applies them).
#   per_user_thresholds: false
#   # Who gets a calibrator (and threshold) of their own: taskclf's bar, on validation rows.
#   eligibility:
#     # Validation minutes at least.
#     min_windows: 200
#     # Distinct UTC days at least.
#     min_days: 3
#     # Distinct labels at least.
#     min_labels: 3

# Who is told what (README "Notifications"). Without this section nothing is sent. Secrets
# never go here: a webhook's signing secret and Apprise URLs (they carry credentials) go in
# .streamlit/secrets.toml under [notify.<target name>]. Uncomment it to use it.
# notify:
#   # The console's address as people open it; events link to <base_url>/Review?run=...
#   base_url: https://retrain.example.com
#   # Seconds one delivery attempt may take.
#   timeout_seconds: 5
#   # Attempts per delivery (1 = no retry).
#   attempts: 3
#   # Seconds before the first retry; each next retry waits twice as long.
#   backoff_seconds: 1
#   # Deliveries waiting per target; beyond it a new one is recorded as dropped.
#   queue_size: 100
#   # A command (CLI, retrain job) waits at most this at exit for its deliveries.
#   exit_wait_seconds: 30
#   # Each target: name, kind (webhook | apprise), url (webhooks only), the events it wants:
#   # run_awaiting_signoff, approval_recorded, approval_expired, promoted, rolled_back,
#   # run_rejected, run_failed, retrain_due, calibrator_due.
#   targets:
#     # A signed JSON webhook; its secret: [notify.ops-webhook] secret = "..." in the secrets file.
#     - {name: ops-webhook, kind: webhook, url: https://hooks.example.com/taskclf, events: [promoted, rolled_back, run_failed]}
#     # Chat or email through Apprise; its URLs: [notify.team-chat] urls = ["..."] in the secrets file.
#     - {name: team-chat, kind: apprise, events: [run_awaiting_signoff, approval_recorded, approval_expired, retrain_due]}
"""


def write_default_config(path: Path) -> Path:
    """Write :data:`DEFAULT_CONFIG_YAML` to ``path`` (atomically), never over an existing file.

    Raises:
        ConfigError: ``path`` already exists, or cannot be written.
    """
    path = Path(path)
    if os.path.lexists(path):
        raise ConfigError(f"{path} already exists; not overwritten (edit it, or delete it and run init again)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, DEFAULT_CONFIG_YAML)
    except RegistryError as exc:  # the atomic write names the path and the reason
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def config_to_yaml(config: RetrainConfig) -> str:
    """The effective configuration as YAML (stored with every run)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
