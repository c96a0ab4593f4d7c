"""The judge's types in one place: who is in the run, what a coder says, what a judge is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Roster:
    """Who is in the run: aliases per agent (nickname, real name, model id), the speaker, who crashed."""

    aliases: tuple[tuple[str, ...], ...]
    speaker: int | None = None
    crashed: frozenset[int] = frozenset()


@dataclass
class Coding:
    flags: dict[str, bool]
    levels: dict[str, str] = field(default_factory=dict)


class JudgeFailure(Exception):
    """A message a judge could not code (malformed answer, refusal, timeout): stored as uncoded."""


class Judge(Protocol):
    name: str
    kind: str  # builtin | llm | adjudicated

    async def code(self, text: str, roster: Roster) -> Coding: ...

    async def aclose(self) -> None: ...
