"""Synthetic taskclf teams: feature rows (schema v1) and label spans, in named scenarios.

The generator exercises the whole retrain workflow without a collector. A team is
several users working every day of a date range: a few sessions a day separated by
away gaps (no rows), each session a sequence of task *blocks* (one label each, of a
plausible length). Every minute of a block is one feature row whose app, keyboard and
mouse behaviour come from the block label's profile (``_PROFILES``), modulated by the
user, the block and the minute. Each labelled block becomes one label span; some blocks
stay unlabelled and some span edges are off the minute, so projection has real work.

Difficulty comes from the data, not from tricks in the pipeline: neighbouring tasks
share apps and input habits (Build/Debug, Review/ReadResearch, Write/Communicate) and
each block leans a little towards its neighbour; a minute now and then shows another
task (a quick chat); some blocks are mixed work that one label cannot describe (what the
reject option is for); a few spans carry the neighbour's label; and the input collector
drops out now and then (null input columns). ``default`` passes every acceptance check
of ``spec/workflow.md``; the other scenarios break one stage on purpose.

Everything is vectorised with numpy (Python loops run over users, never over rows) and
seeded, so the same arguments give byte-identical frames.
"""

from __future__ import annotations

import gc
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from taskclf_core.data import schema
from taskclf_core.errors import ConfigError

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_USERS",
    "SCENARIOS",
    "Scenario",
    "SyntheticTeam",
    "generate_team",
]

DEFAULT_USERS: Final = 5
DEFAULT_DAYS: Final = 30
PROVENANCE: Final = "synthetic"
SOURCE_ID: Final = "aw-watcher-window"


@dataclass(frozen=True)
class Scenario:
    """A named preset of the generator; ``description`` is shown in the app and ``--help``."""

    name: str
    description: str
    #: Share of short (<= 30 min) blocks labelled as the neighbouring task (slips).
    label_noise: float = 0.03
    #: Share of spans relabelled to a uniformly random label, BreakIdle included.
    random_label_noise: float = 0.0
    #: Share of a block's minutes that show another task's behaviour (a quick chat ...).
    interruption_rate: float = 0.05
    #: Share of desk-work blocks that are a bit of everything (each minute another
    #: task, many app switches) yet get one label: the reason a reject option exists.
    mixed_work: float = 0.15
    #: Other blocks lean towards their neighbour task by up to this share (uniform).
    lean: float = 0.1
    #: Share of task blocks that nobody labelled (their rows stay unlabelled).
    unlabelled_fraction: float = 0.08
    #: Neighbouring tasks swap habits early in the range, fading out by 80 % of it.
    drift: bool = False
    #: Keep only this many spans, each at most 10 minutes long (None keeps them all).
    max_labelled_spans: int | None = None


SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario(
            "default", "A realistic team whose challenger passes every acceptance check and gate."
        ),
        Scenario(
            "drift",
            "Habits shift: early weeks swap neighbouring tasks' behaviour, so the challenger "
            "falls far below a champion trained on default data.",
            drift=True,
        ),
        Scenario(
            "noisy",
            "Heavy label noise (40 % of spans get a random label), so the candidate gates fail.",
            random_label_noise=0.40,
        ),
        Scenario(
            "sparse",
            "Almost nothing labelled (under 100 windows), so the run stops early.",
            max_labelled_spans=8,
        ),
    )
}


@dataclass(frozen=True)
class SyntheticTeam:
    """A generated team: feature rows (schema v1, in-memory conventions) and label spans."""

    features: pd.DataFrame
    spans: pd.DataFrame
    scenario: str
    seed: int
    users: int
    date_from: date
    date_to: date


