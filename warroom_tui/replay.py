"""Replay a stored run: the same events the engine emitted, at a chosen speed, read-only (no Textual)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from warroom_tui.engine import events as ev
from warroom_tui.engine.conditions import Crash, LiveConditions
from warroom_tui.engine.control import RunControl
from warroom_tui.engine.status import RunStatus
from warroom_tui.engine.transcript import Message
from warroom_tui.scenario import Scenario, ScenarioError, parse_scenario
from warroom_tui.store.db import Store
from warroom_tui.store.rows import AgentRow, EventRow, RunRow
from warroom_tui.untrusted import clean_text, one_line

BASE_RATE = 30.0  # words a second at speed 1


def scenario_of(run: RunRow, agents: list[AgentRow], messages: list[Message]) -> Scenario:
    """The scenario a live run was started with (its conditions included); for an imported run, one that
    describes it (names as they were stored)."""
    stored = run.meta.get("scenario")
    if stored:
        try:
            return parse_scenario(stored, source=f"run {run.uid}")
        except ScenarioError:
            pass
    rounds = max((m.round or 0 for m in messages if m.agent is not None), default=0)
    return parse_scenario({
        "name": _plain(run.scenario or run.uid) or "replay", "series": _plain(run.series[:40]),
        "brief": run.brief or "(no brief)", "rounds": rounds,
        "agents": [{"name": a.name, "model": a.model, "family": a.family, "base": a.base,
                    "recipe": a.recipe} for a in agents],
        "conditions": {"naming": [a.nickname for a in agents]},
    }, source=f"run {run.uid}")


def shown(run: RunRow, agents: list[AgentRow], messages: list[Message]) -> tuple[RunRow, list[AgentRow],
                                                                                 list[Message]]:
    """A stored run as a replay shows it: what it read from the store (imported data, model output) cleaned of
    escapes and control characters here, at the edge; the store keeps it as it was."""
    # names on one line (untrusted.one_line: a database from before the name checks may hold a line break)
    run = replace(run, scenario=one_line(run.scenario), series=one_line(run.series), brief=clean_text(run.brief))
    agents = [replace(a, name=one_line(a.name), nickname=one_line(a.nickname), model=one_line(a.model))
              for a in agents]
    messages = [replace(m, text=clean_text(m.text), nickname=one_line(m.nickname), name=one_line(m.name),
                        model=one_line(m.model)) for m in messages]
    return run, agents, messages


def _plain(name: str) -> str:
    """A stored name as a scenario accepts it (a run stored before names were checked may hold anything)."""
    name = clean_text(name).replace("/", "-").replace("\\", "-").replace("|", "-")
    return "" if name.strip() in (".", "..") else name


class Replayer(RunControl):
    """Drives the lab like an Engine would, from stored messages. Conditions cannot change."""

    read_only = True

    def __init__(self, run: RunRow, agents: list[AgentRow], messages: list[Message], events: list[EventRow],
                 speed: float = 1.0) -> None:
        super().__init__()
        self.run_info = run
        self.run_uid = run.uid
        self.messages = messages
        self.stored_events = events
        self.speed = speed
        self.scenario = scenario_of(run, agents, messages)
        self.roster = self.scenario.roster()
        self.conditions = LiveConditions.from_scenario(self.scenario)
        self.transcript: list[Message] = []
        self.active = set(range(len(self.roster)))
        self.round = 0

    @classmethod
    async def load(cls, store: Store, ref: str | int, speed: float = 1.0) -> "Replayer":
        run = await store.run(ref)
        if run is None:
            raise LookupError(f"no run {ref!r} in {store.path}")
        agents, messages = await store.agents(run.id), await store.messages(run.id)
        return cls(*shown(run, agents, messages), await store.events(run.id), speed)

    @property
    def nicknames(self) -> list[str]:
        return self.conditions.nicknames(self.roster)

    async def change(self, *args, **kwargs) -> None:
        raise PermissionError("a replay is read-only")

    async def say(self, text: str) -> None:
        raise PermissionError("a replay is read-only")

    async def _sleep(self, seconds: float) -> None:
        if self.speed > 0 and seconds > 0:
            await asyncio.sleep(seconds / self.speed)

    async def run(self) -> ev.RunDone:
        uid = self.run_uid
        await self.emit(ev.RunStarted(uid, scenario=self.scenario, replicate=self.run_info.replicate,
                                      seed=self.run_info.seed or 0, nicknames=self.nicknames,
                                      simulated=self.run_info.simulated))
        changes: dict[int | None, list[EventRow]] = {}
        for e in self.stored_events:
            if e.kind == "condition":
                changes.setdefault(e.seq, []).append(e)
        errors: dict[int, int] = {}
        last_round = None
        for m in self.messages:
            if m.round is not None and (m.agent is not None or m.sender == "system") and m.round != last_round:
                if last_round is not None and await self._round_done(last_round):
                    break
                last_round = self.round = m.round
            for e in changes.pop(m.seq, []):
                await self._change(e, m.seq)
            await self._gate.wait()
            if self._stopped:
                break
            self.transcript.append(m)
            if m.agent is None:
                await self.emit(ev.MessageAdded(uid, m))
                continue
            key = f"r{m.round}-{m.agent}"
            await self.emit(ev.MessageStarted(uid, key=key, agent=m.agent, round=m.round or 0,
                                              nickname=m.nickname, at=m.started_at))
            await self.emit(ev.AgentStatus(uid, m.agent, "typing"))
            if not m.is_error:
                for word in m.text.split(" "):
                    await self.emit(ev.TokenDelta(uid, key=key, agent=m.agent, text=word + " "))
                    await self._sleep(1.0 / BASE_RATE)
            await self.emit(ev.MessageDone(uid, key=key, message=m))
            await self.emit(ev.AgentStatus(uid, m.agent, "error" if m.is_error else "done"))
            if m.is_error and m.error_kind == "permanent":
                errors[m.agent] = errors.get(m.agent, 0) + 1
        else:
            if last_round is not None:
                await self._round_done(last_round)
        for e in [e for seq in sorted(changes, key=lambda s: s or 0) for e in changes[seq]]:  # after the last message
            await self._change(e, len(self.transcript))
        for agent in errors:
            last = [m for m in self.messages if m.agent == agent][-1]
            if last.is_error:  # it never answered again after its permanent errors: it left the run
                self.active.discard(agent)
                await self.emit(ev.AgentStatus(uid, agent, "crashed"))
                await self.emit(ev.AgentCrashed(uid, agent=agent, round=self.round, error="(replayed)"))
        status = self.stop_status if self._stopped else RunStatus.DONE
        done = ev.RunDone(uid, status=status, rounds=self.round, messages=len(self.transcript))
        await self.emit(done)
        return done

    async def _change(self, e: EventRow, seq: int) -> None:
        """A stored condition change, applied as it happened (the bar and the panels follow it)."""
        try:
            self.conditions.apply(e.field, Crash(kind=e.new, from_round=e.round or 0)
                                  if e.field == "crash" else e.new, e.agent)
        except (ValueError, TypeError):
            pass  # an odd stored change is still shown in the chat
        await self.emit(ev.ConditionChanged(self.run_uid, round=e.round or 0, seq=seq, field=e.field,
                                            old=e.old, new=e.new, agent=e.agent))

    async def _round_done(self, r: int) -> bool:
        self._pause_if_stepping()
        await self.emit(ev.RoundDone(self.run_uid, r))
        return self._stopped
