"""One small exception tree for everything the library refuses.

Every error says what failed, the value given and what is allowed. Front ends (CLI,
app) catch :class:`TaskclfError` and show its message; anything else is a bug.
"""

from __future__ import annotations


class TaskclfError(Exception):
    """Base of every error this library raises on purpose."""


class ConfigError(TaskclfError):
    """A configuration file or value is invalid."""


class DataError(TaskclfError):
    """Input data (features, labels, data directory) is missing or invalid."""


class InsufficientDataError(DataError):
    """Too few labelled windows (or users) to train and evaluate a model."""


class RegistryError(TaskclfError):
    """The model registry (bundles, runs, pointer, history) is broken or refused an action."""


class BundleError(RegistryError):
    """A model bundle is missing, incomplete or altered."""


class RunIdError(RegistryError):
    """A run id is malformed or names no run."""


class PromotionRefused(RegistryError):
    """A promotion or rollback was refused; the message says why."""


class ChampionChanged(PromotionRefused):
    """The champion is no longer the one the run was evaluated against."""


class BusyError(TaskclfError):
    """Another retrain (or registry change) holds the lock."""
