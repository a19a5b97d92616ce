"""Who a synthetic team is: apps, how each task looks, each user's habits, each day's blocks.

A team is several users working every day of a date range: a few sessions a day
separated by away gaps, each session a sequence of task blocks (one label each, of a
plausible length). The task profiles here are the generator's difficulty dial.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np

from taskclf_core.data import schema
from taskclf_core.synthetic.scenarios import Scenario

# --------------------------------------------------------------------------------- apps


#: app_id -> app_category; browsers, editors and terminals get their flags from it.
APPS: Final[dict[str, str]] = {
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

APP_IDS: Final = tuple(APPS)
APP_CATEGORY: Final = np.array([schema.APP_CATEGORIES.index(c) for c in APPS.values()])
IS_BROWSER: Final = np.array([c == "browser" for c in APPS.values()])
IS_EDITOR: Final = np.array([c == "editor" for c in APPS.values()])
IS_TERMINAL: Final = np.array([c == "terminal" for c in APPS.values()])
NON_BROWSER: Final = schema.DOMAIN_CATEGORIES.index("non_browser")


# ----------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class TaskProfile:
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
PROFILES: Final[dict[str, TaskProfile]] = {
    #                       minutes  share keys  sc   bs    clk scr  mouse still sw
    "Build": TaskProfile((20, 75), 1.1, 80, 2.6, 0.08, 5, 4, 800, 0.05, 0.25,
        {"com.microsoft.VSCode": 4, "com.jetbrains.intellij": 2, "com.apple.Terminal": 2.5,
         "com.googlecode.iterm2": 1, "com.google.Chrome": 0.6, "com.docker.docker": 0.5,
         "com.apple.finder": 0.2},
        {"code_hosting": 3, "docs": 3, "search": 2, "unknown": 1}),
    "Debug": TaskProfile((15, 60), 1.1, 40, 1.5, 0.13, 12, 10, 1500, 0.10, 0.40,
        {"com.microsoft.VSCode": 3, "com.jetbrains.intellij": 1.5, "com.apple.Terminal": 2,
         "com.googlecode.iterm2": 0.5, "com.google.Chrome": 1.5, "com.postmanlabs.mac": 1,
         "com.apple.ActivityMonitor": 0.3},
        {"search": 4, "docs": 3, "code_hosting": 2, "unknown": 1}),
    "Review": TaskProfile((10, 45), 0.8, 14, 0.9, 0.07, 12, 20, 1700, 0.25, 0.35,
        {"com.google.Chrome": 4, "org.mozilla.firefox": 1, "com.microsoft.VSCode": 1.5,
         "com.linear": 0.8, "com.tinyspeck.slackmacgap": 0.5},
        {"code_hosting": 7, "productivity": 1, "docs": 1, "unknown": 1}),
    "ReadResearch": TaskProfile((10, 50), 0.8, 5, 0.4, 0.05, 7, 26, 1500, 0.45, 0.25,
        {"com.google.Chrome": 4, "org.mozilla.firefox": 1.5, "com.apple.Preview": 1,
         "com.apple.Notes": 0.4, "com.microsoft.VSCode": 0.3},
        {"docs": 4, "search": 3, "news": 1.5, "code_hosting": 1, "other": 1, "unknown": 1}),
    "Write": TaskProfile((20, 75), 0.8, 95, 0.8, 0.13, 4, 4, 500, 0.05, 0.15,
        {"com.microsoft.Word": 3, "com.apple.Notes": 2, "com.google.Chrome": 1.2,
         "com.microsoft.VSCode": 0.8, "com.apple.mail": 0.6, "com.figma.Desktop": 0.3},
        {"productivity": 5, "docs": 2, "unknown": 1}),
    "Communicate": TaskProfile((10, 40), 1.4, 55, 0.6, 0.10, 12, 8, 1100, 0.15, 0.60,
        {"com.tinyspeck.slackmacgap": 4.5, "com.apple.mail": 3, "com.google.Chrome": 0.8,
         "com.linear": 0.8, "com.microsoft.teams2": 0.4},
        {"email_web": 4, "chat": 3, "productivity": 1, "unknown": 1}),
    "Meet": TaskProfile((15, 60), 0.6, 4, 0.2, 0.05, 3, 2, 450, 0.55, 0.10,
        {"us.zoom.xos": 5, "com.microsoft.teams2": 2.5, "com.google.Chrome": 0.6,
         "com.tinyspeck.slackmacgap": 0.5},
        {"video": 4, "productivity": 1, "unknown": 1}),
    "BreakIdle": TaskProfile((5, 20), 0.8, 0.3, 0.0, 0.0, 0.2, 0.3, 25, 0.90, 0.02,
        {"com.apple.loginwindow": 6, "com.spotify.client": 1, "com.google.Chrome": 1,
         "com.apple.finder": 0.3},
        {"video": 3, "social": 3, "news": 2, "unknown": 1}),
}  # fmt: skip

N_LABELS: Final = len(schema.LABELS)
BREAK: Final = schema.LABEL_TO_INDEX["BreakIdle"]
MEET: Final = schema.LABEL_TO_INDEX["Meet"]
COMMUNICATE: Final = schema.LABEL_TO_INDEX["Communicate"]
#: Each task's neighbour (by label index): whose behaviour it leans to and is interrupted
#: by, whose label an annotator's slip gives it, whose habits it takes in ``drift``.
NEIGHBOUR: Final = np.array(
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
DRIFT_SWAP: Final = np.where(np.arange(N_LABELS) == MEET, MEET, NEIGHBOUR)

#: Desk-work tasks: what mixed-work blocks are made of.
WORK: Final = np.array([i for i in range(N_LABELS) if i not in (BREAK, MEET)])


def per_label(attr: str) -> np.ndarray:
    return np.array([float(getattr(PROFILES[label], attr)) for label in schema.LABELS])


def mix(attr: str, names: tuple[str, ...]) -> np.ndarray:
    rows = np.zeros((N_LABELS, len(names)))
    for i, label in enumerate(schema.LABELS):
        for name, weight in getattr(PROFILES[label], attr).items():
            rows[i, names.index(name)] = weight
    return rows / rows.sum(axis=1, keepdims=True)


SHARE: Final = per_label("share")
MIN_LO: Final = np.array([PROFILES[label].minutes[0] for label in schema.LABELS], dtype=float)
MIN_HI: Final = np.array([PROFILES[label].minutes[1] for label in schema.LABELS], dtype=float)
APP_MIX: Final = mix("apps", APP_IDS)
DOMAIN_MIX: Final = mix("domains", schema.DOMAIN_CATEGORIES)

# Noise (sd of log): a user's habits scale a task's means, a block wanders around them,
# and every minute varies again.
USER_SD: Final = 0.20

BLOCK_SD: Final = 0.15
MINUTE_SD: Final = 0.40
SLOTS: Final = 48  # blocks drawn per user-day, more than a working day can hold


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a cheap, stable 64-bit hash of integer arrays."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def salted_hash(keys: np.ndarray, salt: str) -> np.ndarray:
    """A stable 64-bit hash of integer keys, different for every ``salt``."""
    return _mix64(keys.astype(np.uint64) ^ np.uint64(zlib.crc32(salt.encode()) << 20))


def choose(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category per element; ``probs[rows[i]]`` is element i's distribution."""
    n_rows, k = probs.shape
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    # Offsetting each row by its index makes one sorted array: one searchsorted for all.
    flat = (np.arange(n_rows)[:, None] + cum).ravel()
    pos = np.searchsorted(flat, rows + rng.random(rows.size), side="right")
    return np.minimum(pos - rows * k, k - 1)


