"""Where the real audio and the data caches live.

The real audio folder is read-only and lives outside the repository: by default
``<repo root>/../shared/data``, overridable with the environment variable
``RTSEP_DATA`` or an explicit ``data_root`` argument. Caches (decoded stems,
pre-rendered synthetic songs) go under ``cache_dir`` (default ``cache``,
relative to the working directory; git-ignored at the repository root).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that overrides the default real-data folder.
DATA_ENV = "RTSEP_DATA"


def repo_root() -> Path:
    """The repository root (the folder that holds the ``rtsep`` package)."""
    return Path(__file__).resolve().parents[3]


def default_data_root() -> Path:
    """``$RTSEP_DATA`` if set, else ``<repo root>/../shared/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return repo_root().parent / "shared" / "data"


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """``data_root`` as a Path, or the default when ``None``."""
    return Path(data_root) if data_root is not None else default_data_root()


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a folder, else raise a one-line FileNotFoundError."""
    if not path.is_dir():
        raise FileNotFoundError(
            f"{what} not found at {path} (set {DATA_ENV} or pass data_root=...)")
    return path


def seeds_dir(data_root: str | os.PathLike | None = None) -> Path:
    """``<data root>/seeds``: isolated real sources used by the synthesiser."""
    return require_dir(resolve_data_root(data_root) / "seeds", "seed audio folder")
