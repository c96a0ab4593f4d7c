"""Opening a command's store and codebook: one line naming the file on bad input. Light (no rich): `warroom
judge` starts its coding workers before it loads its terminal output."""

from __future__ import annotations

from pathlib import Path

from warroom_tui.errors import CliError
from warroom_tui.paths import default_db
from warroom_tui.store.db import Store, StoreError


async def _open_store(path: Path | None, read_only: bool = False, must_exist: bool = False) -> Store:
    """Reading commands open read-only: they never create or change a file."""
    path = path or default_db()
    if must_exist and not path.is_file():
        raise CliError(f"{path}: no such database")
    try:
        return await Store.connect(path, read_only)
    except StoreError as exc:
        raise CliError(str(exc)) from None


async def _checked(store: Store) -> None:
    try:
        await store.check_pages()
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _codebook(path):
    from warroom_tui.judge.codebook import CodebookError, load_codebook

    try:
        return load_codebook(path)
    except CodebookError as exc:
        raise CliError(str(exc)) from None


def db_flag(args) -> str:
    """` --db PATH` when the command was given one: what a suggested command must say to act on the same file."""
    import shlex

    db = getattr(args, "db", None)
    return f" --db {shlex.quote(str(db))}" if db else ""


def changed_codebook(exc: Exception, codebook: str | Path | None, recode: str) -> CliError:
    """The one line for a coder holding labels of another version of the codebook (`recode`: how to code every
    message again with this one)."""
    from warroom_tui.judge.codebook import codebook_file

    return CliError(f"{codebook_file(codebook)}: {exc}: judging with this one would mix two versions' labels under"
                    f" one name; use a codebook with a name of its own, or {recode}")
