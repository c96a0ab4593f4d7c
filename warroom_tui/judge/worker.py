"""The background judge: codes each stored message as it lands, off the chat's critical path.

It subscribes to a run session's stream (the subscriber only enqueues, so a slow judge never delays
the chat), codes `MessageStored` in its own task (the built-in coder in a thread), stores the labels
(unless it was given no store: a replay writes nothing) and publishes immutable `JudgeSnapshot`s.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import numpy as np

from warroom_tui.analysis.agreement import flag_kappas
from warroom_tui.analysis.profiles import agent_vs_rest, mean_pairwise_cosine, profile
from warroom_tui.engine import events as ev
from warroom_tui.judge.codebook import Codebook
from warroom_tui.judge.types import JudgeFailure, Roster
from warroom_tui.judge.snapshot import AgentTally, JudgeSnapshot
from warroom_tui.store.db import Store
from warroom_tui.store.rows import CodingRow


@dataclass
class RunState:
    aliases: list[list[str]]
    crashed: set[int] = field(default_factory=set)
    labels: dict[str, dict[int, list[dict[str, bool]]]] = field(default_factory=dict)
    """judge -> agent -> labels of its coded messages, in order."""
    by_seq: dict[str, dict[int, dict[str, bool]]] = field(default_factory=dict)
    """judge -> message seq -> labels (for inter-judge kappa)."""
    group: list[tuple[int, float]] = field(default_factory=list)
    """(round, mean pairwise cosine of the primary judge's profiles)."""
    per_agent: list[tuple[int, dict[int, float]]] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)
    """Rounds where a condition changed."""
    uncoded: int = 0


class JudgeWorker:
    def __init__(self, store: Store | None, judges: list, codebook: Codebook,
                 publish: Callable[[JudgeSnapshot], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.judges = judges
        self.codebook = codebook
        self.publish = publish
        self.queue: asyncio.Queue = asyncio.Queue()
        self.runs: dict[str, RunState] = {}
        self._coder_ids: dict[str, int] = {}
        self.busy = False
        self.failures: list[str] = []

    @property
    def primary(self) -> str:
        return self.judges[0].name

    @property
    def idle(self) -> bool:
        return self.queue.empty() and not self.busy

    # -- the session subscriber: cheap, never waits on a judge -------------------
    async def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            roster = event.scenario.roster()
            self.runs[event.run_uid] = RunState(
                aliases=[[event.nicknames[i], a.name, a.model, a.model.rsplit("/", 1)[-1]] for i, a in enumerate(roster)])
            return
        state = self.runs.get(event.run_uid)
        if state is None:
            return
        if isinstance(event, ev.MessageStored) and (agent := event.message.agent) is not None:
            m = event.message
            if m.is_error:
                if m.error_kind == "permanent":
                    state.crashed.add(agent)
                return
            self.queue.put_nowait(("message", event.run_uid, event))
        elif isinstance(event, ev.ConditionChanged):
            state.marks.append(event.round)
            if event.field == "naming":
                self.queue.put_nowait(("naming", event.run_uid, event.new))
        elif isinstance(event, ev.RoundDone):
            self.queue.put_nowait(("round", event.run_uid, event.round))

    # -- the worker task --------------------------------------------------------
    async def run(self) -> None:
        while True:
            item = await self.queue.get()
            self.busy = True
            try:
                await self._handle(*item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad item must not stop the judging of the rest
                self.failures.append(f"{type(exc).__name__}: {exc}")
            finally:
                self.busy = False
                self.queue.task_done()

    async def drain(self) -> None:
        await self.queue.join()

    async def _handle(self, kind: str, run_uid: str, payload) -> None:
        state = self.runs[run_uid]
        if kind == "naming":
            names = payload if isinstance(payload, list) else None
            for i, aliases in enumerate(state.aliases):
                if names and i < len(names) and names[i] not in aliases:
                    aliases.append(names[i])
            return
        if kind == "round":
            self._round_similarity(state, payload)
            await self._publish(run_uid, None)
            return
        m, mid = payload.message, payload.message_id
        roster = Roster(aliases=tuple(tuple(a) for a in state.aliases), speaker=m.agent,
                        crashed=frozenset(state.crashed), copied=m.copied)
        for judge in self.judges:
            try:
                coding = await judge.code(m.text, roster)
            except JudgeFailure as exc:
                state.uncoded += 1
                if self.store:
                    await self.store.save_codings(await self._cid(judge), [CodingRow(mid, "uncoded", str(exc))])
                continue
            state.labels.setdefault(judge.name, {}).setdefault(m.agent, []).append(coding.flags)
            state.by_seq.setdefault(judge.name, {})[m.seq] = coding.flags
            if self.store:
                flags = {f: (v, coding.levels.get(f, "")) for f, v in coding.flags.items()}
                await self.store.save_codings(await self._cid(judge), [CodingRow(mid, "coded", "", flags)])
        await self._publish(run_uid, m.agent)

    async def _cid(self, judge) -> int:
        if judge.name not in self._coder_ids:
            assert self.store is not None
            self._coder_ids[judge.name] = await self.store.coder_id(judge.name, judge.kind, self.codebook.name,
                                                                    digest=self.codebook.digest(judge.kind))
        return self._coder_ids[judge.name]

    def _round_similarity(self, state: RunState, round_: int) -> None:
        profiles = self.profiles(state)
        state.group.append((round_, mean_pairwise_cosine(profiles)))
        state.per_agent.append((round_, agent_vs_rest(profiles)))

    async def _publish(self, run_uid: str, agent: int | None) -> None:
        if self.publish is not None:
            await self.publish(self.snapshot(run_uid, agent))

    def snapshot(self, run_uid: str, agent: int | None = None) -> JudgeSnapshot:
        state = self.runs[run_uid]
        tallies = []
        for i in range(len(state.aliases)):
            n, counts = self.tally(state, i)
            tallies.append(AgentTally(n, tuple(counts.items()),
                                      tuple(snap.get(i, float("nan")) for _, snap in state.per_agent)))
        return JudgeSnapshot(run_uid, judge=self.primary, agent=agent, tallies=tuple(tallies),
                             group=tuple(state.group), marks=tuple(state.marks),
                             kappa=tuple(self.kappas(state).items()), uncoded=state.uncoded)

    # -- views ------------------------------------------------------------------
    def profiles(self, state: RunState, judge: str | None = None) -> dict[int, np.ndarray]:
        traits = self.codebook.trait_ids
        labels = state.labels.get(judge or self.primary, {})
        return {a: profile(ls, traits) for a, ls in labels.items() if ls}

    def tally(self, state: RunState, agent: int, judge: str | None = None) -> tuple[int, dict[str, int]]:
        labels = state.labels.get(judge or self.primary, {}).get(agent, [])
        return len(labels), {f: sum(l.get(f, False) for l in labels) for f in self.codebook.ids}

    def kappas(self, state: RunState) -> dict[str, float]:
        """Mean kappa over flags for the first two judges, over messages both coded."""
        names = [j.name for j in self.judges]
        if len(names) < 2:
            return {}
        ks = flag_kappas(state.by_seq.get(names[0], {}), state.by_seq.get(names[1], {}), self.codebook.ids)
        return {f: k for f, k in ks.items() if f != "n"} if ks["n"] else {}
