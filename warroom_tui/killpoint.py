"""A test hook for crash safety: `WARROOM_KILL_AT=phase:n` makes the process kill itself with SIGKILL
the n-th time it reaches `phase` (`start`: a run was stored, before its brief; `stream`: a token arrived;
`commit`: an agent's or the user's message was committed; `round`: a round's last message was committed,
before the next marker; `marker`: a round marker was committed; `run`: a run's end was stored).
`WARROOM_STOP_AT` does the same with SIGSTOP (the process stays alive but frozen)."""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def _parse(var: str) -> tuple[str, int] | None:
    value = os.environ.get(var, "")
    if not value:
        return None
    phase, _, n = value.partition(":")
    return phase, int(n or 1)


def reached(phase: str) -> None:
    _counts[phase] = _counts.get(phase, 0) + 1
    for var, sig in (("WARROOM_KILL_AT", signal.SIGKILL), ("WARROOM_STOP_AT", signal.SIGSTOP)):
        if _parse(var) == (phase, _counts[phase]):
            os.kill(os.getpid(), sig)