# --------------------------------------------------------------------------------- apps
#: app_id -> app_category; browsers, editors and terminals get their flags from it.
_APPS: Final[dict[str, str]] = {
    "com.microsoft.VSCode": "editor",
    "com.jetbrains.intellij": "editor",
    "com.apple.Terminal": "terminal",
    "com.googlecode.iterm2": "terminal",
    "com.google.Chrome": "browser",
    "org.mozilla.firefox": "browser",
    "com.tinyspeck.slackmacgap": "chat",
    "com.apple.mail": "email",
    "us.zoom.xos": "meeting",
    "com.microsoft.teams2": "meeting",
    "com.microsoft.Word": "docs",
    "com.apple.Notes": "docs",
    "com.figma.Desktop": "design",
    "com.postmanlabs.mac": "devtools",
    "com.docker.docker": "devtools",
    "com.spotify.client": "media",
    "com.apple.finder": "file_manager",
    "com.apple.ActivityMonitor": "utilities",
    "com.linear": "project_mgmt",
    "com.apple.Preview": "other",
    "com.apple.loginwindow": "lockscreen",
}
_APP_IDS: Final = tuple(_APPS)
_APP_CATEGORY: Final = np.array([schema.APP_CATEGORIES.index(c) for c in _APPS.values()])
_IS_BROWSER: Final = np.array([c == "browser" for c in _APPS.values()])
_IS_EDITOR: Final = np.array([c == "editor" for c in _APPS.values()])
_IS_TERMINAL: Final = np.array([c == "terminal" for c in _APPS.values()])
_NON_BROWSER: Final = schema.DOMAIN_CATEGORIES.index("non_browser")


# ----------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class _Profile:
    """How one task looks: block length, share of blocks, input means, app and domain mix."""

    minutes: tuple[int, int]  # block length range (log-uniform)
    share: float  # relative frequency of blocks
    keys: float  # keys per minute
    shortcuts: float  # shortcuts per minute
    backspace: float  # backspace ratio
    clicks: float  # clicks per minute
    scroll: float  # scroll events per minute
    mouse: float  # mouse distance (px) per minute
    still: float  # probability that a minute has no keyboard input at all
    switches: float  # extra app changes per minute (Poisson mean)
    apps: dict[str, float]  # relative weights
    domains: dict[str, float]  # for browser minutes


# This table is the difficulty dial. Neighbours share apps and sit close on the inputs
# (Build/Debug: editors and terminals, Debug clicks and searches more; Review/ReadResearch:
# browsers, Review on code hosting with a few comments; Write/Communicate: both type a
# lot, in documents vs chat and mail). BreakIdle is kept unmistakable because the gates
# demand 0.95 precision and 0.90 recall on it.
_PROFILES: Final[dict[str, _Profile]] = {
    #                 minutes  share keys  sc   bs    clk scr  mouse still sw
    "Build": _Profile((20, 75), 1.1, 80, 2.6, 0.08, 5, 4, 800, 0.05, 0.25,
        {"com.microsoft.VSCode": 4, "com.jetbrains.intellij": 2, "com.apple.Terminal": 2.5,
         "com.googlecode.iterm2": 1, "com.google.Chrome": 0.6, "com.docker.docker": 0.5,
         "com.apple.finder": 0.2},
        {"code_hosting": 3, "docs": 3, "search": 2, "unknown": 1}),
    "Debug": _Profile((15, 60), 1.1, 40, 1.5, 0.13, 12, 10, 1500, 0.10, 0.40,
        {"com.microsoft.VSCode": 3, "com.jetbrains.intellij": 1.5, "com.apple.Terminal": 2,
         "com.googlecode.iterm2": 0.5, "com.google.Chrome": 1.5, "com.postmanlabs.mac": 1,
         "com.apple.ActivityMonitor": 0.3},
        {"search": 4, "docs": 3, "code_hosting": 2, "unknown": 1}),
    "Review": _Profile((10, 45), 0.8, 14, 0.9, 0.07, 12, 20, 1700, 0.25, 0.35,
        {"com.google.Chrome": 4, "org.mozilla.firefox": 1, "com.microsoft.VSCode": 1.5,
         "com.linear": 0.8, "com.tinyspeck.slackmacgap": 0.5},
        {"code_hosting": 7, "productivity": 1, "docs": 1, "unknown": 1}),
    "ReadResearch": _Profile((10, 50), 0.8, 5, 0.4, 0.05, 7, 26, 1500, 0.45, 0.25,
        {"com.google.Chrome": 4, "org.mozilla.firefox": 1.5, "com.apple.Preview": 1,
         "com.apple.Notes": 0.4, "com.microsoft.VSCode": 0.3},
        {"docs": 4, "search": 3, "news": 1.5, "code_hosting": 1, "other": 1, "unknown": 1}),
    "Write": _Profile((20, 75), 0.8, 95, 0.8, 0.13, 4, 4, 500, 0.05, 0.15,
        {"com.microsoft.Word": 3, "com.apple.Notes": 2, "com.google.Chrome": 1.2,
         "com.microsoft.VSCode": 0.8, "com.apple.mail": 0.6, "com.figma.Desktop": 0.3},
        {"productivity": 5, "docs": 2, "unknown": 1}),
    "Communicate": _Profile((10, 40), 1.4, 55, 0.6, 0.10, 12, 8, 1100, 0.15, 0.60,
        {"com.tinyspeck.slackmacgap": 4.5, "com.apple.mail": 3, "com.google.Chrome": 0.8,
         "com.linear": 0.8, "com.microsoft.teams2": 0.4},
        {"email_web": 4, "chat": 3, "productivity": 1, "unknown": 1}),
    "Meet": _Profile((15, 60), 0.6, 4, 0.2, 0.05, 3, 2, 450, 0.55, 0.10,
        {"us.zoom.xos": 5, "com.microsoft.teams2": 2.5, "com.google.Chrome": 0.6,
         "com.tinyspeck.slackmacgap": 0.5},
        {"video": 4, "productivity": 1, "unknown": 1}),
    "BreakIdle": _Profile((5, 20), 0.8, 0.3, 0.0, 0.0, 0.2, 0.3, 25, 0.90, 0.02,
        {"com.apple.loginwindow": 6, "com.spotify.client": 1, "com.google.Chrome": 1,
         "com.apple.finder": 0.3},
        {"video": 3, "social": 3, "news": 2, "unknown": 1}),
}  # fmt: skip

