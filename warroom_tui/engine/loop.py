"""The study's conversation loop.

Round 0 answers the brief; rounds 1..N follow. Within a round agents start
`stagger` apart and run concurrently; each sees the transcript as it stood when
its own call started. A message joins the transcript when it is finished.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
import zlib
from contextlib import aclosing
from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import RealClock, VirtualClock
from warroom_tui.engine import debate
from warroom_tui.engine.conditions import Crash, LiveConditions
from warroom_tui.engine.roles import role_kind, role_spec
from warroom_tui.engine.control import RunControl
from warroom_tui.engine.status import RunStatus
from warroom_tui.engine.prompts import (ERROR_MARK, PromptView, chat_context, chat_messages, completion_prompt,
                                        fit_context, language)
from warroom_tui.engine.transcript import Message, clean_text, strip_speaker, strip_think
from warroom_tui.modelid import is_simulated
from warroom_tui.providers.base import ModelCall, Provider, ProviderError
from warroom_tui.scenario import Scenario, resolve_agent

VIRTUAL_LATENCY = 0.4  # seconds before the first token, in virtual time
VIRTUAL_RATE = 60.0  # tokens a second, in virtual time


TIMING_OUT = "timing out (injected)"


HARD_REPLY_CAP = 200_000
"""Characters a stored reply may hold, whatever its max_tokens."""


def reply_cap(max_tokens: int) -> int:
    """The characters a reply may have: generous for `max_tokens` (16 a token), never past the hard cap."""
    return min(HARD_REPLY_CAP, 16 * max_tokens + 256)


def agent_key(index: int) -> str:
    return f"agent{index + 1}"


def round_marker(r: int) -> str:
    """The chat's marker before round r (r >= 1), numbered as everything a person reads: round 0 answers
    the brief. Only the study JSON export writes the study tool's own `Round r+1`."""
    return f"— Round {r} —"


