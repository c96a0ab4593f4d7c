"""The debate protocol (Du et al. 2023; 2025): a task with a known answer, answered in rounds.

Round 0: every agent answers the task (the run's brief). Each later round, an agent is sent the task, its own
last answer, and a summary of the others' last answers under their names (a plain concatenation), then its
role's instruction (a critic reviews the named answers). The vote of a round is the plurality of its answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from warroom_tui.analysis.debate import RoundScore, score_rounds
from warroom_tui.engine import events as ev
from warroom_tui.engine.prompts import PromptView, system_prompt
from warroom_tui.engine.transcript import Message
from warroom_tui.protocol import DebateSpec, RoleSpec, TaskSpec, canonical, distractors, extract_answer
from warroom_tui.providers.base import DebateFacts

PEER_CHARS = 800
"""Each peer's answer is cut to this many characters in the summary (small models have small windows)."""


def brief(debate: DebateSpec, task: TaskSpec) -> str:
    return f"{task.question}\n\n{debate.instruction}"


def last_answers(seen: list[Message], round_: int) -> dict[int, Message]:
    """Each agent's last finished (not failed) message in a round."""
    out: dict[int, Message] = {}
    for m in seen:
        if m.agent is not None and m.round == round_ and not m.is_error:
            out[m.agent] = m
    return out


def summary(previous: dict[int, Message], me: int, nicknames: list[str]) -> str:
    parts = []
    for agent, m in sorted(previous.items()):
        if agent != me and agent < len(nicknames):
            text = m.text if len(m.text) <= PEER_CHARS else m.text[:PEER_CHARS] + " …"
            parts.append(f"[{nicknames[agent]}]: {text}")
    return "\n\n".join(parts)


SUMMARY = "summary"
"""The sender of a summary message (agent None: it is nobody's answer)."""


def written_summary(seen: list[Message], round_: int) -> Message | None:
    """The summariser's summary sent in this round (None: none, or it failed; the agents get the concatenation)."""
    return next((m for m in reversed(seen) if m.sender == SUMMARY and m.round == round_ and not m.is_error), None)


def wants_summary(debate: DebateSpec | None, transcript: list[Message], round_: int) -> bool:
    return (debate is not None and debate.summary == "agent" and round_ > 0
            and not any(m.sender == SUMMARY and m.round == round_ for m in transcript))


def summary_messages(view: PromptView, seen: list[Message], round_: int, debate: DebateSpec) -> list[dict]:
    """The summariser's call: its study prompt, then every agent's last answer under its name."""
    others = [n for i, n in enumerate(view.nicknames) if i != view.me]
    system = system_prompt(view.scaffolding, view.nicknames[view.me], others)
    answers = summary(last_answers(seen, round_ - 1), -1, view.nicknames)
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": f"{debate.summary_prompt}\n\n{answers}"}]


def debate_messages(view: PromptView, seen: list[Message], round_: int, debate: DebateSpec,
                    role: RoleSpec | None) -> list[dict]:
    others = [n for i, n in enumerate(view.nicknames) if i != view.me]
    system = "\n".join(p for p in (system_prompt(view.scaffolding, view.nicknames[view.me], others),
                                   role.prompt if role else "") if p)
    task = next((m.text for m in seen if m.sender == "user"), "")
    turns = [{"role": "user", "content": task}]
    if round_ > 0 and view.scaffolding != "isolated":
        previous = last_answers(seen, round_ - 1)
        if view.me in previous:
            turns.append({"role": "assistant", "content": previous[view.me].text})
        instruction = (role.debate if role and role.debate else debate.round_prompt) + "\n" + debate.instruction
        written = written_summary(seen, round_) if debate.summary == "agent" else None
        peers = (f"Summary of the last round's answers, by {written.nickname}:\n{written.text}" if written
                 else summary(previous, view.me, view.nicknames))
        turns.append({"role": "user", "content": (peers + "\n\n" if peers else "") + instruction})
    return ([{"role": "system", "content": system}] if system else []) + turns


def facts(seen: list[Message], me: int, round_: int, nicknames: list[str], kinds: list[str],
          task: TaskSpec, key: str, summarise: bool = False) -> DebateFacts:
    """`summarise`: the summariser's call, whose peers are every agent (itself included)."""
    previous = last_answers(seen, round_ - 1) if round_ > 0 else {}
    own = previous.get(me)
    return DebateFacts(
        task=key, answer=canonical(task), distractors=distractors(task),
        own=extract_answer(own.text, task) if own else None,
        peers=tuple((nicknames[a], extract_answer(m.text, task), kinds[a]) for a, m in sorted(previous.items())
                    if (a != me or summarise) and a < len(nicknames)), summarise=summarise)


def scored(transcript: list[Message], task: TaskSpec) -> list[RoundScore]:
    """Per-round scores of a run's messages so far."""
    return score_rounds([(m.round or 0, m.agent, extract_answer(m.text, task))
                         for m in transcript if m.agent is not None and not m.is_error], canonical(task))


@dataclass(frozen=True)
class DebateSnapshot(ev.Event):
    """The debate's scores so far, published by the run session after each message (the lab shows them)."""
    answer: str
    rounds: tuple[RoundScore, ...]


class DebateTracker:
    """A run-session subscriber: scores the debate as messages land and publishes `DebateSnapshot`s."""

    def __init__(self, publish: Callable[[ev.Event], Awaitable[None]],
                 transcript: Callable[[], list[Message]]) -> None:
        self.publish = publish
        self.transcript = transcript
        """The run's messages so far (a resumed run's stored ones included)."""
        self.task: TaskSpec | None = None

    async def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            s = event.scenario
            self.task = s.debate.pick(event.replicate)[1] if s.mode == "debate" and s.debate is not None else None
        elif isinstance(event, ev.MessageStored) and self.task is not None and event.message.agent is not None:
            await self.publish(DebateSnapshot(event.run_uid, canonical(self.task),
                                              tuple(scored(self.transcript(), self.task))))
