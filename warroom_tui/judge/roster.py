"""Who is in a stored run, as the coders need it."""

from __future__ import annotations

from warroom_tui.engine.transcript import Message
from warroom_tui.judge.types import Roster
from warroom_tui.store.rows import AgentRow


def run_aliases(agents: list[AgentRow], messages: list[Message]) -> tuple[tuple[str, ...], ...]:
    """Every name an agent went by: nicknames it had in the run, display name, model id."""
    names: list[list[str]] = [[a.nickname, a.name, a.model, a.model.rsplit("/", 1)[-1]] for a in agents]
    for m in messages:
        if m.agent is not None and m.agent < len(names) and m.nickname and m.nickname not in names[m.agent]:
            names[m.agent].append(m.nickname)
    return tuple(tuple(dict.fromkeys(n for n in group if n)) for group in names)


def crashed_agents(messages: list[Message]) -> frozenset[int]:
    return frozenset(m.agent for m in messages if m.agent is not None and m.is_error and m.error_kind == "permanent")


def roster_for(aliases, crashed: frozenset[int], speaker: int | None, copied=()) -> Roster:
    return Roster(aliases=aliases, speaker=speaker, crashed=crashed, copied=copied)
