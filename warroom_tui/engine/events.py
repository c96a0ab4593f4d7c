"""Typed events the engine emits; the store, the judge worker and the TUI subscribe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from warroom_tui.engine.status import Phase, RunStatus
from warroom_tui.engine.transcript import Message


@dataclass(frozen=True)
class Event:
    run_uid: str


@dataclass(frozen=True)
class RunStarted(Event):
    scenario: Any  # warroom_tui.scenario.Scenario
    replicate: int
    seed: int
    nicknames: list[str]
    simulated: bool
    resumed: bool = False
    """The run existed: it goes on from its stored messages."""


@dataclass(frozen=True)
class MessageAdded(Event):
    """A message that did not stream: the user's brief or interjection, a round marker."""
    message: Message


@dataclass(frozen=True)
class MessageStarted(Event):
    key: str
    agent: int
    round: int
    nickname: str
    at: float


@dataclass(frozen=True)
class TokenDelta(Event):
    key: str
    agent: int
    text: str


@dataclass(frozen=True)
class MessageDone(Event):
    key: str
    message: Message


@dataclass(frozen=True)
class AgentStatus(Event):
    """What an agent is doing now: waiting, typing, done, error, crashed, stopped, or an injected fault."""
    agent: int
    status: str


@dataclass(frozen=True)
class MessageStored(Event):
    """Published by the run session once the store holds the message (`message_id` is its row id)."""
    message_id: int
    message: Message


@dataclass(frozen=True)
class StateChanged(Event):
    """The run session's state as a person reads it (starting, loading models…, running, paused, done, …),
    with the phase it comes from and the detail (why it cannot start, what failed)."""
    state: str
    phase: Phase = Phase.RUNNING
    detail: str = ""


@dataclass(frozen=True)
class AgentCrashed(Event):
    """The agent left the run after repeated permanent errors."""
    agent: int
    round: int
    error: str


@dataclass(frozen=True)
class AgentRevived(Event):
    agent: int
    round: int


@dataclass(frozen=True)
class RoundDone(Event):
    round: int


@dataclass(frozen=True)
class ConditionChanged(Event):
    round: int
    """The first round the change applies to (it applies from the next turn)."""
    seq: int
    """Messages in the transcript when the change was made."""
    field: str
    old: Any
    new: Any
    agent: int | None = None


@dataclass(frozen=True)
class RunDone(Event):
    status: RunStatus
    rounds: int
    """The last round reached (round 0 answers the brief; a complete run reaches the scenario's `rounds`)."""
    messages: int
    reason: str = ""
    stats: dict = field(default_factory=dict)
