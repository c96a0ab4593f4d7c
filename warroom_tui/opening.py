"""Opening a command's store and codebook: one line naming the file on bad input. Light (no rich): `warroom
judge` starts its coding workers before it loads its terminal output."""

from __future__ import annotations

import sys
from pathlib import Path

from warroom_tui.errors import CliError
from warroom_tui.paths import default_db
from warroom_tui.store.db import Store, StoreError
from warroom_tui.untrusted import clean_text


async def _open_store(path: Path | None, read_only: bool = False, must_exist: bool = False) -> Store:
    """Reading commands open read-only: they never create or change a file."""
    path = path or default_db()
    try:
        if must_exist and not path.is_file() and not path.is_dir():  # a folder: the store says what it is
            raise CliError(f"{path}: no such database")
        return await Store.connect(path, read_only)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL in it, ...
        raise CliError(f"{path}: cannot open: {_why(exc)}") from None


def _why(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).lower()


async def _checked(store: Store) -> None:
    try:
        await store.check_pages()
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _codebook(path):
    from warroom_tui.judge.codebook import CodebookError, load_codebook, shipped_calibration_note

    try:
        codebook = load_codebook(path)
        note = shipped_calibration_note(path) if path is not None else None
    except CodebookError as exc:
        raise CliError(str(exc)) from None
    except (OSError, ValueError) as exc:  # a name (the codebook's, its calibration's) too long, or with a NUL
        raise CliError(f"{path}: cannot read: {_why(exc)}") from None
    if note:
        print(f"warroom: note: {clean_text(note)}", file=sys.stderr)
    return codebook


def db_flag(args) -> str:
    """` --db PATH` when the command was given one: what a suggested command must say to act on the same file."""
    import shlex

    db = getattr(args, "db", None)
    return f" --db {shlex.quote(str(db))}" if db else ""


def changed_codebook(exc: Exception, codebook: str | Path | None, db: Path | None, judges: list[str] | None) -> CliError:
    """The one line for a coder holding labels of another version of the codebook, with the command that codes
    every message again with this one (copied as printed, it acts on the same database, with the same judges)."""
    import shlex

    from warroom_tui.judge.codebook import codebook_file

    file = codebook_file(codebook)
    named = "".join(f" --judge {shlex.quote(j)}" for j in judges or []) if list(judges or []) != ["builtin"] else ""
    again = f"warroom judge{named} --codebook {shlex.quote(str(file))} --recode --db {shlex.quote(str(db or default_db()))}"
    return CliError(f"{file}: {exc}: judging with this one would mix two versions' labels under one name; use a"
                    f" codebook with a name of its own, or code every message again with this one ({again})")
