"""One run's lifecycle, headless (no Textual): the engine or the replayer, the recorder, the judge worker,
the providers, start and shutdown, and the commands a person gives a running run.

It publishes one typed stream: the engine's events, `MessageStored` once the store holds a message,
`StateChanged` and the judge's `JudgeSnapshot`s. The lab renders that stream, `warroom run` draws its
progress bars from it, replay feeds it from stored messages.

It lives beside the engine, not inside `warroom_tui/engine/`: the engine imports neither the store nor
the judge (an import-linter contract), and this module is the one place that joins them.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Awaitable, Callable

from warroom_tui import killpoint
from warroom_tui.outfiles import write_whole
from warroom_tui.untrusted import name_key, nickname_problem
from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import RealClock, VirtualClock
from warroom_tui.engine.conditions import Crash, LiveConditions
from warroom_tui.engine.control import RunControl
from warroom_tui.engine.loop import Engine
from warroom_tui.engine.status import Phase, RunStatus
from warroom_tui.scenario import SCAFFOLDINGS, Scenario
from warroom_tui.store.db import Store
from warroom_tui.store.recorder import Recorder
from warroom_tui.store.rows import RunRow

Subscriber = Callable[[ev.Event], Awaitable[None]]
HEARTBEAT = 5.0  # seconds between owner heartbeats of a running run


def preflight(scenario: Scenario) -> list[str]:
    """What the scenario's agents lack before a run can start (keys, bundled models, local servers)."""
    from warroom_tui.providers.preflight import problems

    return problems([(a.model, a.api_base) for a in scenario.roster()])


class Refused(Exception):
    """A command the session cannot carry out now; the text says why, for a person."""


