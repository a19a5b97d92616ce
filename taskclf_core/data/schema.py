"""The taskclf data model: labels, feature columns per schema version, value domains.

Everything here is a constant taken from taskclf's own layout (``spec/data.md``); the
loader, the synthetic generator, training and evaluation all read it from this module.
"""

from __future__ import annotations

from typing import Final, Literal

SchemaVersion = Literal["v1", "v2", "v3"]
SCHEMA_VERSIONS: Final[tuple[str, ...]] = ("v1", "v2", "v3")
#: What each schema version's files hold, in words, taskclf's current layout first
#: (the Retrain form's and the CLI's ``--schema`` choices).
SCHEMA_DESCRIPTIONS: Final[dict[str, str]] = {
    "v3": "taskclf today: 38 features + 261 window-title columns",
    "v2": "38 features, no user_id column in the files",
    "v1": "38 features + user_id",
}

#: The eight core labels, in the model's (alphabetical) class order.
LABELS: Final[tuple[str, ...]] = (
    "BreakIdle",
    "Build",
    "Communicate",
    "Debug",
    "Meet",
    "ReadResearch",
    "Review",
    "Write",
)
LABEL_TO_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(LABELS)}
REJECT_LABEL: Final = "Mixed/Unknown"
DEFAULT_REJECT_THRESHOLD: Final = 0.55

#: Identity / meta columns (never model features) of a v1 file, in file order.
META_COLUMNS_V1: Final[tuple[str, ...]] = (
    "user_id",
    "device_id",
    "session_id",
    "bucket_start_ts",
    "bucket_end_ts",
    "schema_version",
    "schema_hash",
    "source_ids",
)

#: The 38 core model features, in the model's column order.
CORE_FEATURES: Final[tuple[str, ...]] = (
    "app_id",
    "app_category",
    "is_browser",
    "is_editor",
    "is_terminal",
    "app_switch_count_last_5m",
    "app_foreground_time_ratio",
    "app_change_count",
    "app_dwell_time_seconds",
    "app_entropy_5m",
    "app_entropy_15m",
    "top2_app_concentration_15m",
    "idle_return_indicator",
    "keys_per_min",
    "backspace_ratio",
    "shortcut_rate",
    "clicks_per_min",
    "scroll_events_per_min",
    "mouse_distance",
    "active_seconds_keyboard",
    "active_seconds_mouse",
    "active_seconds_any",
    "max_idle_run_seconds",
    "event_density",
    "domain_category",
    "window_title_bucket",
    "title_repeat_count_session",
    "keys_per_min_rolling_5",
    "keys_per_min_rolling_15",
    "mouse_distance_rolling_5",
    "mouse_distance_rolling_15",
    "keys_per_min_delta",
    "clicks_per_min_delta",
    "mouse_distance_delta",
    "app_switch_count_last_15m",
    "hour_of_day",
    "day_of_week",
    "session_length_so_far",
)

CATEGORICAL_FEATURES: Final[tuple[str, ...]] = ("app_id", "app_category", "domain_category")
BOOL_FEATURES: Final[tuple[str, ...]] = (
    "is_browser",
    "is_editor",
    "is_terminal",
    "idle_return_indicator",
)
INT_FEATURES: Final[tuple[str, ...]] = (
    "app_switch_count_last_5m",
    "app_change_count",
    "window_title_bucket",
    "title_repeat_count_session",
    "app_switch_count_last_15m",
    "hour_of_day",
    "day_of_week",
)
#: Nullable numeric columns: null means "no collector data", not zero activity.
NULLABLE_FEATURES: Final[tuple[str, ...]] = (
    "keys_per_min",
    "backspace_ratio",
    "shortcut_rate",
    "clicks_per_min",
    "scroll_events_per_min",
    "mouse_distance",
    "active_seconds_keyboard",
    "active_seconds_mouse",
    "active_seconds_any",
    "max_idle_run_seconds",
    "event_density",
    "keys_per_min_rolling_5",
    "keys_per_min_rolling_15",
    "mouse_distance_rolling_5",
    "mouse_distance_rolling_15",
    "keys_per_min_delta",
    "clicks_per_min_delta",
    "mouse_distance_delta",
)

TITLE_SKETCH_FEATURES: Final[tuple[str, ...]] = tuple(
    [f"title_token_sketch_{i:03d}" for i in range(128)]
    + [f"title_char3_sketch_{i:03d}" for i in range(128)]
)
TITLE_SCALAR_FEATURES: Final[tuple[str, ...]] = (
    "title_char_count",
    "title_token_count",
    "title_unique_token_ratio",
    "title_digit_ratio",
    "title_separator_count",
)
TITLE_INT_FEATURES: Final[tuple[str, ...]] = (
    "title_char_count",
    "title_token_count",
    "title_separator_count",
)
V3_TITLE_FEATURES: Final[tuple[str, ...]] = TITLE_SKETCH_FEATURES + TITLE_SCALAR_FEATURES

