"""Window-title columns of schema v3 for synthetic teams: sketches of simulated titles.

taskclf v3 rows carry keyed sketches of the window title (128 token buckets, 128
character-trigram buckets, each a frequency rounded to 6 places, summing to 1) and five
title scalars. Here every distinct window title (a block's app and variant, as for
``window_title_hash``) is a short list of simulated tokens: some from the task's own
vocabulary (so a task's titles share tokens and the sketches carry signal, a few from
the neighbouring task), some from the app's name, some common words and some drawn from
a large pool that is rarely seen twice (unseen titles). The lock screen has an empty
title: every title column is 0, as in taskclf's ActivityWatch data (``v3-aw``).

Sizes follow ``v3-aw``: about 5 tokens and 35-40 characters a title, 4-12 non-zero token
buckets, 20-70 non-zero trigram buckets, a few digits and separators.
"""

from __future__ import annotations

import zlib
from typing import Final

import numpy as np

from taskclf_core.data import schema
from taskclf_core.synthetic.people import APP_IDS, N_LABELS, NEIGHBOUR, salted_hash

SKETCH_BUCKETS: Final = 128
MAX_TOKENS: Final = 12
_TASK_TOKENS: Final = 30  # per task
_APP_TOKENS: Final = 4  # per app
_COMMON_TOKENS: Final = 40
_RARE_TOKENS: Final = 20_000
_TASK_BASE: Final = 0
_APP_BASE: Final = _TASK_BASE + N_LABELS * _TASK_TOKENS
_COMMON_BASE: Final = _APP_BASE + len(APP_IDS) * _APP_TOKENS
_RARE_BASE: Final = _COMMON_BASE + _COMMON_TOKENS
#: Share of a title's tokens from: its task, the neighbouring task, the app, common words.
#: The rest come from the rare pool.
_SOURCE_SHARES: Final = np.cumsum([0.40, 0.08, 0.22, 0.15])
_EMPTY_TITLE_APP: Final = APP_IDS.index("com.apple.loginwindow")
#: A title shows the work, not the habits: where a block's habits are another task's
#: (``drift``), only this share of its titles follow the habits, the rest its own task.
TITLE_DRIFT_SHARE: Final = 0.3


def title_tasks(label: np.ndarray, behaviour: np.ndarray, seed: int) -> np.ndarray:
    """Per block, the task whose vocabulary its titles use (see ``TITLE_DRIFT_SHARE``)."""
    rng = np.random.default_rng([seed, zlib.crc32(b"title-drift")])
    return np.where(rng.random(label.size) < TITLE_DRIFT_SHARE, behaviour, label)