_N_LABELS: Final = len(schema.LABELS)
_BREAK: Final = schema.LABEL_TO_INDEX["BreakIdle"]
_MEET: Final = schema.LABEL_TO_INDEX["Meet"]
_COMMUNICATE: Final = schema.LABEL_TO_INDEX["Communicate"]
#: Each task's neighbour (by label index): whose behaviour it leans to and is interrupted
#: by, whose label an annotator's slip gives it, whose habits it takes in ``drift``.
_NEIGHBOUR: Final = np.array(
    [
        schema.LABEL_TO_INDEX[name]
        for name in (
            "BreakIdle",  # BreakIdle: stays itself
            "Debug",  # Build
            "Write",  # Communicate
            "Build",  # Debug
            "Communicate",  # Meet
            "Review",  # ReadResearch
            "ReadResearch",  # Review
            "Communicate",  # Write
        )
    ]
)
#: In ``drift`` the three pairs swap; Meet and BreakIdle keep their habits.
_DRIFT_SWAP: Final = np.where(np.arange(_N_LABELS) == _MEET, _MEET, _NEIGHBOUR)
#: Desk-work tasks: what mixed-work blocks are made of.
_WORK: Final = np.array([i for i in range(_N_LABELS) if i not in (_BREAK, _MEET)])


def _per_label(attr: str) -> np.ndarray:
    return np.array([float(getattr(_PROFILES[label], attr)) for label in schema.LABELS])


def _mix(attr: str, names: tuple[str, ...]) -> np.ndarray:
    rows = np.zeros((_N_LABELS, len(names)))
    for i, label in enumerate(schema.LABELS):
        for name, weight in getattr(_PROFILES[label], attr).items():
            rows[i, names.index(name)] = weight
    return rows / rows.sum(axis=1, keepdims=True)


_SHARE: Final = _per_label("share")
_MIN_LO: Final = np.array([_PROFILES[label].minutes[0] for label in schema.LABELS], dtype=float)
_MIN_HI: Final = np.array([_PROFILES[label].minutes[1] for label in schema.LABELS], dtype=float)
_APP_MIX: Final = _mix("apps", _APP_IDS)
_DOMAIN_MIX: Final = _mix("domains", schema.DOMAIN_CATEGORIES)

# Noise (sd of log): a user's habits scale a task's means, a block wanders around them,
# and every minute varies again.
_USER_SD: Final = 0.20
_BLOCK_SD: Final = 0.15
_MINUTE_SD: Final = 0.40
_SLOTS: Final = 48  # blocks drawn per user-day, more than a working day can hold


# ------------------------------------------------------------------------------ helpers
def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a cheap, stable 64-bit hash of integer arrays."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _salted_hash(keys: np.ndarray, salt: str) -> np.ndarray:
    return _mix64(keys.astype(np.uint64) ^ np.uint64(zlib.crc32(salt.encode()) << 20))


