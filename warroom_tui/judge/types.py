"""The judge's types in one place: who is in the run, what a coder says, what a judge is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, NamedTuple, Protocol, Sequence, Union


class Roster(NamedTuple):
    """Who is in the run: aliases per agent (nickname, real name, model id), the speaker, who crashed;
    and what of the message at hand the speaker copied from what it had seen (character spans).
    A tuple: a batch makes one a message, and its hash is the key of a verdict met again."""

    aliases: tuple[tuple[str, ...], ...]
    speaker: int | None = None
    crashed: frozenset[int] = frozenset()
    copied: tuple[tuple[int, int], ...] = ()


@dataclass
class Coding:
    flags: dict[str, bool]
    levels: dict[str, str] = field(default_factory=dict)


class JudgeFailure(Exception):
    """A message a judge could not code (malformed answer, refusal, timeout): stored as uncoded."""


Verdict = Union[Coding, JudgeFailure]
"""One message's outcome: its coding, or why it could not be coded."""


class Judge(Protocol):
    """What codes messages: the built-in coder, an LLM judge, a panel. Callers never ask which one it is."""

    name: str
    kind: str  # builtin | llm | adjudicated

    async def code(self, text: str, roster: Roster) -> Coding:
        """One message (raises JudgeFailure when it cannot be coded)."""
        ...

    def code_many(self, jobs: Sequence[tuple[str, Roster]]) -> AsyncIterator[list[Verdict]]:
        """Many messages, in order, yielded in parts as they are done (each judge picks its own pace)."""
        ...

    async def aclose(self) -> None: ...


SIM = "sim/"
"""The simulator's model ids: a judge named so answers from a script (each flag about a quarter of the time)."""


def simulated_coder(name: str, config: dict | None = None) -> bool:
    """Whether a coder's labels are the simulator's (a `sim/` judge, or a panel with one): scripted, never a reading
    of the messages, so never taken for a report unless asked for, and marked when they are."""
    return name.startswith(SIM) or any(str(j).startswith(SIM) for j in (config or {}).get("judges", []))