def _file_columns(version: str) -> tuple[str, ...]:
    # Real files interleave meta and feature columns (see the fixture README).
    v1 = (
        "user_id",
        "device_id",
        "session_id",
        "bucket_start_ts",
        "bucket_end_ts",
        "schema_version",
        "schema_hash",
        "source_ids",
        "app_id",
        "app_category",
        "window_title_hash",
        *CORE_FEATURES[2:24],
        *CORE_FEATURES[24:],
    )
    if version == "v1":
        return v1
    if version == "v2":
        return v1[1:]
    return v1 + V3_TITLE_FEATURES


#: Full column list of a stored file, per schema version, in file order.
COLUMNS: Final[dict[str, tuple[str, ...]]] = {v: _file_columns(v) for v in SCHEMA_VERSIONS}

#: Model features per schema version, in the model's column order: taskclf's own
#: ``get_feature_columns`` (v1 adds ``user_id`` as the last, categorical, feature), so a
#: model we train is served by taskclf's inference unchanged.
FEATURES: Final[dict[str, tuple[str, ...]]] = {
    "v1": CORE_FEATURES + ("user_id",),
    "v2": CORE_FEATURES,
    "v3": CORE_FEATURES + V3_TITLE_FEATURES,
}

def pipeline_columns(version: str) -> tuple[str, ...]:
    """The columns a retrain reads of a version's files: keys and bucket bounds (projection),
    the version, the model's features (the rule baseline reads only core features)."""
    keys = ("user_id", "bucket_start_ts", "bucket_end_ts", "schema_version")
    return tuple(dict.fromkeys((*keys, *FEATURES[version])))


#: Categorical model features per schema version (taskclf's ``get_categorical_columns``).
CATEGORICAL_BY_VERSION: Final[dict[str, tuple[str, ...]]] = {
    "v1": CATEGORICAL_FEATURES + ("user_id",),
    "v2": CATEGORICAL_FEATURES,
    "v3": CATEGORICAL_FEATURES,
}

#: ``schema_hash`` values written by taskclf for each version.
SCHEMA_HASHES: Final[dict[str, str]] = {
    "v1": "4077fe0dba70",
    "v2": "a15f4751a947",
    "v3": "7f29b4b8795e",
}

APP_CATEGORIES: Final[tuple[str, ...]] = (
    "editor",
    "terminal",
    "browser",
    "chat",
    "email",
    "meeting",
    "docs",
    "design",
    "devtools",
    "media",
    "file_manager",
    "utilities",
    "project_mgmt",
    "other",
    "lockscreen",
)
DOMAIN_CATEGORIES: Final[tuple[str, ...]] = (
    "search",
    "docs",
    "social",
    "video",
    "code_hosting",
    "news",
    "email_web",
    "productivity",
    "chat",
    "design",
    "other",
    "unknown",
    "non_browser",
)

#: Inclusive value ranges checked by the loader: column -> (min, max); None is unbounded.
VALUE_RANGES: Final[dict[str, tuple[float | None, float | None]]] = {
    "app_foreground_time_ratio": (0.0, 1.0),
    "top2_app_concentration_15m": (0.0, 1.0),
    "backspace_ratio": (0.0, 1.0),
    "app_switch_count_last_5m": (0, None),
    "app_change_count": (0, None),
    "app_switch_count_last_15m": (0, None),
    "app_dwell_time_seconds": (0.0, None),
    "app_entropy_5m": (0.0, None),
    "app_entropy_15m": (0.0, None),
    "keys_per_min": (0.0, None),
    "shortcut_rate": (0.0, None),
    "clicks_per_min": (0.0, None),
    "scroll_events_per_min": (0.0, None),
    "mouse_distance": (0.0, None),
    "active_seconds_keyboard": (0.0, 60.0),
    "active_seconds_mouse": (0.0, 60.0),
    "active_seconds_any": (0.0, 60.0),
    "max_idle_run_seconds": (0.0, None),
    "event_density": (0.0, None),
    "window_title_bucket": (0, None),
    "title_repeat_count_session": (0, None),
    "keys_per_min_rolling_5": (0.0, None),
    "keys_per_min_rolling_15": (0.0, None),
    "mouse_distance_rolling_5": (0.0, None),
    "mouse_distance_rolling_15": (0.0, None),
    "hour_of_day": (0, 23),
    "day_of_week": (0, 6),
    "session_length_so_far": (0.0, None),
    "title_char_count": (0, None),
    "title_token_count": (0, None),
    "title_unique_token_ratio": (0.0, 1.0),
    "title_digit_ratio": (0.0, 1.0),
    "title_separator_count": (0, None),
}

BUCKET_SECONDS: Final = 60
PRIMARY_KEY: Final[tuple[str, str]] = ("user_id", "bucket_start_ts")

#: Label span columns (parquet and CSV), required first.
SPAN_REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("start_ts", "end_ts", "label", "provenance")
SPAN_OPTIONAL_COLUMNS: Final[tuple[str, ...]] = ("user_id", "confidence", "extend_forward")
SPAN_COLUMNS: Final[tuple[str, ...]] = SPAN_REQUIRED_COLUMNS + SPAN_OPTIONAL_COLUMNS
