"""What the store returns: small frozen rows, one per table (plus a few joined views)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from warroom_tui.engine.status import RunStatus
from warroom_tui.modelid import is_simulated


@dataclass(frozen=True)
class RunRow:
    id: int
    uid: str
    scenario: str
    series: str
    source: str
    """live | import"""
    source_file: str
    replicate: int
    seed: int | None
    simulated: bool
    status: RunStatus
    reason: str
    brief: str
    conditions: dict[str, Any]
    """The conditions the run started with."""
    meta: dict[str, Any]
    """Scenario (live runs) or the study's metadata (imported runs, for the exporter)."""
    started_at: str
    finished_at: str | None
    digest: str | None = None
    """Imported runs: the hash of the transcript they came from (their identity)."""
    spec: str | None = None
    """Live runs: the hash of their spec (runspec.py), their identity for resuming."""
    n_messages: int = 0
    """Agent messages (filled by `Store.runs`)."""
    cell: dict[str, Any] = field(default_factory=dict)
    """The sweep cell the run belongs to (factor -> level); empty outside a sweep."""


@dataclass(frozen=True)
class AgentRow:
    idx: int
    key: str
    name: str
    nickname: str
    model: str
    family: str = ""
    recipe: str = ""
    kind: str = "chat"
    base: str = ""
    """The base checkpoint (see the scenario's agent tags)."""
    temperature: float | None = None
    study: dict[str, Any] = field(default_factory=dict)
    """Imported runs: the transcript's other agent fields, read only by the study exporter."""

    @property
    def simulated(self) -> bool:
        return is_simulated(self.model)


@dataclass(frozen=True)
class EventRow:
    id: int
    round: int | None
    seq: int | None
    kind: str
    """condition | crashed | revived"""
    field: str
    agent: int | None
    old: Any
    new: Any
    at: str


@dataclass(frozen=True)
class CoderRow:
    id: int
    name: str
    kind: str
    """builtin | llm | human | adjudicated"""
    codebook: str
    config: dict[str, Any]


class CodingRow(NamedTuple):  # a tuple: a batch of coding writes thousands, from worker processes
    """One coder's verdict on one message: coded with flags, or uncoded with a reason."""

    message_id: int
    status: str
    """coded | uncoded"""
    reason: str = ""
    flags: Mapping[str, tuple[bool, str]] = MappingProxyType({})
    """flag -> (value, level)"""


class UncodedMessage(NamedTuple):  # a tuple: a batch lists thousands (in its transcript's order)
    id: int
    run_id: int
    agent: int
    text: str
    copied: str = ""
    """The copied spans, as stored (copying.load_spans reads them)."""


@dataclass(frozen=True)
class RunRoster:
    """Who was in a run, as the coders need it (one light query for every run of a store)."""

    agents: tuple[tuple[str, ...], ...]
    """Per agent index: nickname, display name, model id, then any other nickname it had in the run."""
    crashed: frozenset[int]


@dataclass(frozen=True)
class MessageView:
    """One agent message with its run's series (the human coding screen)."""

    id: int
    run_id: int
    seq: int
    round: int | None
    nickname: str
    text: str
    series: str


@dataclass(frozen=True)
class LabelledRun:
    """A finished run as the statistics need it."""

    run: RunRow
    crashed: bool
    """An agent failed permanently."""
    agents: dict[int, str]
    """agent index -> display name."""
