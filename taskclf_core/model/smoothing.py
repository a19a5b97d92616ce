"""taskclf's smoothing of served labels and the stability figures of its acceptance guide.

Behaviour as taskclf's ``infer/smooth.py`` (the rules, written here on our own):

* ``rolling_majority`` (window 3, centred, clipped at the ends): the most common label of
  the window wins, except that a label as common as the winner keeps its place (ties keep
  the original label); the first-counted label wins among equally common others;
* ``segmentize``: runs of one label become blocks of ``n`` one-minute buckets;
* ``merge_short_segments``: blocks shorter than ``MIN_BLOCK_DURATION_SECONDS`` (180 s)
  are absorbed into a neighbour of the same label, else the longer neighbour (the
  preceding one on ties); the first and last blocks are never removed; repeated until
  nothing changes.

Flap rate (acceptance guide §5): label changes / windows, in each person's time order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

MIN_BLOCK_DURATION_SECONDS: Final = 180
BUCKET_SECONDS: Final = 60
SMOOTH_WINDOW: Final = 3


def rolling_majority(labels: Sequence[str], window: int = SMOOTH_WINDOW) -> list[str]:
    """The centred majority vote of taskclf's ``rolling_majority``."""
    n, half = len(labels), window // 2
    out: list[str] = []
    for i in range(n):
        counts: dict[str, int] = {}
        for label in labels[max(0, i - half) : min(n, i + half + 1)]:
            counts[label] = counts.get(label, 0) + 1
        winner = max(counts, key=lambda k: counts[k])  # first counted wins among equals
        out.append(labels[i] if counts[winner] == counts[labels[i]] else winner)
    return out


@dataclass(frozen=True)
class Block:
    """A run of one label: its label and how many buckets it spans."""

    label: str
    buckets: int


def segmentize(labels: Sequence[str]) -> list[Block]:
    """Runs of identical labels as blocks (taskclf's ``segmentize``, counts only)."""
    blocks: list[Block] = []
    for label in labels:
        if blocks and blocks[-1].label == label:
            blocks[-1] = Block(label, blocks[-1].buckets + 1)
        else:
            blocks.append(Block(label, 1))
    return blocks


def merge_short_segments(blocks: Sequence[Block], *, min_duration_seconds: int = MIN_BLOCK_DURATION_SECONDS,
                         bucket_seconds: int = BUCKET_SECONDS) -> list[Block]:
    """Absorb short blocks into their neighbours until none can be (taskclf's rule and order)."""
    if len(blocks) <= 1:
        return list(blocks)
    shortest = max(1, min_duration_seconds // bucket_seconds)
    result = list(blocks)
    changed = True
    while changed:
        changed = False
        merged: list[Block] = []
        i = 0
        while i < len(result):
            block = result[i]
            if block.buckets >= shortest or len(result) <= 1:
                merged.append(block)
                i += 1
                continue
            before = merged[-1] if merged else None
            after = result[i + 1] if i + 1 < len(result) else None
            if before is not None and before.label == block.label:
                merged[-1] = Block(before.label, before.buckets + block.buckets)
            elif after is not None and after.label == block.label:
                merged.append(Block(block.label, block.buckets + after.buckets))
                i += 1
            elif before is None:
                merged.append(block)
                i += 1
                continue
            elif after is None or before.buckets >= after.buckets:
                merged[-1] = Block(before.label, before.buckets + block.buckets)
            else:
                merged.append(Block(after.label, block.buckets + after.buckets))
                i += 1
            changed = True
            i += 1
        result = merged
    return result


def label_changes(labels: Sequence[str]) -> int:
    """How many times the label changes from one window to the next."""
    return sum(1 for a, b in zip(labels, labels[1:], strict=False) if a != b)


@dataclass(frozen=True)
class Stability:
    """Flap rate before and after smoothing, and the blocks after merging (guide §5, §6)."""

    windows: int
    changes_raw: int
    changes_smoothed: int
    blocks: int
    blocks_long: int  # at least MIN_BLOCK_DURATION_SECONDS
    blocks_under_2_minutes: int

    @property
    def flap_rate_raw(self) -> float:
        return self.changes_raw / self.windows if self.windows else 0.0

    @property
    def flap_rate_smoothed(self) -> float:
        return self.changes_smoothed / self.windows if self.windows else 0.0

    @property
    def share_long(self) -> float:
        return self.blocks_long / self.blocks if self.blocks else 1.0

    @property
    def share_under_2_minutes(self) -> float:
        return self.blocks_under_2_minutes / self.blocks if self.blocks else 0.0


def stability(sequences: Sequence[Sequence[str]]) -> Stability:
    """Stability of served labels, one sequence per person in time order, summed over people."""
    windows = raw = smoothed = blocks = long_ = short = 0
    shortest = max(1, MIN_BLOCK_DURATION_SECONDS // BUCKET_SECONDS)
    for labels in sequences:
        smooth = rolling_majority(labels)
        merged = merge_short_segments(segmentize(smooth))
        windows += len(labels)
        raw += label_changes(labels)
        smoothed += label_changes(smooth)
        blocks += len(merged)
        long_ += sum(b.buckets >= shortest for b in merged)
        short += sum(b.buckets * BUCKET_SECONDS < 120 for b in merged)
    return Stability(windows, raw, smoothed, blocks, long_, short)


__all__ = ["MIN_BLOCK_DURATION_SECONDS", "Block", "Stability", "label_changes", "merge_short_segments",
           "rolling_majority", "segmentize", "stability"]
