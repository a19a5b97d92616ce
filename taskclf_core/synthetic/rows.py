"""Rows of a synthetic team: a feature row per minute of a task block, a span per labelled block.

Everything is vectorised with numpy (no Python loop over rows) and drawn from the
caller's seeded generator.
"""

from __future__ import annotations

import gc
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from taskclf_core.data import schema
from taskclf_core.synthetic.people import (
    APP_CATEGORY,
    APP_IDS,
    BLOCK_SD,
    BREAK,
    COMMUNICATE,
    DOMAIN_MIX,
    IS_BROWSER,
    IS_EDITOR,
    IS_TERMINAL,
    MINUTE_SD,
    N_LABELS,
    NEIGHBOUR,
    NON_BROWSER,
    WORK,
    Blocks,
    Users,
    choose,
    per_label,
    salted_hash,
)
from taskclf_core.synthetic.scenarios import Scenario
from taskclf_core.synthetic.titles import title_columns, title_tasks

PROVENANCE: Final = "synthetic"
SOURCE_ID: Final = "aw-watcher-window"


# ------------------------------------------------------------------------------ helpers


def _hex12(hashes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """12-hex-char strings of 64-bit hashes as (distinct strings, index per element)."""
    uniq, inverse = np.unique(hashes, return_inverse=True)
    return [f"{int(v) >> 16:012x}" for v in uniq], inverse


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


# ------------------------------------------------------------------------------ windows


def feature_frame(
    rng: np.random.Generator,
    cfg: Scenario,
    people: Users,
    blocks: Blocks,
    seed: int,
    version: str = "v1",
) -> pd.DataFrame:
    """One feature row per minute of every task block (away gaps have no rows).

    ``version`` v1 and v2 rows differ only in ``schema_version`` / ``schema_hash`` (in
    memory a v2 frame keeps ``user_id``); v3 adds the title columns. Every other column
    is the same at every version for one seed.
    """
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
    b_lean = rng.uniform(0.0, cfg.lean, counts.size) * (b_behaviour != BREAK)
    b_mixed = (rng.random(counts.size) < cfg.mixed_work) & np.isin(b_behaviour, WORK)
    mixed = b_mixed[block]
    behaviour = b_behaviour[block]
    interrupt = (rng.random(n) < cfg.interruption_rate) & (behaviour != BREAK) & ~mixed
    # Interruptions are the neighbour's work or, a fifth of the time, a quick chat.
    to_chat = (rng.random(n) < 0.2) & (behaviour != COMMUNICATE)
    behaviour = np.where(
        interrupt, np.where(to_chat, COMMUNICATE, NEIGHBOUR[behaviour]), behaviour
    )
    behaviour = np.where(mixed, WORK[rng.integers(0, WORK.size, n)], behaviour)
    idle = behaviour == BREAK
    lean = np.where(interrupt | mixed, 0.0, b_lean[block])
    neighbour = NEIGHBOUR[behaviour]

    # --- apps: a block has a main app; its other minutes draw from the task's mix -------
    b_app = choose(rng, people.app_mix, blocks.user * N_LABELS + b_behaviour)
    looks_like = np.where(rng.random(n) < lean, neighbour, behaviour)
    app = choose(rng, people.app_mix, user * N_LABELS + looks_like)
    app = np.where((rng.random(n) < 0.6) & ~interrupt & ~mixed, b_app[block], app)
    browser = IS_BROWSER[app]
    domain = np.where(browser, choose(rng, DOMAIN_MIX, looks_like), NON_BROWSER)

    # --- input: task mean x user habit x block wander x minute noise (log-normal) -------
    scale = people.input_scale[user] * np.exp(rng.normal(0.0, BLOCK_SD, (counts.size, 4))[block])

    def typical(attr: str) -> np.ndarray:
        # Geometric interpolation between the task's mean and its neighbour's.
        own, other = per_label(attr)[behaviour], per_label(attr)[neighbour]
        return np.where(lean > 0, own ** (1 - lean) * other**lean, own)

    def draw(attr: str, col: int) -> np.ndarray:
        return np.round(typical(attr) * scale[:, col] * rng.lognormal(0.0, MINUTE_SD, n), 1)

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
    gap &= blocks.label[block] != BREAK
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
    title = (block * len(APP_IDS) + app) * 2 + rng.integers(0, 2, n)
    title_hash = salted_hash(title, f"title:{seed}")
    order = np.lexsort((rows, title, session))
    head = np.r_[True, (np.diff(title[order]) != 0) | (np.diff(session[order]) != 0)]
    repeats = np.empty(n, dtype=np.int64)
    repeats[order] = rows - np.maximum.accumulate(np.where(head, rows, 0)) + 1

    start = _utc(minute * 60)
    titles: dict[str, np.ndarray] = {}
    if version == "v3":
        # Mixed work shows the windows of several tasks: each of its titles takes the
        # task of the minute it first appears in.
        task = np.where(mixed, behaviour, title_tasks(blocks.label, b_behaviour, seed)[block])
        titles = title_columns(title, task, app, seed)
    return pd.DataFrame(
        {
            "user_id": _text(people.ids, user),
            "device_id": pd.Series(pd.array(pa.nulls(n, pa.large_string()), dtype="str")),
            "session_id": _text(*_hex12(salted_hash(session, f"session:{seed}"))),
            "bucket_start_ts": start,
            "bucket_end_ts": start + pd.Timedelta(seconds=schema.BUCKET_SECONDS),
            "schema_version": _text([version], np.zeros(n, dtype=np.int64)),
            "schema_hash": _text([schema.SCHEMA_HASHES[version]], np.zeros(n, dtype=np.int64)),
            # One list per row, not one shared list: a caller may mutate a cell.
            "source_ids": _one_element_lists(SOURCE_ID, n),
            "app_id": _text(APP_IDS, app),
            "app_category": _text(schema.APP_CATEGORIES, APP_CATEGORY[app]),
            "window_title_hash": _text(*_hex12(title_hash)),
            "is_browser": browser,
            "is_editor": IS_EDITOR[app],
            "is_terminal": IS_TERMINAL[app],
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
            **titles,
        }
    )


# -------------------------------------------------------------------------------- spans


def span_frame(
    rng: np.random.Generator, cfg: Scenario, people: Users, blocks: Blocks
) -> pd.DataFrame:
    """One span per labelled block; some edges off the minute, a few labels wrong."""
    nb = blocks.label.size
    # Slips hit short blocks (labelled from memory); one mislabelled 75-minute block would
    # swamp a class's precision on a small evaluation set.
    slip = (rng.random(nb) < cfg.label_noise) & (blocks.minutes <= 30)
    label = np.where(slip, NEIGHBOUR[blocks.label], blocks.label)
    label = np.where(rng.random(nb) < cfg.random_label_noise, rng.integers(0, N_LABELS, nb), label)
    # Annotators click near, not on, the minute: a third of the edges move inwards by
    # 1-59 s, so the edge minute is only partly covered and projection must drop it.
    start = blocks.start * 60 + np.where(rng.random(nb) < 0.3, rng.integers(1, 60, nb), 0)
    end = (blocks.start + blocks.minutes) * 60 - np.where(
        rng.random(nb) < 0.3, rng.integers(1, 60, nb), 0
    )
    # A one-minute block (cut short at the end of the day) cannot lose a second at both
    # edges: its span keeps the whole minute instead of ending before it starts.
    crossed = end <= start
    start = np.where(crossed, blocks.start * 60, start)
    end = np.where(crossed, (blocks.start + blocks.minutes) * 60, end)
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
