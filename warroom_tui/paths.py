"""Where warroom-tui keeps its data: platformdirs defaults, overridable."""

from __future__ import annotations

import os
from pathlib import Path

APP = "warroom-tui"


def default_db() -> Path:
    override = os.environ.get("WARROOM_DB")
    if override:
        return Path(override)
    from platformdirs import user_data_dir  # only when no --db or $WARROOM_DB says where (5 ms of imports)

    return Path(user_data_dir(APP)) / "warroom.db"


def cache_dir() -> Path:
    override = os.environ.get("WARROOM_CACHE")
    if override:
        path = Path(override)
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir(APP))
    path.mkdir(parents=True, exist_ok=True)
    return path