class RunSession:
    """Create with `RunSession(...)` for a live run or `await RunSession.replay(...)`; then `start()`,
    `await wait()` (or `await run()`), and always `await close()`."""

    def __init__(self, scenario: Scenario, *, store: Store, gateway, judges: list | None = None,
                 codebook=None, virtual: bool = False, replicate: int = 0, seed: int | None = None,
                 resume: RunRow | None = None, pause_after: int | None = None) -> None:
        self.scenario = scenario
        self.store = store
        self.gateway = gateway
        self.virtual = virtual
        self.replicate = replicate
        self.seed = seed
        self.resume_run = resume
        self.pause_after = pause_after
        self.control: RunControl | None = None
        self.recorder: Recorder | None = Recorder(store)
        self.message_ids: dict[int, int] = {}  # a replay's stored ids (it writes nothing)
        self.subscribers: list[Subscriber] = []
        self.custom_names: list[str] | None = (
            list(scenario.conditions.naming) if isinstance(scenario.conditions.naming, list) else None)
        self.judge = None
        if judges:
            from warroom_tui.judge.worker import JudgeWorker

            self.judge = JudgeWorker(store, judges, codebook, publish=self.publish)
            self.subscribe(self.judge)
        if scenario.mode == "debate":
            from warroom_tui.engine.debate import DebateTracker

            self.subscribe(DebateTracker(self.publish, lambda: list(getattr(self.control, "transcript", []))))
        self.done: ev.RunDone | None = None
        self._phase = Phase.STARTING
        self._detail = ""
        self._task: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []

    @classmethod
    async def replay(cls, store: Store, ref: str | int, speed: float = 1.0, *, judges: list | None = None,
                     codebook=None) -> "RunSession":
        """A session that plays a stored run back. It never writes: no recorder, a judge without a store."""
        from warroom_tui.replay import Replayer

        replayer = await Replayer.load(store, ref, speed)
        session = cls(replayer.scenario, store=store, gateway=None, judges=judges, codebook=codebook)
        session.recorder = None
        if session.judge is not None:
            session.judge.store = None
        session.message_ids = await store.message_ids(replayer.run_info.id)
        session._attach(replayer)
        return session

    # -- the stream ----------------------------------------------------------
    def subscribe(self, fn: Subscriber) -> None:
        self.subscribers.append(fn)

    async def publish(self, event: ev.Event) -> None:
        for fn in self.subscribers:
            await fn(event)

    async def _from_control(self, event: ev.Event) -> None:
        """Every engine or replayer event: stored first, then published, then `MessageStored`."""
        mid = None
        if self.recorder is not None:
            mid = await self.recorder.record(event)
        elif isinstance(event, (ev.MessageDone, ev.MessageAdded)):
            mid = self.message_ids.get(event.message.seq)
        await self.publish(event)
        if mid is not None:
            m = event.message  # type: ignore[attr-defined]
            await self.publish(ev.MessageStored(event.run_uid, mid, m))
            killpoint.reached("marker" if m.sender == "system" else "commit")
        elif isinstance(event, ev.TokenDelta):
            killpoint.reached("stream")
        elif isinstance(event, ev.RunStarted):
            killpoint.reached("start")
        elif isinstance(event, ev.RoundDone):
            killpoint.reached("round")
            if self.pause_after is not None and event.round + 1 >= self.pause_after and self.control:
                self.pause_after = None  # once
                self.control.pause()
            await self._state_changed()
        elif isinstance(event, ev.RunDone):
            self.done = event
            self._set_phase(Phase.ENDED, event.reason)
            await self._state_changed()

    # -- lifecycle -------------------------------------------------------------
    @property
    def is_replay(self) -> bool:
        return self.recorder is None

    @property
    def replay_start(self) -> tuple[float, bool] | None:
        """A replay's stored start (epoch seconds) and whether the run kept virtual time; None when live."""
        info = getattr(self.control, "run_info", None) if self.is_replay else None
        if info is None or not info.started_at:
            return None
        from datetime import datetime, timezone

        try:
            start = datetime.fromisoformat(info.started_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        return start.timestamp(), bool(info.simulated)

    @property
    def run_uid(self) -> str:
        return self.control.run_uid if self.control is not None else ""  # type: ignore[attr-defined]

    @property
    def engine(self) -> Engine | None:
        return self.control if isinstance(self.control, Engine) else None

    @property
    def state(self) -> str:
        """What the bar shows: starting, loading models…, running, paused, done, stopped: why, …"""
        if self._phase is Phase.ENDED and self.done is not None:
            phase = ("replay " if self.is_replay else "") + str(self.done.status)
        else:
            phase = self._phase.value
        if self._phase in (Phase.RUNNING, Phase.REPLAYING) and self.control is not None and self.control.paused:
            return "paused"
        return f"{phase}: {self._detail}" if self._detail else phase

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def finished(self) -> bool:
        return self._task is not None and self._task.done()

    @property
    def in_progress(self) -> bool:
        return self._phase in (Phase.STARTING, Phase.LOADING, Phase.RUNNING, Phase.REPLAYING)

    def _set_phase(self, phase: Phase, detail: str = "") -> None:
        self._phase, self._detail = phase, detail

    async def _state_changed(self) -> None:
        await self.publish(ev.StateChanged(self.run_uid, self.state, self._phase, self._detail))

    def _attach(self, control: RunControl) -> None:
        self.control = control
        control.subscribe(self._from_control)

    async def _engine(self) -> Engine:
        known = self.resume_run
        resume = await self.store.messages(known.id) if known is not None else None
        clock = VirtualClock() if self.virtual else RealClock()
        return Engine(self.scenario, self.gateway, clock=clock, replicate=self.replicate, seed=self.seed,
                      run_uid=known.uid if known else None, resume=resume)

    def start(self) -> None:
        """Prepare the providers and run, in a task of the running loop."""
        if self.judge is not None:
            self._tasks.append(asyncio.create_task(self.judge.run()))
        self._task = asyncio.create_task(self._main())

    async def wait(self) -> ev.RunDone | None:
        assert self._task is not None, "start() first"
        return await asyncio.shield(self._task)

    async def run(self) -> ev.RunDone | None:
        self.start()
        return await self.wait()

    async def _main(self) -> ev.RunDone | None:
        if not self.is_replay:
            missing = await asyncio.to_thread(preflight, self.scenario)
            if missing:
                self._set_phase(Phase.CANNOT_START, "; ".join(missing))
                await self._state_changed()
                return None
            try:
                if any(a.model.startswith(("local/", "gguf:", "ollama:")) for a in self.scenario.roster()):
                    self._set_phase(Phase.LOADING)
                    await self._state_changed()
                await self.gateway.prepare([a.model for a in self.scenario.roster()])
                self._attach(await self._engine())
            except Exception as exc:  # a model that cannot load must not close the lab
                self._set_phase(Phase.FAILED_TO_START, str(exc))
                await self._state_changed()
                return None
        assert self.control is not None
        if not self.is_replay:
            self._tasks.append(asyncio.create_task(self._heartbeat()))
        self._set_phase(Phase.REPLAYING if self.is_replay else Phase.RUNNING)
        await self._state_changed()
        try:
            return await self.control.run()
        except Exception as exc:  # a bug in a run must not take its front end down
            self._set_phase(Phase.FAILED, f"{type(exc).__name__}: {exc}")
            await self._state_changed()
            return None

    async def _heartbeat(self) -> None:
        """Tell other processes this one still writes the run (see store/owners.py)."""
        while True:
            await asyncio.sleep(HEARTBEAT)
            run_id = self.recorder.run_ids.get(self.run_uid) if self.recorder else None
            if run_id is not None:
                await self.store.beat(run_id)

    def interrupt(self) -> None:
        """Ctrl+C or SIGTERM: end the run now, stored as interrupted (the same command resumes it)."""
        if self.control is not None:
            self.control.stop(RunStatus.INTERRUPTED)

    async def close(self) -> None:
        """End the run if it is still going (stored as stopped), wait for it, stop the judge."""
        if self._task is not None and not self._task.done():
            if self.control is None:
                self._task.cancel()  # still preparing the providers: nothing stored yet
            elif self.control.stop_status is RunStatus.STOPPED:
                self.control.stop()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    # -- what the lab reads ----------------------------------------------------
    @property
    def nicknames(self) -> list[str]:
        return self.control.nicknames if self.control is not None else self.scenario.nicknames()  # type: ignore

    @property
    def conditions(self) -> LiveConditions:
        if self.control is None:
            return LiveConditions.from_scenario(self.scenario)
        return self.control.conditions  # type: ignore[attr-defined]

    @property
    def round(self) -> int:
        return self.control.round if self.control is not None else 0  # type: ignore[attr-defined]

    def crashable(self) -> set[int]:
        return set(self._live().active)

    def revivable(self) -> set[int]:
        e = self._live()
        return set(e.conditions.crashes) | (set(range(len(e.roster))) - e.active)

    # -- commands --------------------------------------------------------------
    def _control(self) -> RunControl:
        if self.control is None or not self.in_progress:
            raise Refused("no run in progress: R starts a new one")
        return self.control

    def _live(self) -> Engine:
        if self.is_replay:
            raise Refused("a replay is read-only: conditions cannot change")
        control = self._control()
        assert isinstance(control, Engine)
        return control

    async def cycle_naming(self) -> None:
        e = self._live()
        cycle: list = ["neutral", "real"] + ([self.custom_names] if self.custom_names else [])
        current = e.conditions.naming
        await e.change("naming", cycle[(cycle.index(current) + 1) % len(cycle)] if current in cycle else "neutral")

    def names_problem(self, names: list[str]) -> str | None:
        """Why these custom names cannot be used (one per agent, all different), or None."""
        n = len(self.scenario.roster())
        if len(names) != n or len({name_key(x) for x in names}) != n:
            return f"give {n} different names, separated by commas (now {len(names)})"
        for x in names:
            if problem := nickname_problem(x) or ("longer than 80 characters" if len(x) > 80 else None):
                return f"{x!r}: {problem}"
        return None

    async def set_custom_names(self, names: list[str]) -> None:
        e = self._live()
        problem = self.names_problem(names)
        if problem:
            raise Refused(problem)
        self.custom_names = names
        await e.change("naming", names)

    async def export_markdown(self, folder: Path) -> Path | None:
        """Write the stored run as Markdown into `folder` (made if need be); None when nothing is stored yet."""
        from warroom_tui.store.markdown import run_markdown

        run = await self.store.run(self.run_uid) if self.run_uid else None
        if run is None:
            return None
        text = run_markdown(run, await self.store.agents(run.id), await self.store.messages(run.id),
                            await self.store.events(run.id))
        path = folder / f"warroom-{re.sub(r'[^A-Za-z0-9._-]+', '_', run.uid).lstrip('.')}.md"
        folder.mkdir(parents=True, exist_ok=True)
        write_whole(path, text)  # the run's own file, replaced as it grows; never half-written
        return path

    async def cycle_scaffolding(self) -> None:
        e = self._live()
        order = list(SCAFFOLDINGS)
        await e.change("scaffolding", order[(order.index(e.conditions.scaffolding) + 1) % len(order)])

    async def cycle_roles(self) -> None:
        """none -> generator-critic -> the scenario's own list (if it has one) -> none."""
        e = self._live()
        own = self.scenario.conditions.roles
        cycle: list = ["none", "generator-critic"] + ([own] if isinstance(own, list) else [])
        current = e.conditions.roles
        await e.change("roles", cycle[(cycle.index(current) + 1) % len(cycle)] if current in cycle else "none")

    async def nudge_temperature(self, delta: float, agent: int | None = None) -> None:
        e = self._live()
        current = e.conditions.temperature_for(agent) if agent is not None else e.conditions.temperature
        await e.change("temperature", round(min(2.0, max(0.0, current + delta)), 2), agent=agent)

    async def crash(self, agent: int, kind: str) -> None:
        await self._live().change("crash", Crash(kind=kind), agent=agent)

    async def revive(self, agent: int) -> None:
        await self._live().change("revive", None, agent=agent)

    async def say(self, text: str) -> None:
        await self._live().say(text)

    async def toggle_pause(self) -> None:
        control = self._control()
        control.resume() if control.paused else control.pause()
        await self._state_changed()

    async def step(self) -> None:
        self._control().step()
        await self._state_changed()

    def end(self) -> None:
        self._control().stop()