def _draw_tokens(
    rng: np.random.Generator, task: np.ndarray, app: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (titles x MAX_TOKENS) and the mask of the tokens each title has."""
    n = task.size
    length = np.clip(2 + rng.poisson(3.2, n), 2, MAX_TOKENS)
    used = np.arange(MAX_TOKENS)[None, :] < length[:, None]
    source = np.searchsorted(_SOURCE_SHARES, rng.random((n, MAX_TOKENS)), side="right")
    # Zipf-like: a task's first tokens are its most frequent ones.
    task_rank = np.minimum(rng.geometric(0.08, (n, MAX_TOKENS)) - 1, _TASK_TOKENS - 1)
    own = _TASK_BASE + task[:, None] * _TASK_TOKENS + task_rank
    neighbour = _TASK_BASE + NEIGHBOUR[task][:, None] * _TASK_TOKENS + task_rank
    app_token = (
        _APP_BASE + app[:, None] * _APP_TOKENS + rng.integers(0, _APP_TOKENS, (n, MAX_TOKENS))
    )
    common = _COMMON_BASE + rng.integers(0, _COMMON_TOKENS, (n, MAX_TOKENS))
    rare = _RARE_BASE + rng.integers(0, _RARE_TOKENS, (n, MAX_TOKENS))
    tokens = np.choose(source, [own, neighbour, app_token, common, rare])
    return tokens, used


def _sketch(keys: np.ndarray, used: np.ndarray, salt: str) -> np.ndarray:
    """Bucket frequencies (rows x 128) of the used keys of each row, rounded to 6 places."""
    n = keys.shape[0]
    buckets = (salted_hash(keys, salt) % np.uint64(SKETCH_BUCKETS)).astype(np.int64)
    flat = (np.arange(n)[:, None] * SKETCH_BUCKETS + buckets)[used]
    counts = np.bincount(flat, minlength=n * SKETCH_BUCKETS).reshape(n, SKETCH_BUCKETS)
    total = used.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.round(np.where(total > 0, counts / np.maximum(total, 1), 0.0), 6)


def title_columns(
    title: np.ndarray, task: np.ndarray, app: np.ndarray, seed: int
) -> dict[str, np.ndarray]:
    """The 261 v3 title columns for rows whose window title is ``title``.

    Args:
        title: Title id per row (rows with the same id show the same title).
        task: Task (label index) whose habits each row's block shows.
        app: App index (into ``APP_IDS``) per row.
        seed: The team's seed: keys the sketches (taskclf keys them with a salt) and
            seeds the titles' own random stream, so v1 columns are the same at every
            schema for one seed.

    Returns:
        Column name -> values, in ``schema.V3_TITLE_FEATURES`` order.
    """
    distinct, first, inverse = np.unique(title, return_index=True, return_inverse=True)
    rng = np.random.default_rng([seed, zlib.crc32(b"titles")])
    tokens, used = _draw_tokens(rng, task[first], app[first])
    used &= (app[first] != _EMPTY_TITLE_APP)[:, None]
    n_tokens = used.sum(axis=1)

    # Each token is 2-10 characters with as many trigrams (its own and those across the
    # blank to its neighbours); rare tokens that are multiples of 5 are numbers.
    token_len = 2 + (salted_hash(tokens, f"len:{seed}") % np.uint64(9)).astype(np.int64)
    numeric = (tokens >= _RARE_BASE) & (tokens % 5 == 0)
    trigram_count = np.where(used, token_len, 0)
    width = int(trigram_count.max(initial=1))
    position = np.arange(width)[None, None, :]
    trigram_used = position < trigram_count[:, :, None]
    trigram_keys = tokens[:, :, None] * 16 + position
    n_titles = distinct.size
    token_sketch = _sketch(tokens, used, f"token:{seed}")
    char3_sketch = _sketch(
        trigram_keys.reshape(n_titles, -1), trigram_used.reshape(n_titles, -1), f"char3:{seed}"
    )

    separators = np.where(n_tokens > 2, rng.integers(0, 5, n_titles), 0) * (n_tokens > 0)
    chars = np.where(used, token_len, 0).sum(axis=1) + np.maximum(n_tokens - 1, 0)
    chars = chars + 2 * separators
    digits = np.where(used & numeric, token_len, 0).sum(axis=1)
    ordered = np.sort(np.where(used, tokens, -1), axis=1)
    repeats = ((np.diff(ordered, axis=1) == 0) & (ordered[:, 1:] >= 0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unique_ratio = np.where(n_tokens > 0, (n_tokens - repeats) / np.maximum(n_tokens, 1), 0.0)
        digit_ratio = np.where(chars > 0, digits / np.maximum(chars, 1), 0.0)

    columns: dict[str, np.ndarray] = {}
    token_rows = token_sketch[inverse]
    char_rows = char3_sketch[inverse]
    for i in range(SKETCH_BUCKETS):
        columns[schema.TITLE_SKETCH_FEATURES[i]] = token_rows[:, i]
    for i in range(SKETCH_BUCKETS):
        columns[schema.TITLE_SKETCH_FEATURES[SKETCH_BUCKETS + i]] = char_rows[:, i]
    columns["title_char_count"] = chars[inverse].astype(np.int64)
    columns["title_token_count"] = n_tokens[inverse].astype(np.int64)
    columns["title_unique_token_ratio"] = np.round(unique_ratio, 6)[inverse]
    columns["title_digit_ratio"] = np.round(digit_ratio, 6)[inverse]
    columns["title_separator_count"] = separators[inverse].astype(np.int64)
    return columns
