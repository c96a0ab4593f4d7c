"""Files an export writes: none already there replaced unless asked (`--force`), never two of one export on one
name, each appearing whole or not at all.

No store, no Textual: the store's writers and the CLI's commands both use it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from warroom_tui.errors import CliError


class TargetExists(CliError):
    """Files an export would replace, found before it wrote any: one line naming the first (exit 2)."""

    def __init__(self, paths: list[Path], folder: bool = False, what: str = "", parent: bool = False) -> None:
        self.paths = paths
        more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
        super().__init__(f"{paths[0]}: is a folder{more}; nothing written (a file goes there)" if folder else
                         f"{paths[0]}: is not a folder{more}; nothing written (a folder goes there)" if parent
                         else f"{paths[0]}: {what}{more}; nothing written (--force replaces only a file)" if what else
                         f"{paths[0]}: exists{more}; nothing written (--force replaces what is there)")


def check_free(paths: Iterable[Path], force: bool) -> None:
    """Refuse (TargetExists) when any of `paths` exists and `force` is not given, or is a folder (never replaced)."""
    paths = list(paths)
    blocked = list(dict.fromkeys(b for p in paths if (b := _blocking_parent(p)) is not None))
    if blocked:  # found at the first file that goes there, when the files before were written
        raise TargetExists(blocked, parent=True)
    folders = [p for p in paths if p.is_dir() and not p.is_symlink()]
    if folders:
        raise TargetExists(folders, folder=True)
    odd = [p for p in paths if (p.exists() or p.is_symlink()) and not (p.is_file() and not p.is_symlink())]
    if force and odd:  # a device, a pipe, a link: --force replaces a file, nothing else
        raise TargetExists(odd, folder=False, what="is not a plain file")
    found = [] if force else [p for p in paths if p.exists() or p.is_symlink()]
    if found:
        raise TargetExists(found)


def _blocking_parent(path: Path) -> Path | None:
    """The nearest of `path`'s parents that exists, when it is not a folder (a file where a folder goes)."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            return None if parent.is_dir() else parent
    return None


def unused_path(path: Path, taken: set[str]) -> Path:
    """`path`, or `name~2.ext`, `name~3.ext`, … when this export already wrote it (compared case-blind, as some
    file systems do): an export never overwrites a file it wrote itself."""
    candidate, n = path, 1
    while str(candidate.resolve()).casefold() in taken:
        n += 1
        candidate = path.with_name(f"{path.stem}~{n}{path.suffix}")
    taken.add(str(candidate.resolve()).casefold())
    return candidate


@contextmanager
def whole(path: Path) -> Iterator[Path]:
    """A new file beside `path` (a name of its own, made exclusively: no link left there is followed) to write; it
    becomes `path` when the block ends, and is removed if it does not. A file it replaces keeps its permissions."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".partial")  # never too long
    os.close(fd)
    partial = Path(name)
    try:
        yield partial
        old = os.lstat(path) if os.path.lexists(path) else None
        # as the file it replaces, or as a file made the usual way (mkstemp's are the owner's alone)
        os.chmod(partial, stat.S_IMODE(old.st_mode) if old and stat.S_ISREG(old.st_mode) else 0o666 & ~_umask())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_whole(path: Path, text: str) -> None:
    """`text` to `path` through a partial file beside it: an interrupted write leaves the old file, or none."""
    with whole(path) as partial:
        partial.write_text(text, encoding="utf-8", newline="")