def _hex12(hashes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """12-hex-char strings of 64-bit hashes as (distinct strings, index per element)."""
    uniq, inverse = np.unique(hashes, return_inverse=True)
    return [f"{int(v) >> 16:012x}" for v in uniq], inverse


def _choose(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category per element; ``probs[rows[i]]`` is element i's distribution."""
    n_rows, k = probs.shape
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    # Offsetting each row by its index makes one sorted array: one searchsorted for all.
    flat = (np.arange(n_rows)[:, None] + cum).ravel()
    pos = np.searchsorted(flat, rows + rng.random(rows.size), side="right")
    return np.minimum(pos - rows * k, k - 1)


def _rolling_mean(values: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    """Mean of the non-null values of the last ``width`` rows, none before ``start``."""
    idx = np.arange(values.size)
    lo = np.maximum(idx - width + 1, start)
    known = ~np.isnan(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(known, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(known)])
    n = counts[idx + 1] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[idx + 1] - sums[lo]) / n, np.nan)


def _rolling_sum(values: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    idx = np.arange(values.size)
    lo = np.maximum(idx - width + 1, start)
    sums = np.concatenate([[0], np.cumsum(values)])
    return sums[idx + 1] - sums[lo]


def _utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex((seconds * 1_000_000).astype("datetime64[us]")).tz_localize("UTC")


def _text(vocabulary: list[str] | tuple[str, ...] | np.ndarray, codes: np.ndarray) -> pd.Series:
    """``vocabulary[codes]`` as a pandas ``str`` column, gathered in Arrow: no Python
    string object per row (ten times faster than converting an object array)."""
    taken = pa.array(list(vocabulary), type=pa.large_string()).take(pa.array(codes))
    return pd.Series(pd.array(taken, dtype="str"))


def _one_element_lists(value: str, n: int) -> pd.Series:
    """An object column of ``[value]`` lists, one list per row (a caller may mutate one)."""
    # Hundreds of thousands of small lists trigger the cyclic garbage collector again and
    # again (four times the cost); they cannot form cycles, so pause it meanwhile.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pd.Series([[value] for _ in range(n)], dtype=object)
    finally:
        if enabled:
            gc.enable()


def _resolve_range(
    days: int | None, date_from: date | None, date_to: date | None
) -> tuple[date, date]:
    if days is not None and days < 1:
        raise ConfigError(f"days must be a whole number >= 1; got {days}")
    if date_from is not None and date_to is not None:
        if date_from > date_to:
            raise ConfigError(f"date_from must not be after date_to; got {date_from} > {date_to}")
        given = (date_to - date_from).days + 1
        if days is not None and given != days:
            raise ConfigError(
                f"days={days} contradicts {date_from}..{date_to} ({given} days); give the dates or days"
            )
        return date_from, date_to
    span = timedelta(days=(days if days is not None else DEFAULT_DAYS) - 1)
    if date_from is not None:
        return date_from, date_from + span
    end = date_to if date_to is not None else datetime.now(UTC).date()
    return end - span, end


# -------------------------------------------------------------------------------- users
@dataclass(frozen=True)
class _Users:
    """Per-user habits, seeded per user index so a user keeps them whatever the team size."""

    ids: np.ndarray  # user_id strings (object)
    start_minute: np.ndarray  # working day start, minutes after 00:00 UTC
    label_share: np.ndarray  # (users, labels) block frequencies
    app_mix: np.ndarray  # (users * labels, apps) app distribution per user and task
    input_scale: np.ndarray  # (users, 4) multipliers: keys, clicks, scroll, mouse


def _draw_users(seed: int, users: int) -> _Users:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "https://taskclf.invalid/synthetic")
    ids, start, share, apps, scale = [], [], [], [], []
    for i in range(users):
        # Seeded by (seed, user) only, not by scenario: the same people in every
        # scenario, so a champion trained on ``default`` meets familiar users in ``drift``.
        rng = np.random.default_rng([seed, i, 0x05E4])
        ids.append(str(uuid.uuid5(namespace, f"{seed}:{i}")))
        start.append(rng.integers(5 * 60, 10 * 60 + 1))
        share.append(_SHARE * rng.lognormal(0.0, 0.3, _N_LABELS))
        # App taste (VS Code or IntelliJ, Chrome or Firefox ...) applies across tasks.
        mix = _APP_MIX * rng.lognormal(0.0, 0.6, len(_APP_IDS))
        apps.append(mix / mix.sum(axis=1, keepdims=True))
        scale.append(rng.lognormal(0.0, _USER_SD, 4))
    # Users in id order, so rows come out in primary-key order (user_id, bucket_start_ts).
    order = np.argsort(np.array(ids))
    app_mix = np.stack(apps)[order].reshape(-1, len(_APP_IDS))
    return _Users(
        np.array(ids, dtype=object)[order],
        np.array(start)[order],
        (np.array(share) / np.sum(share, axis=1, keepdims=True))[order],
        app_mix,
        np.array(scale)[order],
    )


# ------------------------------------------------------------------------------- blocks
@dataclass(frozen=True)
class _Blocks:
    """Task blocks and away gaps of every user-day, in (user, time) order."""

    user: np.ndarray
    label: np.ndarray  # the task (label index)
    behaviour: np.ndarray  # whose habits the block shows (differs from label in drift)
    away: np.ndarray  # an away gap: no rows
    start: np.ndarray  # minutes since the epoch
    minutes: np.ndarray
    session: np.ndarray  # global session number
    user_day: np.ndarray  # global (user, day) number
    day_start: np.ndarray  # per (user, day): its first minute since the epoch


def _draw_blocks(
    rng: np.random.Generator, cfg: Scenario, people: _Users, first: date, n_days: int
) -> _Blocks:
    users = people.start_minute.size
    n_ud = users * n_days
    ud_user = np.repeat(np.arange(users), n_days)
    ud_day = np.tile(np.arange(n_days), users)
    label = _choose(rng, people.label_share, np.repeat(ud_user, _SLOTS)).reshape(n_ud, _SLOTS)
    lo, hi = _MIN_LO[label], _MIN_HI[label]
    minutes = np.exp(rng.uniform(np.log(lo), np.log(hi + 1))).astype(np.int64)
    # Away gaps (lunch, errands) end a session; a user-day never starts with one.
    away = rng.random((n_ud, _SLOTS)) < 0.12
    away[:, 0] = False
    minutes = np.where(away, rng.integers(15, 61, (n_ud, _SLOTS)), minutes)
    # Working days of 8-9 hours: the block that crosses the end is cut short.
    day_len = rng.integers(480, 541, n_ud)
    ends = np.cumsum(minutes, axis=1)
    starts = ends - minutes
    minutes = np.minimum(ends, day_len[:, None]) - starts
    epoch_day = (first - date(1970, 1, 1)).days + ud_day
    day_start = epoch_day * 1440 + people.start_minute[ud_user] + rng.integers(-30, 31, n_ud)
    session = np.arange(n_ud)[:, None] * _SLOTS + np.cumsum(away, axis=1)

    ud, slot = np.nonzero(starts < day_len[:, None])  # row-major: user, day, time
    b_label = label[ud, slot]
    behaviour = b_label
    if cfg.drift:
        # Neighbours swap habits early on; the swap fades out between 50 % and 80 % of
        # the range, so the last days (the evaluation rows) look like ``default``.
        position = (ud_day[ud] + 0.5) / n_days
        swapped = rng.random(b_label.size) < np.clip((0.8 - position) / 0.3, 0.0, 1.0)
        behaviour = np.where(swapped, _DRIFT_SWAP[b_label], b_label)
    return _Blocks(
        user=ud_user[ud],
        label=b_label,
        behaviour=behaviour,
        away=away[ud, slot],
        start=day_start[ud] + starts[ud, slot],
        minutes=minutes[ud, slot],
        session=session[ud, slot],
        user_day=ud,
        day_start=day_start,
    )


# ------------------------------------------------------------------------------ windows
def _feature_frame(
    rng: np.random.Generator, cfg: Scenario, people: _Users, blocks: _Blocks, seed: int
) -> pd.DataFrame:
    """One feature row per minute of every task block (away gaps have no rows)."""
    counts = np.where(blocks.away, 0, blocks.minutes)
    block = np.repeat(np.arange(counts.size), counts)
    n = block.size
    rows = np.arange(n)
    offset = rows - (np.cumsum(counts) - counts)[block]  # minutes into the block
    minute = blocks.start[block] + offset
    user = blocks.user[block]
    session = blocks.session[block]
    new_session = np.r_[True, session[1:] != session[:-1]]
    session_start = np.maximum.accumulate(np.where(new_session, rows, 0))

    # --- whose behaviour each minute shows ----------------------------------------------
    b_behaviour = blocks.behaviour
    b_lean = rng.uniform(0.0, cfg.lean, counts.size) * (b_behaviour != _BREAK)
    b_mixed = (rng.random(counts.size) < cfg.mixed_work) & np.isin(b_behaviour, _WORK)
    mixed = b_mixed[block]
    behaviour = b_behaviour[block]
    interrupt = (rng.random(n) < cfg.interruption_rate) & (behaviour != _BREAK) & ~mixed
    # Interruptions are the neighbour's work or, a fifth of the time, a quick chat.
    to_chat = (rng.random(n) < 0.2) & (behaviour != _COMMUNICATE)
    behaviour = np.where(
        interrupt, np.where(to_chat, _COMMUNICATE, _NEIGHBOUR[behaviour]), behaviour
    )
    behaviour = np.where(mixed, _WORK[rng.integers(0, _WORK.size, n)], behaviour)
    idle = behaviour == _BREAK
    lean = np.where(interrupt | mixed, 0.0, b_lean[block])
    neighbour = _NEIGHBOUR[behaviour]

    # --- apps: a block has a main app; its other minutes draw from the task's mix -------
    b_app = _choose(rng, people.app_mix, blocks.user * _N_LABELS + b_behaviour)
    looks_like = np.where(rng.random(n) < lean, neighbour, behaviour)
    app = _choose(rng, people.app_mix, user * _N_LABELS + looks_like)
    app = np.where((rng.random(n) < 0.6) & ~interrupt & ~mixed, b_app[block], app)
    browser = _IS_BROWSER[app]
    domain = np.where(browser, _choose(rng, _DOMAIN_MIX, looks_like), _NON_BROWSER)

    # --- input: task mean x user habit x block wander x minute noise (log-normal) -------
    scale = people.input_scale[user] * np.exp(rng.normal(0.0, _BLOCK_SD, (counts.size, 4))[block])

    def typical(attr: str) -> np.ndarray:
        # Geometric interpolation between the task's mean and its neighbour's.
        own, other = _per_label(attr)[behaviour], _per_label(attr)[neighbour]
        return np.where(lean > 0, own ** (1 - lean) * other**lean, own)

    def draw(attr: str, col: int) -> np.ndarray:
        return np.round(typical(attr) * scale[:, col] * rng.lognormal(0.0, _MINUTE_SD, n), 1)

    still = rng.random(n) < typical("still")
    keys = np.where(still, 0.0, draw("keys", 0))
    shortcuts = np.where(still, 0.0, typical("shortcuts") * rng.lognormal(0.0, 0.4, n))
    backspace = np.where(
        still, 0.0, np.clip(typical("backspace") * rng.lognormal(0.0, 0.3, n), 0, 0.6)
    )
    clicks = draw("clicks", 1) * (rng.random(n) > 0.1)
    scroll = draw("scroll", 2) * (rng.random(n) > 0.1)
    mouse = draw("mouse", 3)
    kb_active = np.minimum(60.0, 60 * (1 - np.exp(-keys / 35)) * rng.uniform(0.6, 1.0, n))
    ms_activity = 2 * clicks + scroll + mouse / 150
    ms_active = np.minimum(60.0, 60 * (1 - np.exp(-ms_activity / 25)) * rng.uniform(0.6, 1.0, n))
    overlap = 0.3 * np.minimum(kb_active, ms_active) * rng.random(n)
    any_active = np.minimum(60.0, np.maximum(kb_active, ms_active) + overlap)
    # Idle runs grow through a break (real files hold values far above 60 s); at work
    # they are a share of the minute's idle time.
    idle_run = (60 - any_active) * np.where(
        idle, rng.uniform(0.85, 1.0, n), rng.uniform(0.2, 0.9, n)
    )
    idle_run += np.where(idle, 60.0 * offset, 0.0)
    density = (keys + clicks + scroll) / np.maximum(any_active, 1.0)

    # Collector gaps: on a fifth of the user-days the input watcher drops out for 10-45
    # minutes while the person works. Breaks are spared: a model that meets lockscreen
    # minutes without input only a few times cannot learn them, and the gates demand
    # 0.90 recall on BreakIdle.
    n_ud = blocks.day_start.size
    user_day = blocks.user_day[block]
    gap_start = rng.integers(0, 480, n_ud)[user_day]
    gap_len = np.where(rng.random(n_ud) < 0.2, rng.integers(10, 46, n_ud), 0)[user_day]
    since_day_start = minute - blocks.day_start[user_day]
    gap = (since_day_start >= gap_start) & (since_day_start < gap_start + gap_len)
    gap &= blocks.label[block] != _BREAK
    inputs = {
        "keys_per_min": keys,
        "backspace_ratio": backspace,
        "shortcut_rate": shortcuts,
        "clicks_per_min": clicks,
        "scroll_events_per_min": scroll,
        "mouse_distance": mouse,
        "active_seconds_keyboard": kb_active,
        "active_seconds_mouse": ms_active,
        "active_seconds_any": any_active,
        "max_idle_run_seconds": idle_run,
        "event_density": density,
    }
    inputs = {name: np.where(gap, np.nan, np.round(v, 3)) for name, v in inputs.items()}

    # --- context: app switching, rolling input, titles, session ------------------------
    changed = np.r_[False, app[1:] != app[:-1]] & ~new_session
    change_count = changed + rng.poisson(typical("switches") + mixed)
    switch_5 = _rolling_sum(change_count, session_start, 5)
    switch_15 = _rolling_sum(change_count, session_start, 15)
    app_run_start = np.maximum.accumulate(np.where(changed | new_session, rows, 0))
    foreground = np.clip(1 - 0.12 * change_count - rng.uniform(0, 0.15, n), 0.05, 1.0)
    dwell = 60.0 * (rows - app_run_start) + 60 * foreground
    entropy_5 = np.log1p(switch_5) * rng.uniform(0.7, 1.1, n)
    entropy_15 = np.log1p(switch_15) * rng.uniform(0.7, 1.1, n)
    top2 = np.clip(1 - 0.03 * switch_15 - rng.uniform(0, 0.1, n), 0.2, 1.0)
    idle_return = new_session | (np.r_[False, idle[:-1]] & ~idle)

    def delta(values: np.ndarray) -> np.ndarray:
        return np.where(new_session, np.nan, values - np.r_[np.nan, values[:-1]])

    # A window title is a (block, app, variant) triple: the same file or page a while.
    title = (block * len(_APP_IDS) + app) * 2 + rng.integers(0, 2, n)
    title_hash = _salted_hash(title, f"title:{seed}")
    order = np.lexsort((rows, title, session))
    head = np.r_[True, (np.diff(title[order]) != 0) | (np.diff(session[order]) != 0)]
    repeats = np.empty(n, dtype=np.int64)
    repeats[order] = rows - np.maximum.accumulate(np.where(head, rows, 0)) + 1

    start = _utc(minute * 60)
    return pd.DataFrame(
        {
            "user_id": _text(people.ids, user),
            "device_id": pd.Series(pd.array(pa.nulls(n, pa.large_string()), dtype="str")),
            "session_id": _text(*_hex12(_salted_hash(session, f"session:{seed}"))),
            "bucket_start_ts": start,
            "bucket_end_ts": start + pd.Timedelta(seconds=schema.BUCKET_SECONDS),
            "schema_version": _text(["v1"], np.zeros(n, dtype=np.int64)),
            "schema_hash": _text([schema.SCHEMA_HASHES["v1"]], np.zeros(n, dtype=np.int64)),
            # One list per row, not one shared list: a caller may mutate a cell.
            "source_ids": _one_element_lists(SOURCE_ID, n),
            "app_id": _text(_APP_IDS, app),
            "app_category": _text(schema.APP_CATEGORIES, _APP_CATEGORY[app]),
            "window_title_hash": _text(*_hex12(title_hash)),
            "is_browser": browser,
            "is_editor": _IS_EDITOR[app],
            "is_terminal": _IS_TERMINAL[app],
            "app_switch_count_last_5m": switch_5.astype(np.int64),
            "app_foreground_time_ratio": np.round(foreground, 3),
            "app_change_count": change_count.astype(np.int64),
            "app_dwell_time_seconds": np.round(dwell, 1),
            "app_entropy_5m": np.round(entropy_5, 3),
            "app_entropy_15m": np.round(entropy_15, 3),
            "top2_app_concentration_15m": np.round(top2, 3),
            "idle_return_indicator": idle_return,
            **inputs,
            "domain_category": _text(schema.DOMAIN_CATEGORIES, domain),
            "window_title_bucket": (title_hash % np.uint64(256)).astype(np.int64),
            "title_repeat_count_session": repeats,
            "keys_per_min_rolling_5": _rolling_mean(inputs["keys_per_min"], session_start, 5),
            "keys_per_min_rolling_15": _rolling_mean(inputs["keys_per_min"], session_start, 15),
            "mouse_distance_rolling_5": _rolling_mean(inputs["mouse_distance"], session_start, 5),
            "mouse_distance_rolling_15": _rolling_mean(inputs["mouse_distance"], session_start, 15),
            "keys_per_min_delta": delta(inputs["keys_per_min"]),
            "clicks_per_min_delta": delta(inputs["clicks_per_min"]),
            "mouse_distance_delta": delta(inputs["mouse_distance"]),
            "app_switch_count_last_15m": switch_15.astype(np.int64),
            "hour_of_day": (minute // 60) % 24,
            "day_of_week": (minute // 1440 + 3) % 7,  # 1970-01-01 was a Thursday (Monday = 0)
            "session_length_so_far": (minute - minute[session_start]).astype(np.float64),
        }
    )


# -------------------------------------------------------------------------------- spans
def _span_frame(
    rng: np.random.Generator, cfg: Scenario, people: _Users, blocks: _Blocks
) -> pd.DataFrame:
    """One span per labelled block; some edges off the minute, a few labels wrong."""
    nb = blocks.label.size
    # Slips hit short blocks (labelled from memory); one mislabelled 75-minute block would
    # swamp a class's precision on a small evaluation set.
    slip = (rng.random(nb) < cfg.label_noise) & (blocks.minutes <= 30)
    label = np.where(slip, _NEIGHBOUR[blocks.label], blocks.label)
    label = np.where(rng.random(nb) < cfg.random_label_noise, rng.integers(0, _N_LABELS, nb), label)
    # Annotators click near, not on, the minute: a third of the edges move inwards by
    # 1-59 s, so the edge minute is only partly covered and projection must drop it.
    start = blocks.start * 60 + np.where(rng.random(nb) < 0.3, rng.integers(1, 60, nb), 0)
    end = (blocks.start + blocks.minutes) * 60 - np.where(
        rng.random(nb) < 0.3, rng.integers(1, 60, nb), 0
    )
    confidence = np.where(rng.random(nb) < 0.8, 1.0, np.nan)  # some spans carry none
    chosen = np.flatnonzero(~blocks.away & (rng.random(nb) >= cfg.unlabelled_fraction))
    if cfg.max_labelled_spans is not None:
        chosen = np.sort(
            rng.choice(chosen, size=min(cfg.max_labelled_spans, chosen.size), replace=False)
        )
        end[chosen] = np.minimum(end[chosen], start[chosen] + 600)
    spans = pd.DataFrame(
        {
            "start_ts": _utc(start[chosen]),
            "end_ts": _utc(end[chosen]),
            "label": _text(schema.LABELS, label[chosen]),
            "provenance": _text([PROVENANCE], np.zeros(chosen.size, dtype=np.int64)),
            "user_id": _text(people.ids, blocks.user[chosen]),
            "confidence": confidence[chosen],
            "extend_forward": np.zeros(chosen.size, dtype=bool),
        }
    )
    # The label store keeps spans in this order (users interleaved); do the same.
    order = ["start_ts", "end_ts", "label", "user_id"]
    return spans.sort_values(order, kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- the API
def generate_team(
    scenario: str = "default",
    *,
    users: int = DEFAULT_USERS,
    days: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    seed: int = 0,
) -> SyntheticTeam:
    """Generate a synthetic team's feature rows and label spans.

    Args:
        scenario: a key of :data:`SCENARIOS`.
        users: number of users (>= 1).
        days: number of days (>= 1). Without dates the range ends today (UTC); with one
            date it runs from or to it. Defaults to 30 unless both dates are given.
        date_from: first day (inclusive).
        date_to: last day (inclusive).
        seed: random seed (>= 0); the same arguments give byte-identical frames.

    Returns:
        A :class:`SyntheticTeam`: ``features`` in the schema v1 layout sorted by
        (user, time), ``spans`` a span frame with provenance ``synthetic``.

    Raises:
        ConfigError: unknown scenario, ``users``, ``days`` or ``seed`` out of range, or
            dates that contradict each other.
    """
    if scenario not in SCENARIOS:
        raise ConfigError(f"unknown synthetic scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if users < 1:
        raise ConfigError(f"users must be a whole number >= 1; got {users}")
    if seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0; got {seed}")
    first, last = _resolve_range(days, date_from, date_to)
    cfg = SCENARIOS[scenario]
    # Scenario-specific stream: scenarios differ in more than their knobs' targets.
    rng = np.random.default_rng([seed, zlib.crc32(scenario.encode())])
    people = _draw_users(seed, users)
    blocks = _draw_blocks(rng, cfg, people, first, (last - first).days + 1)
    features = _feature_frame(rng, cfg, people, blocks, seed)
    spans = _span_frame(rng, cfg, people, blocks)
    return SyntheticTeam(features, spans, scenario, seed, users, first, last)