class Engine(RunControl):
    def __init__(
        self,
        scenario: Scenario,
        provider: Provider,
        *,
        clock: RealClock | VirtualClock | None = None,
        replicate: int = 0,
        seed: int | None = None,
        run_uid: str | None = None,
        resume: list[Message] | None = None,
    ) -> None:
        super().__init__()
        if scenario.mode == "debate" and scenario.debate is not None:  # replicate i debates task i
            k, task = scenario.debate.pick(replicate)
            scenario = scenario.model_copy(update={"brief": debate.brief(scenario.debate, task),
                                                   "debate": scenario.debate.model_copy(update={"task": k})})
        self.scenario = scenario
        self.role_table = scenario.role_prompt_table()
        self.roster = scenario.roster()
        self.provider = provider
        self.clock = clock or RealClock()
        self.replicate = replicate
        self.seed = scenario.seed + replicate if seed is None else seed
        self.run_uid = run_uid or f"{scenario.label}-{uuid.uuid4().hex[:10]}"
        self.conditions = LiveConditions.from_scenario(scenario)
        self.transcript: list[Message] = []
        self.active: set[int] = set(range(len(self.roster)))
        self.status: dict[int, str] = {i: "waiting" for i in self.active}
        self.errors: dict[int, int] = {i: 0 for i in self.active}
        self.round = 0
        self._started_this_round: set[int] = set()
        self._slots_done: set[int] = set()
        """Agents whose turn in the current round has come (spoken, speaking, or skipped as inactive)."""
        self._markers: set[int] = set()
        """Rounds whose marker is in the transcript."""
        self._commit_lock = asyncio.Lock()
        self._resume = resume
        self._spoke: set[int] = set()  # agents that already spoke in the round a resumed run goes on with

    @property
    def nicknames(self) -> list[str]:
        return self.conditions.nicknames(self.roster)

    @property
    def simulated(self) -> bool:
        return any(is_simulated(a.model) for a in self.roster)

    async def say(self, text: str) -> Message:
        """The user writes into the chat; turns that start later see it."""
        msg = Message(seq=0, sender="user", text=clean_text(text), round=self.round,
                      started_at=self.clock.now(), finished_at=self.clock.now())
        await self._commit(msg, added=True)
        return msg

    async def change(self, field: str, value, agent: int | None = None) -> None:
        """Change a condition: naming, scaffolding, temperature, crash, revive. Applies from the next turn."""
        if field == "crash":
            assert agent is not None
            crash = value if isinstance(value, Crash) else Crash(kind=str(value))
            crash.from_round = max(crash.from_round, self._effective_round(agent))
            old = self.conditions.apply(field, crash, agent)
            value = crash.kind
        else:
            old = self.conditions.apply(field, value, agent)
        if field == "revive":
            assert agent is not None
            self.errors[agent] = 0
            if agent not in self.active:
                self.active.add(agent)
                await self._set_status(agent, "waiting")
                await self.emit(ev.AgentRevived(self.run_uid, agent, self._effective_round(agent)))
        await self.emit(ev.ConditionChanged(
            self.run_uid, round=self._effective_round(agent), seq=len(self.transcript),
            field=field, old=old, new=value, agent=agent))

    def _effective_round(self, agent: int | None = None) -> int:
        """The first round a change applies to: for one agent, the round its next turn belongs to;
        for everyone, the round of the first turn still to start."""
        if agent is not None:
            return self.round + 1 if agent in self._slots_done else self.round
        pending = self.active - self._slots_done
        return self.round if pending else self.round + 1

    async def _set_status(self, agent: int, status: str) -> None:
        if self.status.get(agent) != status:
            self.status[agent] = status
            await self.emit(ev.AgentStatus(self.run_uid, agent, status))

    # -- the run -----------------------------------------------------------
    async def run(self) -> ev.RunDone:
        s = self.scenario
        await self.emit(ev.RunStarted(self.run_uid, scenario=s, replicate=self.replicate, seed=self.seed,
                                      nicknames=self.nicknames, simulated=self.simulated,
                                      resumed=self._resume is not None))
        r = self._restore(self._resume) if self._resume is not None else 0
        if not self.transcript:  # a new run, or one killed before its brief was stored
            now = self.clock.now()
            await self._commit(Message(seq=0, sender="user", text=s.brief, started_at=now, finished_at=now),
                               added=True)
        last = 0 if self.conditions.scaffolding == "isolated" else s.rounds
        status, reason = RunStatus.DONE, ""
        try:
            while r <= last:
                await self._gate.wait()
                if self._stopped:
                    break
                self.round, self._started_this_round, self._slots_done = r, set(), set(self._spoke)
                if r > 0 and r not in self._markers:
                    marker = Message(seq=0, sender="system", text=round_marker(r), round=r,
                                     started_at=self.clock.now(), finished_at=self.clock.now())
                    await self._commit(marker, added=True)
                    self._markers.add(r)
                if debate.wants_summary(self.scenario.debate if self.scenario.mode == "debate" else None,
                                        self.transcript, r):
                    await self._summarise(r)
                await self._run_round(r)
                self._spoke = set()
                if self._stopped:
                    break
                self._pause_if_stepping()
                await self.emit(ev.RoundDone(self.run_uid, r))
                if not self.active:
                    status, reason = RunStatus.FAILED, "every agent failed"
                    break
                r += 1
        except asyncio.CancelledError:
            self._stopped = True
        if self._stopped:
            status = self.stop_status
        for i, st in list(self.status.items()):
            if st in ("typing", TIMING_OUT):
                await self._set_status(i, "stopped")
        done = ev.RunDone(self.run_uid, status=status, rounds=min(self.round, last),
                          messages=len(self.transcript), reason=reason, stats=self.stats())
        await self.emit(done)
        return done

    def _restore(self, stored: list[Message]) -> int:
        """Take up a run from its stored messages; returns the round to go on with."""
        self.transcript = list(stored)
        self._markers = {m.round for m in stored if m.sender == "system" and m.round is not None}
        agent_msgs = [m for m in stored if m.agent is not None]
        for i in range(len(self.roster)):
            mine = [m for m in agent_msgs if m.agent == i]
            streak = 0
            for m in reversed(mine):
                if not (m.is_error and m.error_kind == "permanent"):
                    break
                streak += 1
            self.errors[i] = streak
            if streak >= self.scenario.leave_after:
                self.active.discard(i)
                self.status[i] = "crashed"
        if isinstance(self.clock, VirtualClock) and stored:
            self.clock.t = max(m.finished_at for m in stored)
        if not agent_msgs:
            return 0
        last = max(m.round or 0 for m in agent_msgs)
        spoke = {m.agent for m in agent_msgs if m.agent is not None and m.round == last}
        if self.active <= spoke or not (self.active - spoke):
            return last + 1
        self._spoke = spoke  # the round was cut short: the others still speak in it
        return last

    def stats(self) -> dict:
        agent_msgs = [m for m in self.transcript if m.is_agent]
        return {
            "messages": len(agent_msgs),
            "errors": sum(m.is_error for m in agent_msgs),
            "crashed": sorted(self.roster[i].name for i in range(len(self.roster)) if i not in self.active),
        }

    def _order(self, r: int) -> list[int]:
        order = list(range(len(self.roster)))
        if self.conditions.order == "shuffled":
            random.Random(f"{self.seed}:{r}").shuffle(order)
        return [i for i in order if i not in self._spoke]

    async def _run_round(self, r: int) -> None:
        order = self._order(r)
        if isinstance(self.clock, VirtualClock):
            await self._round_virtual(r, order, self.clock)
        else:
            await self._round_real(r, order)

    async def _round_real(self, r: int, order: list[int]) -> None:
        stagger = self.scenario.stagger

        async def one(k: int, i: int) -> None:
            await self.clock.sleep(k * stagger)
            await self._gate.wait()
            if self._stopped:
                return
            self._slots_done.add(i)
            if i not in self.active:
                return
            msg, _ = await self._turn(i, r, self.clock.now())
            await self._commit(msg)

        self._tasks = [asyncio.create_task(one(k, i)) for k, i in enumerate(order)]
        try:
            await asyncio.gather(*self._tasks)
        except asyncio.CancelledError:
            if not self._stopped:
                raise
        finally:
            self._tasks = []

    async def _round_virtual(self, r: int, order: list[int], clock: VirtualClock) -> None:
        """Agents overlap in virtual time: a reply joins the chat at its virtual end time."""
        t0 = clock.now()
        pending: list[tuple[float, int, Message]] = []
        round_end = t0
        for k, i in enumerate(order):
            start = t0 + k * self.scenario.stagger
            round_end = max(round_end, start)
            await self._flush(pending, start, clock)
            await self._gate.wait()
            if self._stopped:
                return
            self._slots_done.add(i)
            if i not in self.active:
                continue
            clock.t = start
            task = asyncio.create_task(self._turn(i, r, start))
            self._tasks = [task]  # so that stop() can cancel a call in flight
            try:
                msg, end = await task
            except asyncio.CancelledError:
                if self._stopped:
                    return
                raise
            finally:
                self._tasks = []
            pending.append((end, k, msg))
            round_end = max(round_end, end)
        await self._flush(pending, float("inf"), clock)
        clock.t = round_end

    async def _flush(self, pending: list, upto: float, clock: VirtualClock) -> None:
        pending.sort(key=lambda p: (p[0], p[1]))
        while pending and pending[0][0] <= upto:
            end, _, msg = pending.pop(0)
            clock.t = max(clock.t, end)
            await self._commit(msg)

    async def _commit(self, msg: Message, added: bool = False) -> None:
        async with self._commit_lock:
            msg.seq = len(self.transcript)
            self.transcript.append(msg)
            if added:
                await self.emit(ev.MessageAdded(self.run_uid, msg))
            else:
                await self.emit(ev.MessageDone(self.run_uid, msg.stream_key, msg))

    # -- one agent's turn -------------------------------------------------
    async def _turn(self, i: int, r: int, start: float) -> tuple[Message, float]:
        self._started_this_round.add(i)
        spec = self.roster[i]
        live = self.conditions
        nicks = self.nicknames
        seen = list(self.transcript)
        key = f"r{r}-{agent_key(i)}"
        temperature = live.temperature_for(i)
        call, dropped = self._build_call(i, r, seen, nicks, temperature)
        msg = Message(
            seq=-1, sender=agent_key(i), text="", round=r, agent=i, nickname=nicks[i], name=spec.name,
            model=spec.model, started_at=start, seen_upto=seen[-1].seq if seen else -1,
            dropped=dropped, temperature=temperature, stream_key=key,
        )
        await self.emit(ev.MessageStarted(self.run_uid, key=key, agent=i, round=r, nickname=nicks[i], at=start))
        crash = live.crash_for(i, r)
        await self._set_status(i, TIMING_OUT if crash is not None and crash.kind == "timeout" else "typing")
        tokens = 0
        try:
            if crash is not None:
                tokens = await self._injected(crash, spec.model)
            else:
                parts: list[str] = []
                cap, size = reply_cap(call.max_tokens), 0
                async with asyncio.timeout(None if self.clock.virtual else self.scenario.timeout), \
                        aclosing(self.provider.stream(call)) as stream:
                    async for piece in stream:
                        tokens += 1
                        parts.append(piece[:cap - size])
                        size += len(parts[-1])
                        await self.emit(ev.TokenDelta(self.run_uid, key=key, agent=i, text=parts[-1]))
                        if size >= cap:  # a provider that ignores max_tokens: the reply is cut, and says so
                            parts.append(f" … [cut at {cap:,} characters]")
                            break
                text = strip_speaker(strip_think(clean_text("".join(parts))), [nicks[i], spec.name])
                if not text:
                    raise ProviderError("empty", f"{spec.model} returned an empty reply.")
                msg.text = text
        except ProviderError as exc:
            await self._fail(msg, exc.kind, exc.message, visible=crash.visible if crash else True)
        except TimeoutError:
            await self._fail(msg, "timeout", f"Request to {spec.model} timed out after {self.scenario.timeout:g} s.")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a provider bug must not end the run
            await self._fail(msg, "transient", f"{type(exc).__name__}: {exc}")
        else:
            self.errors[i] = 0
            await self._set_status(i, "done")
        msg.tokens = tokens
        if self.clock.virtual:
            duration = self.scenario.timeout if msg.error_kind == "timeout" else VIRTUAL_LATENCY + tokens / VIRTUAL_RATE
            msg.finished_at = start + duration
        else:
            msg.finished_at = self.clock.now()
        return msg, msg.finished_at

    async def _summarise(self, r: int) -> None:
        """summary = "agent": before round r, the summariser writes the summary of round r-1's answers (stored as
        a `summary` message, nobody's answer). A summariser that left or crashed writes none: the agents then
        get the plain concatenation."""
        d = self.scenario.debate
        assert d is not None and d.summariser is not None
        nicks = self.nicknames
        who = resolve_agent(d.summariser, self.roster, nicks)
        if who is None or who not in self.active or self.conditions.crash_for(who, r) is not None:
            return
        spec, seen, start = self.roster[who], list(self.transcript), self.clock.now()
        view = PromptView(me=who, nicknames=nicks, scaffolding=self.conditions.scaffolding)
        messages = debate.summary_messages(view, seen, r, d)
        naming = self.conditions.naming
        roles = self.conditions.roles_for(len(self.roster))
        context = dataclasses.replace(
            chat_context(view, seen, r, naming if isinstance(naming, str) else "custom", language(self.scenario.brief)),
            debate=debate.facts(seen, who, r, nicks, [role_kind(n, self.role_table) for n in roles], d.pick(0)[1],
                                f"{self.seed}:{d.task}", summarise=True))
        call = ModelCall(model=spec.model, temperature=self.conditions.temperature_for(who),
                         max_tokens=spec.max_tokens or self.scenario.max_tokens, timeout=self.scenario.timeout,
                         seed=zlib.crc32(f"{self.seed}:{r}:summary".encode()), api_base=spec.api_base, context=context)
        if (spec.kind or self.provider.model_kind(spec.model)) == "base":
            call.prompt, call.stop = completion_prompt(messages, nicks[who])
        else:
            call.messages = messages
        msg = Message(seq=0, sender=debate.SUMMARY, text="", round=r, nickname=nicks[who], name="summary",
                      model=spec.model, started_at=start, seen_upto=seen[-1].seq if seen else -1,
                      temperature=call.temperature)
        parts: list[str] = []
        cap = reply_cap(call.max_tokens)
        try:
            async with asyncio.timeout(None if self.clock.virtual else self.scenario.timeout), \
                    aclosing(self.provider.stream(call)) as stream:
                async for piece in stream:
                    parts.append(piece)
                    if sum(map(len, parts)) >= cap:
                        break
            msg.text = strip_speaker(strip_think(clean_text("".join(parts)[:cap])), [nicks[who], spec.name])
            if not msg.text:
                raise ProviderError("empty", f"{spec.model} returned an empty reply.")
        except ProviderError as exc:
            msg.is_error, msg.error_kind, msg.text = True, exc.kind, f"{ERROR_MARK} {clean_text(exc.message)}"
        except TimeoutError:
            msg.is_error, msg.error_kind = True, "timeout"
            msg.text = f"{ERROR_MARK} Request to {spec.model} timed out after {self.scenario.timeout:g} s."
        msg.tokens = len(parts)
        if isinstance(self.clock, VirtualClock):
            self.clock.t = start + VIRTUAL_LATENCY + msg.tokens / VIRTUAL_RATE
        msg.finished_at = self.clock.now()
        await self._commit(msg, added=True)

    async def _injected(self, crash: Crash, model: str) -> int:
        if crash.kind == "timeout" and not self.clock.virtual:
            await self.clock.sleep(self.scenario.timeout)
        raise ProviderError(crash.kind, crash.error_text(model, self.scenario.timeout))

    async def _fail(self, msg: Message, kind: str, error: str, visible: bool = True) -> None:
        i = msg.agent
        assert i is not None
        msg.is_error, msg.error_kind, msg.visible = True, kind, visible
        msg.text = f"{ERROR_MARK} {clean_text(error).strip()}"
        left = False
        if kind == "permanent":
            self.errors[i] += 1
            left = self.errors[i] >= self.scenario.leave_after
        await self._set_status(i, "crashed" if left else "error")
        if left:
            self.active.discard(i)
            await self.emit(ev.AgentCrashed(self.run_uid, agent=i, round=msg.round or 0, error=msg.text))

    def _build_call(self, i: int, r: int, seen: list[Message], nicks: list[str],
                    temperature: float) -> tuple[ModelCall, int]:
        spec = self.roster[i]
        roles = self.conditions.roles_for(len(self.roster))
        role = role_spec(roles[i], self.role_table)
        view = PromptView(me=i, nicknames=nicks, scaffolding=self.conditions.scaffolding,
                          role=role.prompt if role else "")
        d = self.scenario.debate if self.scenario.mode == "debate" else None
        messages = debate.debate_messages(view, seen, r, d, role) if d else chat_messages(view, seen, r)
        max_tokens = spec.max_tokens or self.scenario.max_tokens
        window = self.provider.context_window(spec.model)
        dropped = 0
        if window:
            messages, dropped = fit_context(messages, max(256, window - max_tokens - 64))
        naming = self.conditions.naming
        context = chat_context(view, seen, r, naming if isinstance(naming, str) else "custom",
                               language(self.scenario.brief), [(a.family, a.recipe) for a in self.roster])
        kinds = [role_kind(name, self.role_table) for name in roles]
        context = dataclasses.replace(context, role=kinds[i], debate=debate.facts(
            seen, i, r, nicks, kinds, d.pick(0)[1], f"{self.seed}:{d.task}") if d else None)
        call = ModelCall(
            model=spec.model, temperature=temperature, max_tokens=max_tokens, timeout=self.scenario.timeout,
            seed=zlib.crc32(f"{self.seed}:{r}:{i}".encode()), api_base=spec.api_base, context=context,
        )
        kind = spec.kind or self.provider.model_kind(spec.model)
        if kind == "base":
            call.prompt, call.stop = completion_prompt(messages, nicks[i])
        else:
            call.messages = messages
        return call, dropped