# -------------------------------------------------------------------------------- users


@dataclass(frozen=True)
class Users:
    """Per-user habits, seeded per user index so a user keeps them whatever the team size."""

    ids: np.ndarray  # user_id strings (object)
    start_minute: np.ndarray  # working day start, minutes after 00:00 UTC
    label_share: np.ndarray  # (users, labels) block frequencies
    app_mix: np.ndarray  # (users * labels, apps) app distribution per user and task
    input_scale: np.ndarray  # (users, 4) multipliers: keys, clicks, scroll, mouse


def draw_users(seed: int, users: int) -> Users:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "https://taskclf.invalid/synthetic")
    ids, start, share, apps, scale = [], [], [], [], []
    for i in range(users):
        # Seeded by (seed, user) only, not by scenario: the same people in every
        # scenario, so a champion trained on ``default`` meets familiar users in ``drift``.
        rng = np.random.default_rng([seed, i, 0x05E4])
        ids.append(str(uuid.uuid5(namespace, f"{seed}:{i}")))
        start.append(rng.integers(5 * 60, 10 * 60 + 1))
        share.append(SHARE * rng.lognormal(0.0, 0.3, N_LABELS))
        # App taste (VS Code or IntelliJ, Chrome or Firefox ...) applies across tasks.
        mix = APP_MIX * rng.lognormal(0.0, 0.6, len(APP_IDS))
        apps.append(mix / mix.sum(axis=1, keepdims=True))
        scale.append(rng.lognormal(0.0, USER_SD, 4))
    # Users in id order, so rows come out in primary-key order (user_id, bucket_start_ts).
    order = np.argsort(np.array(ids))
    app_mix = np.stack(apps)[order].reshape(-1, len(APP_IDS))
    return Users(
        np.array(ids, dtype=object)[order],
        np.array(start)[order],
        (np.array(share) / np.sum(share, axis=1, keepdims=True))[order],
        app_mix,
        np.array(scale)[order],
    )


