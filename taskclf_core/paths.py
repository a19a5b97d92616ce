"""Where things live: the home folder and the registry layout under it.

The home is ``TASKCLF_HOME`` when set, else the current folder (the project folder for
``make run``). Everything the app and CLI read or write is under it, except a data
directory the user names explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "TASKCLF_HOME"


@dataclass(frozen=True)
class Home:
    """The home folder and the well-known paths below it."""

    root: Path
    models: Path | None = None  # override of <root>/models (e.g. the CLI's --models-dir)
    artifacts: Path | None = None  # override of <root>/artifacts (the CLI's --out-dir)

    @classmethod
    def resolve(
        cls,
        root: Path | str | None = None,
        *,
        models_dir: Path | str | None = None,
        out_dir: Path | str | None = None,
    ) -> Home:
        """The home: ``root`` if given, else ``$TASKCLF_HOME``, else the current folder;
        optionally with the models and artifacts folders placed elsewhere."""
        if root is None:
            root = os.environ.get(HOME_ENV) or Path.cwd()
        return cls(
            Path(root).expanduser().resolve(),
            Path(models_dir).expanduser().resolve() if models_dir is not None else None,
            Path(out_dir).expanduser().resolve() if out_dir is not None else None,
        )

    @classmethod
    def for_dirs(cls, models_dir: Path | str, out_dir: Path | str) -> Home:
        """The home implied by a models folder and an artifacts folder."""
        models = Path(models_dir).expanduser().resolve()
        return cls(models.parent, models, Path(out_dir).expanduser().resolve())

    @property
    def models_dir(self) -> Path:
        return self.models or self.root / "models"

    @property
    def artifacts_dir(self) -> Path:
        return self.artifacts or self.root / "artifacts"

    @property
    def runs_dir(self) -> Path:
        return self.artifacts_dir / "runs"

    @property
    def jobs_dir(self) -> Path:
        return self.artifacts_dir / "jobs"

    @property
    def config_path(self) -> Path:
        return self.root / "configs" / "retrain.yaml"

    @property
    def default_data_dir(self) -> Path:
        return self.root / "data" / "processed"
