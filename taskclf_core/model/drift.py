"""Drift figures of taskclf's promotion checklist: PSI per feature, class shift, reject-rate change.

The definitions are taskclf's (``core/drift.py``): PSI over ten equal-frequency bins cut on
the reference's quantiles, proportions clipped at 1e-8, ``sum((cur - ref) * ln(cur / ref))``,
0 when either side has fewer than two finite values or the reference is constant; the class
shift is the largest absolute change of a class's share; the reject-rate change is absolute.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taskclf_core.data.schema import LABELS

PSI_BINS = 10
_EPS = 1e-8


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population Stability Index of ``current`` against ``reference`` (taskclf's rule)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) < 2 or len(cur) < 2:
        return 0.0
    edges = np.unique(np.percentile(ref, np.linspace(0, 100, bins + 1)))
    if len(edges) < 2:
        return 0.0
    return _psi_of_counts(np.histogram(ref, bins=edges)[0], np.histogram(cur, bins=edges)[0])


def _psi_of_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    ref_counts, cur_counts = ref_counts.astype(np.float64), cur_counts.astype(np.float64)
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return 0.0
    p = np.clip(ref_counts / ref_counts.sum(), _EPS, None)
    q = np.clip(cur_counts / cur_counts.sum(), _EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def _sorted_histogram(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(x, bins=edges)[0]`` of ``x`` already sorted (the last bin closed)."""
    left = np.searchsorted(ordered, edges, side="left")
    counts = np.diff(left)
    counts[-1] += np.searchsorted(ordered, edges[-1], side="right") - left[-1]
    return counts


def class_shares(codes: np.ndarray) -> dict[str, float]:
    """Share of each class among true-label codes (every label listed)."""
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(LABELS))[: len(LABELS)]
    total = counts.sum()
    return {label: float(counts[i] / total) if total else 0.0 for i, label in enumerate(LABELS)}


def class_shift(reference: dict[str, float], current: dict[str, float]) -> tuple[float, list[str]]:
    """The largest absolute change of a class's share, and the classes in order of change."""
    deltas = {c: abs(current.get(c, 0.0) - reference.get(c, 0.0)) for c in sorted(set(reference) | set(current))}
    ordered = sorted(deltas, key=lambda c: -deltas[c])
    return (deltas[ordered[0]] if ordered else 0.0), ordered


def feature_psi(reference: np.ndarray, current: np.ndarray, names: Sequence[str],
                bins: int = PSI_BINS) -> dict[str, float]:
    """PSI of each column of two matrices with the same columns: :func:`psi` of each, with
    each side's columns sorted once and every quantile taken in one call (the same figures)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if not (np.isfinite(ref).all() and np.isfinite(cur).all()):
        return {name: psi(ref[:, j], cur[:, j], bins) for j, name in enumerate(names)}
    if len(ref) < 2 or len(cur) < 2:
        return dict.fromkeys(names, 0.0)
    quantiles = np.percentile(ref, np.linspace(0, 100, bins + 1), axis=0)
    ref_sorted, cur_sorted = np.sort(ref.T, axis=1), np.sort(cur.T, axis=1)
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        edges = np.unique(quantiles[:, j])
        out[name] = 0.0 if len(edges) < 2 else _psi_of_counts(
            _sorted_histogram(ref_sorted[j], edges), _sorted_histogram(cur_sorted[j], edges))
    return out


__all__ = ["PSI_BINS", "class_shares", "class_shift", "feature_psi", "psi"]
