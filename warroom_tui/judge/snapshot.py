"""What the live judge publishes: immutable snapshots, computed once, rendered by any front end."""

from __future__ import annotations

from dataclasses import dataclass

from warroom_tui.engine import events as ev


@dataclass(frozen=True)
class AgentTally:
    coded: int
    counts: tuple[tuple[str, int], ...]
    """(flag id, messages with the flag), in codebook order."""
    similarity: tuple[float, ...]
    """Per round: this agent's profile against the rest (nan when unknown)."""


@dataclass(frozen=True)
class JudgeSnapshot(ev.Event):
    """What the judges know about a run so far, computed once; `agent` is the agent just coded, if any."""
    judge: str
    agent: int | None
    tallies: tuple[AgentTally, ...]
    group: tuple[tuple[int, float], ...]
    marks: tuple[int, ...]
    kappa: tuple[tuple[str, float], ...]
    uncoded: int
