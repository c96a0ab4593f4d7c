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
