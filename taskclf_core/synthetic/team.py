"""Synthetic taskclf teams: feature rows (schema v1, v2 or v3) and label spans, in named scenarios.

The generator exercises the whole retrain workflow without a collector. A team is
several users working every day of a date range: a few sessions a day separated by
away gaps (no rows), each session a sequence of task *blocks* (one label each, of a
plausible length). Every minute of a block is one feature row whose app, keyboard and
mouse behaviour come from the block label's profile (``people.PROFILES``), modulated by the
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

import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from taskclf_core.data import schema
from taskclf_core.data.datadir import check_data_dir_target, replace_data_dir
from taskclf_core.data.labelcheck import validate_span_frame
from taskclf_core.errors import ConfigError
from taskclf_core.synthetic.people import draw_blocks, draw_users
from taskclf_core.synthetic.rows import feature_frame, span_frame
from taskclf_core.synthetic.scenarios import SCENARIOS, Scenario

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_USERS",
    "SCENARIOS",
    "Scenario",
    "SyntheticTeam",
    "generate_team",
    "synthesize_data_dir",
]

DEFAULT_USERS: Final = 5
DEFAULT_DAYS: Final = 30


@dataclass(frozen=True)
class SyntheticTeam:
    """A generated team: feature rows (in-memory conventions of its schema version) and spans."""

    features: pd.DataFrame
    spans: pd.DataFrame
    scenario: str
    seed: int
    users: int
    date_from: date
    date_to: date
    schema_version: str = "v1"


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


# ----------------------------------------------------------------------------- the API


def generate_team(
    scenario: str = "default",
    *,
    users: int = DEFAULT_USERS,
    days: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    seed: int = 0,
    schema_version: str = "v1",
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
        schema_version: ``v1``, ``v2`` (the v1 columns, ``user_id`` kept in memory) or
            ``v3`` (plus the title sketches and scalars of simulated window titles). For
            one seed, every column but the version's own is the same at every version.

    Returns:
        A :class:`SyntheticTeam`: ``features`` in the ``schema_version`` layout sorted by
        (user, time), ``spans`` a span frame with provenance ``synthetic``.

    Raises:
        ConfigError: unknown scenario or schema version, ``users``, ``days`` or ``seed``
            out of range, or dates that contradict each other.
    """
    if scenario not in SCENARIOS:
        raise ConfigError(f"unknown synthetic scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if users < 1:
        raise ConfigError(f"users must be a whole number >= 1; got {users}")
    if seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0; got {seed}")
    if schema_version not in schema.SCHEMA_VERSIONS:
        raise ConfigError(
            f"unknown schema version {schema_version!r}; known: {', '.join(schema.SCHEMA_VERSIONS)}"
        )
    first, last = _resolve_range(days, date_from, date_to)
    cfg = SCENARIOS[scenario]
    # Scenario-specific stream: scenarios differ in more than their knobs' targets.
    rng = np.random.default_rng([seed, zlib.crc32(scenario.encode())])
    people = draw_users(seed, users)
    blocks = draw_blocks(rng, cfg, people, first, (last - first).days + 1)
    features = feature_frame(rng, cfg, people, blocks, seed, schema_version)
    # Checked exactly like the spans of a label file: the generator cannot slip a span
    # past the rules a file must follow.
    spans = validate_span_frame(
        span_frame(rng, cfg, people, blocks),
        source=f"synthetic team (scenario {scenario}, seed {seed}, {users} users, {first}..{last})",
    )
    return SyntheticTeam(features, spans, scenario, seed, users, first, last, schema_version)


def synthesize_data_dir(
    out_dir: Path | str,
    scenario: str = "default",
    *,
    users: int = DEFAULT_USERS,
    days: int | None = None,
    date_to: date | None = None,
    seed: int = 0,
    overwrite: bool = False,
    schema_version: str = "v1",
) -> SyntheticTeam:
    """Generate a synthetic team and write it as a taskclf data directory.

    The target is checked before anything is generated: a folder that is not empty is
    refused unless ``overwrite`` (and even then only taskclf data is replaced). The
    directory is written all or nothing (:func:`~taskclf_core.data.datadir.replace_data_dir`).

    Args:
        out_dir: The data directory to write.
        scenario: As for :func:`generate_team`.
        users: As for :func:`generate_team`.
        days: As for :func:`generate_team`.
        date_to: As for :func:`generate_team`.
        seed: As for :func:`generate_team`.
        overwrite: Replace the taskclf data already in ``out_dir``.
        schema_version: As for :func:`generate_team` (a v2 directory holds one user).

    Returns:
        The team written.

    Raises:
        DataError: The target folder is refused.
        ConfigError: As for :func:`generate_team`.
    """
    check_data_dir_target(out_dir, overwrite=overwrite)
    team = generate_team(
        scenario, users=users, days=days, date_to=date_to, seed=seed, schema_version=schema_version
    )
    replace_data_dir(
        out_dir, team.features, team.spans, version=schema_version, overwrite=overwrite
    )
    return team
