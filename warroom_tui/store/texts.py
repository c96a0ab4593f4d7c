"""Message texts read without the event loop, on a connection of the calling process: a forked coding worker
reads the texts of its own chunks, in parallel with the others, instead of the parent reading them all first."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Sequence

_OPEN: dict[tuple[int, str], sqlite3.Connection] = {}
"""(process id, database file) -> connection: a forked process never uses its parent's."""


def message_texts(path: Path, ids: Sequence[int]) -> list[tuple[str, str]]:
    """(text, copied spans as stored) of these messages, in the order asked (both "" for one deleted since it
    was listed: storing its coding then fails, as for any message deleted while it is coded)."""
    key = (os.getpid(), str(path))
    db = _OPEN.get(key)
    if db is None:
        db = _OPEN[key] = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
        db.execute("PRAGMA query_only=ON")
    found = {i: (text, copied) for i, text, copied in db.execute(
        "SELECT id, text, copied FROM messages WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(list(ids)),))}
    return [found.get(i, ("", "")) for i in ids]


def close_texts(path: Path) -> None:
    """Close this process' connection to the file, if it opened one (a forked worker's goes with it)."""
    db = _OPEN.pop((os.getpid(), str(path)), None)
    if db is not None:
        db.close()
