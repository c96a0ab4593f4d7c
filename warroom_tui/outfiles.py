"""Files an export writes: none already there replaced unless asked (`--force`), each appearing whole or not at all.

No store, no Textual: the store's writers and the CLI's commands both use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable


class TargetExists(Exception):
    """Files an export would replace, found before it wrote any: one line naming the first."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
        super().__init__(f"{paths[0]}: exists{more}; nothing written (--force replaces what is there)")


def check_free(paths: Iterable[Path], force: bool) -> None:
    """Refuse (TargetExists) when any of `paths` exists and `force` is not given."""
    if force:
        return
    found = [p for p in paths if p.exists() or p.is_symlink()]
    if found:
        raise TargetExists(found)


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def write_whole(path: Path, text: str) -> None:
    """`text` to `path` through a partial file beside it: an interrupted write leaves the old file, or none."""
    partial = partial_path(path)
    try:
        partial.write_text(text, encoding="utf-8", newline="")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