# ------------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Blocks:
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


def draw_blocks(
    rng: np.random.Generator, cfg: Scenario, people: Users, first: date, n_days: int
) -> Blocks:
    users = people.start_minute.size
    n_ud = users * n_days
    ud_user = np.repeat(np.arange(users), n_days)
    ud_day = np.tile(np.arange(n_days), users)
    label = choose(rng, people.label_share, np.repeat(ud_user, SLOTS)).reshape(n_ud, SLOTS)
    lo, hi = MIN_LO[label], MIN_HI[label]
    minutes = np.exp(rng.uniform(np.log(lo), np.log(hi + 1))).astype(np.int64)
    # Away gaps (lunch, errands) end a session; a user-day never starts with one.
    away = rng.random((n_ud, SLOTS)) < 0.12
    away[:, 0] = False
    minutes = np.where(away, rng.integers(15, 61, (n_ud, SLOTS)), minutes)
    # Working days of 8-9 hours: the block that crosses the end is cut short.
    day_len = rng.integers(480, 541, n_ud)
    ends = np.cumsum(minutes, axis=1)
    starts = ends - minutes
    minutes = np.minimum(ends, day_len[:, None]) - starts
    epoch_day = (first - date(1970, 1, 1)).days + ud_day
    day_start = epoch_day * 1440 + people.start_minute[ud_user] + rng.integers(-30, 31, n_ud)
    session = np.arange(n_ud)[:, None] * SLOTS + np.cumsum(away, axis=1)

    ud, slot = np.nonzero(starts < day_len[:, None])  # row-major: user, day, time
    b_label = label[ud, slot]
    behaviour = b_label
    if cfg.drift:
        # Neighbours swap habits in a share of the early blocks; the swap fades out between
        # 50 % and 80 % of the range, so the last days (the evaluation rows) look like
        # ``default``: the challenger is still good, but worse than a default champion.
        position = (ud_day[ud] + 0.5) / n_days
        fade = np.clip((0.8 - position) / 0.3, 0.0, 1.0)
        swapped = rng.random(b_label.size) < cfg.drift_share * fade
        behaviour = np.where(swapped, DRIFT_SWAP[b_label], b_label)
    if cfg.swap_all_but_first:  # no draw: the blocks and labels stay those of ``default``
        behaviour = np.where(ud_user[ud] != 0, DRIFT_SWAP[b_label], behaviour)
    return Blocks(
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
