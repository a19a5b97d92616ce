"""Who started a run and why: the operator's reason, kept in the run's ``decision.json``.

Given on the Retrain page or with ``--reason``, it is shown on Review, sent with the
run's events and copied into the history entry when the run becomes champion.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskclf_core.errors import ConfigError
from taskclf_core.registry.signoff import MAX_NOTE_CHARS, _bad_char

MAX_REASON_CHARS: Final = MAX_NOTE_CHARS

#: How the starter was established: signed in (team mode), the local console, the CLI, the schedule.
StartedHow = Literal["signed_in", "local", "cli", "schedule"]


class RunRequested(BaseModel):
    """Who started a run (as established) and the reason they gave (None: none given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str = Field(min_length=1, max_length=400)
    how: StartedHow
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS)

    def describe(self) -> str:
        """``"alice@example.com (signed in): the labels of November arrived"``."""
        shown = {"signed_in": "signed in", "local": "local console, not authenticated", "cli": "command line",
                 "schedule": "scheduled"}[self.how]
        head = f"Started by {self.by} ({shown})"
        return f"{head}: {self.reason}" if self.reason else f"{head}; no reason given"


def check_reason(reason: object, option: str = "--reason") -> str | None:
    """The reason stripped (None when blank), checked as a note is.

    Raises:
        ConfigError: not text, longer than :data:`MAX_REASON_CHARS`, or holding control or
            bidirectional characters (line breaks and tabs are allowed).
    """
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ConfigError(f"{option} must be text; got {type(reason).__name__}")
    text = reason.strip()
    if not text:
        return None
    if len(text) > MAX_REASON_CHARS:
        raise ConfigError(f"{option} must be at most {MAX_REASON_CHARS} characters; got {len(text)}")
    bad = _bad_char(text, allow=frozenset("\n\t"), invisible=False)
    if bad is not None:
        index, code, kind = bad
        raise ConfigError(f"{option} must be plain text (line breaks and tabs allowed); character {index + 1} is {code}, {kind}")
    return text


__all__ = ["MAX_REASON_CHARS", "RunRequested", "StartedHow", "check_reason"]
