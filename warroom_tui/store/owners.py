"""Who is writing a running run: a process id, its host and a heartbeat. Only a run whose owner is gone
is taken up again (or shown as interrupted)."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from warroom_tui.engine.status import RunStatus
from warroom_tui.store.base import Queries

STALE = 30.0
"""Seconds without a heartbeat after which an owner counts as gone."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    heartbeat: float

    def alive(self, now: float | None = None) -> bool:
        if (now if now is not None else time.time()) - self.heartbeat > STALE:
            return False
        return pid_alive(self.pid) if self.host == socket.gethostname() else True


class OwnerQueries(Queries):
    async def claim(self, run_id: int) -> None:
        """This process now writes the run."""
        async with self.transaction():
            await self.db.execute("UPDATE runs SET owner_pid=?, owner_host=?, heartbeat=? WHERE id=?",
                                  (os.getpid(), socket.gethostname(), time.time(), run_id))

    async def beat(self, run_id: int) -> None:
        async with self.transaction():
            await self.db.execute("UPDATE runs SET heartbeat=? WHERE id=? AND owner_pid=?",
                                  (time.time(), run_id, os.getpid()))

    async def owner(self, run_id: int) -> Owner | None:
        rows = await self._all("SELECT owner_pid, owner_host, heartbeat FROM runs WHERE id=?", (run_id,))
        if not rows or rows[0][0] is None:
            return None
        return Owner(rows[0][0], rows[0][1], rows[0][2] or 0.0)

    async def reap(self) -> int:
        """Runs left `running` by a process that is gone become interrupted; returns how many."""
        rows = await self._all("SELECT id, owner_pid, owner_host, heartbeat FROM runs WHERE status=?",
                               (RunStatus.RUNNING.value,))
        dead = [r[0] for r in rows if r[1] is None or not Owner(r[1], r[2], r[3] or 0.0).alive()]
        if dead:
            async with self.transaction():
                await self.db.executemany("UPDATE runs SET status=? WHERE id=? AND status=?",
                                          [(RunStatus.INTERRUPTED.value, i, RunStatus.RUNNING.value) for i in dead])
        return len(dead)
