"""Categorical vocabularies fitted on the training split, as taskclf's trainer fits them.

taskclf's ``encode_categoricals`` (training): per categorical column, in the schema's
order, values seen fewer than ``min_category_freq`` times become ``__unknown__``; then
``round(n_known * unknown_mask_rate)`` of the remaining rows, drawn by one
``numpy.random.RandomState`` shared by all columns, also become ``__unknown__``; the
vocabulary is the sorted set of what is left. The model thereby learns what to do with
a category it has never seen. taskclf leaves the draw unseeded; here the seed is the
config's ``train_params.seed``, so the same data give the same model file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskclf_core.model.serving import UNKNOWN_TOKEN

MIN_CATEGORY_FREQ = 5
UNKNOWN_MASK_RATE = 0.05


@dataclass(frozen=True)
class TrainingCodes:
    """Vocabulary per column and the training rows' codes into it."""

    encoders: dict[str, list[str]]
    codes: dict[str, np.ndarray]


def fit_training_codes(
    df: pd.DataFrame,
    columns: list[str],
    *,
    seed: int,
    min_category_freq: int = MIN_CATEGORY_FREQ,
    unknown_mask_rate: float = UNKNOWN_MASK_RATE,
) -> TrainingCodes:
    """Fit each column's vocabulary on training rows, with rare values and a seeded sample masked.

    Args:
        df: Training rows.
        columns: Categorical columns, in the schema's order (the draw order matters).
        seed: Seed of the masking draw.
        min_category_freq: Values seen fewer times become ``__unknown__``.
        unknown_mask_rate: Share of the other rows masked to ``__unknown__``.

    Returns:
        The vocabularies (sorted, ``__unknown__`` always included) and float64 codes.
    """
    rng = np.random.RandomState(seed)
    encoders: dict[str, list[str]] = {}
    codes: dict[str, np.ndarray] = {}
    for column in columns:
        value_codes, uniques = pd.factorize(df[column], use_na_sentinel=True)
        texts = [str(u) for u in uniques]
        counts = np.bincount(value_codes[value_codes >= 0], minlength=len(texts))
        # A null reads as unknown (taskclf: NaN is in no vocabulary); so does the token itself.
        keep = np.array(
            [c >= min_category_freq and t != UNKNOWN_TOKEN for c, t in zip(counts, texts, strict=True)],
            dtype=bool,
        )
        unknown = len(texts)
        row_values = np.where(
            value_codes >= 0, np.where(keep[value_codes.clip(min=0)], value_codes, unknown), unknown
        )
        known_rows = np.flatnonzero(row_values != unknown)
        n_mask = int(round(len(known_rows) * unknown_mask_rate))
        if n_mask > 0:
            row_values[rng.choice(known_rows, size=n_mask, replace=False)] = unknown
        present = np.unique(row_values)
        vocabulary = sorted({texts[i] for i in present if i != unknown} | {UNKNOWN_TOKEN})
        index = {text: float(i) for i, text in enumerate(vocabulary)}
        table = np.array([index.get(t, index[UNKNOWN_TOKEN]) for t in texts] + [index[UNKNOWN_TOKEN]])
        codes[column] = table[row_values]
        encoders[column] = vocabulary
    return TrainingCodes(encoders=encoders, codes=codes)
