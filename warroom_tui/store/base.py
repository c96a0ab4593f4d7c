"""What the store's query modules share: the connection, one write transaction at a time, JSON columns."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, cast

import aiosqlite


class StoreError(Exception):
    """One line for the user: the database cannot be used as asked."""


class Queries:
    db: aiosqlite.Connection

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task | None = None

    async def _all(self, sql: str, args: tuple = ()) -> list[aiosqlite.Row]:
        return list(await self.db.execute_fetchall(sql, args))

    async def _tuples(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Rows as plain tuples: for the large reads, where a Row object each costs more than the query."""
        async with self.db.cursor() as cur:
            cur.row_factory = None
            await cur.execute(sql, args)
            return cast(list[tuple], list(await cur.fetchall()))  # no row factory: tuples

    @asynccontextmanager
    async def transaction(self, checks_keys: bool = True) -> AsyncIterator[bool]:
        """Everything written inside is committed together or not at all; nested uses join the outer one.

        It takes SQLite's write lock at once (BEGIN IMMEDIATE): another process writing the same file waits
        for it (up to the busy timeout) instead of failing half-way.

        `checks_keys=False` (bulk writes): SQLite does not check the foreign keys of each row written, and the
        caller checks them for the whole write before it ends, when it is told so (True: it must check).
        Only the writer holding the lock runs in between, so nothing else is written unchecked. A nested use
        joins with the outer transaction's checks on (False: SQLite checks).
        """
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield False
            return
        async with self._lock:
            self._owner = task
            try:
                if not checks_keys:  # a connection setting, which SQLite ignores inside a transaction
                    await self.db.execute("PRAGMA foreign_keys=OFF")
                try:
                    await self.db.execute("BEGIN IMMEDIATE")
                    try:
                        yield not checks_keys
                    except BaseException:
                        await self.db.rollback()
                        raise
                    await self.db.commit()
                finally:
                    if not checks_keys:
                        if self.db.in_transaction:  # a failed COMMIT may leave it open, and the setting unchanged
                            await self.db.rollback()
                        await self.db.execute("PRAGMA foreign_keys=ON")
            finally:
                self._owner = None


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def load(text: str | None) -> Any:
    return json.loads(text) if text is not None else None
