"""What the store's query modules share: the connection, one write transaction at a time, JSON columns."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

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

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Everything written inside is committed together or not at all; nested uses join the outer one.

        It takes SQLite's write lock at once (BEGIN IMMEDIATE): another process writing the same file waits
        for it (up to the busy timeout) instead of failing half-way.
        """
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield
            return
        async with self._lock:
            self._owner = task
            try:
                await self.db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    await self.db.rollback()
                    raise
                await self.db.commit()
            finally:
                self._owner = None


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def load(text: str | None) -> Any:
    return json.loads(text) if text is not None else None
