"""Who a message replies to: the agents it names or @-mentions, otherwise the last message it had seen
from another agent (its partner for the partner-conditioned statistics).

A name counts only when it belongs to one agent (a model id shared by clones names none of them), and a
message naming every other agent of a run of three or more is a broadcast: it falls back to the last
message seen. Errors are never partners, and an agent named before it had said anything the speaker had
seen (a crashed one, whose every message is an error) is not one either: nothing of it reached the speaker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from warroom_tui.judge.builtin import read
from warroom_tui.judge.copying import seen_limit
from warroom_tui.judge.types import Roster

if TYPE_CHECKING:
    from warroom_tui.engine.transcript import Message

NAMED = "named"
SEEN = "seen"


def named(text: str, aliases: tuple[tuple[str, ...], ...], speaker: int) -> tuple[int, ...]:
    """Agents other than the speaker that `text` names (each name owned by one agent)."""
    r = read(text, Roster(aliases=aliases, speaker=speaker), None)
    found = {min(who) for _, who in r.mentions if len(who) == 1 and speaker not in who}
    others = len(aliases) - 1
    if others >= 2 and len(found) >= others:
        return ()  # a broadcast to everyone
    return tuple(sorted(found))


def last_seen(m: "Message", earlier: Sequence["Message"]) -> int | None:
    """The agent of the last message from another agent that `m`'s agent had seen (errors left out)."""
    limit = seen_limit(m.seq, m.seen_upto)
    for p in reversed(earlier):
        if p.seq <= limit and p.agent is not None and p.agent != m.agent and not p.is_error:
            return p.agent
    return None


def heard(names: tuple[int, ...], m: "Message", earlier: Sequence["Message"]) -> tuple[int, ...]:
    """Those of `names` with a message (not an error) that `m`'s agent had seen."""
    limit, wanted = seen_limit(m.seq, m.seen_upto), set(names)
    found = set()
    for p in earlier:
        if p.agent in wanted and p.seq <= limit and not p.is_error:
            found.add(p.agent)
            if len(found) == len(wanted):
                break
    return tuple(a for a in names if a in found)


def partners_of(m: "Message", earlier: Sequence["Message"],
                aliases: tuple[tuple[str, ...], ...]) -> tuple[tuple[int, ...], str]:
    """(partner agent indices, how they were found: named | seen | '' for none)."""
    if m.agent is None or m.is_error:
        return (), ""
    names = heard(named(m.text, aliases, m.agent), m, earlier)
    if names:
        return names, NAMED
    seen = last_seen(m, earlier)
    return ((seen,), SEEN) if seen is not None else ((), "")


def measure_partners(messages: list["Message"], aliases: tuple[tuple[str, ...], ...]) -> None:
    """Set the partners of every agent message of a whole transcript (in seq order)."""
    for k, m in enumerate(messages):
        if m.agent is not None:
            m.partners, m.partner_how = partners_of(m, messages[:k], aliases)


def dump_partners(partners: tuple[int, ...] | None) -> str | None:
    return None if partners is None else ",".join(map(str, partners))


def load_partners(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    return tuple(int(x) for x in text.split(",") if x)
