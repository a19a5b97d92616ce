"""The named presets of the synthetic team generator (``default``, ``drift``, ``noisy``, ``one_user_worse``, ``sparse``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


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
    #: With ``drift``: the share of early blocks whose habits swap. 0.2 keeps the
    #: challenger above every candidate gate while it falls more than the regression
    #: tolerance below a champion trained on ``default`` (checked on many seeds).
    drift_share: float = 0.2
    #: Keep only this many spans, each at most 10 minutes long (None keeps them all).
    max_labelled_spans: int | None = None
    #: Neighbouring tasks swap habits for the whole range for everyone but the first person
    #: (in id order), who keeps the habits of ``default``.
    swap_all_but_first: bool = False


SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario(
            "default", "A realistic team whose challenger passes every acceptance check and gate."
        ),
        Scenario(
            "drift",
            "Habits shift: in the early weeks a fifth of the blocks take a neighbouring task's "
            "behaviour, so the challenger passes every candidate gate but falls more than the "
            "regression tolerance below a champion trained on default data.",
            drift=True,
        ),
        Scenario(
            "noisy",
            "Heavy label noise (40 % of spans get a random label), so the candidate gates fail.",
            random_label_noise=0.40,
        ),
        Scenario(
            "one_user_worse",
            "The team's habits change (neighbouring tasks swap) but one person keeps theirs: the "
            "challenger lifts the team average above a champion trained on default data while that "
            "person's minutes get much worse, so per_user_no_regression rejects it.",
            swap_all_but_first=True,
        ),
        Scenario(
            "sparse",
            "Almost nothing labelled (under 100 windows), so the run stops early.",
            max_labelled_spans=8,
        ),
    )
}
