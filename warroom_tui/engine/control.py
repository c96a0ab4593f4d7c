"""What the engine and the replayer share: subscribers, and pause / step / resume / stop."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from warroom_tui.engine import events as ev
from warroom_tui.engine.status import RunStatus

Subscriber = Callable[[ev.Event], Awaitable[None]]


class RunControl:
    def __init__(self) -> None:
        self.subscribers: list[Subscriber] = []
        self._gate = asyncio.Event()
        self._gate.set()
        self._step = False
        self._stopped = False
        self.stop_status = RunStatus.STOPPED
        self._tasks: list[asyncio.Task] = []

    def subscribe(self, fn: Subscriber) -> None:
        self.subscribers.append(fn)

    async def emit(self, event: ev.Event) -> None:
        for fn in self.subscribers:
            await fn(event)

    @property
    def paused(self) -> bool:
        return not self._gate.is_set()

    def pause(self) -> None:
        self._gate.clear()

    def resume(self) -> None:
        self._step = False
        self._gate.set()

    def step(self) -> None:
        """Run one more round, then pause."""
        self._step = True
        self._gate.set()

    def stop(self, status: RunStatus = RunStatus.STOPPED) -> None:
        """End the run after the turns in flight are cancelled; `status` is what the run is stored as."""
        self.stop_status = status
        self._stopped = True
        self._gate.set()
        for task in self._tasks:
            task.cancel()

    async def run(self) -> ev.RunDone:
        raise NotImplementedError

    def _pause_if_stepping(self) -> None:
        """At the end of a round: a step pauses before anyone hears the round is done."""
        if self._step:
            self._step = False
            self._gate.clear()
