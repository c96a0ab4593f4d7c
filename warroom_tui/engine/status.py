"""A run's status: one enum, stored by value, never decorated or parsed."""

from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"
    """Ended by the user (the lab's `e`, quitting the lab)."""
    FAILED = "failed"
    """Every agent failed."""
    INTERRUPTED = "interrupted"
    """The process was interrupted (Ctrl+C, SIGTERM) or died; the run can be resumed."""

    @property
    def finished(self) -> bool:
        """A batch does not run it again."""
        return self in (RunStatus.DONE, RunStatus.FAILED)

    def __str__(self) -> str:
        return self.value


class Phase(str, Enum):
    """Where a run session is in its life; the state a person reads is built from it, never parsed back."""
    STARTING = "starting"
    LOADING = "loading models…"
    RUNNING = "running"
    REPLAYING = "replaying"
    CANNOT_START = "cannot start"
    """Something the run needs is missing (a key, a bundled model, a server): nothing was stored."""
    FAILED_TO_START = "failed to start"
    FAILED = "failed"
    ENDED = "ended"
    """The run ended; the session's `done` holds its status."""

    @property
    def broken(self) -> bool:
        return self in (Phase.CANNOT_START, Phase.FAILED_TO_START, Phase.FAILED)
