"""Where warroom-tui keeps its data: platformdirs defaults, overridable."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir

APP = "warroom-tui"


def default_db() -> Path:
    override = os.environ.get("WARROOM_DB")
    if override:
        return Path(override)
    return Path(user_data_dir(APP)) / "warroom.db"


def cache_dir() -> Path:
    override = os.environ.get("WARROOM_CACHE")
    path = Path(override) if override else Path(user_cache_dir(APP))
    path.mkdir(parents=True, exist_ok=True)
    return path
