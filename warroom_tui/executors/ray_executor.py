"""The Ray executor: one Ray task per run, the driver the one writer of the store.

Each run is a generator task (`ray_task.run_events`: scenario in, events out). The driver records each
batch of finished messages as the task streams it, through the same run session, recorder and judge
worker as a local run. When a worker dies, the driver submits the run again, taken up from what the store
holds (the local executor's resume): Ray's own retry of a generator task replays it from the start and
drops the objects it had already delivered, which would splice two different attempts of a run that is
not deterministic, so the task is submitted with `max_retries=0` and retried here (`retries`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from typing import Any

import ray
from ray.exceptions import RayError

from warroom_tui.engine import events as ev
from warroom_tui.engine.conditions import LiveConditions
from warroom_tui.engine.control import RunControl
from warroom_tui.engine.status import RunStatus
from warroom_tui.engine.transcript import Message
from warroom_tui.executors import Counts, Progress
from warroom_tui.executors.ray_task import NAMESPACE, Job, run_events, start_model_servers
from warroom_tui.providers.local import LOCAL_PREFIX
from warroom_tui.runner import BatchFailed, LiveJudge, RunResult, _stored_result, all_simulated, known_run
from warroom_tui.runspec import RunSpec, models_needed
from warroom_tui.session import RunSession
from warroom_tui.store.db import Store
from warroom_tui.store.rows import RunRow


class NoGateway:
    """The driver calls no model: the tasks do."""

    async def prepare(self, models: list[str]) -> None:
        pass

    async def aclose(self) -> None:
        pass


class RemoteRun(RunControl):
    """The driver's side of one run: submits its task and re-emits what the task streams."""

    def __init__(self, executor: "RayExecutor", spec: RunSpec, run_uid: str, resume: list[Message] | None) -> None:
        super().__init__()
        self.x = executor
        self.spec = spec
        self.scenario = spec.scenario
        self.roster = spec.scenario.roster()
        self.conditions = LiveConditions.from_scenario(spec.scenario)
        self.run_uid = run_uid
        self.resume_from = resume
        self.transcript: list[Message] = list(resume or [])
        self.round = 0
        self.started = False
        """The task's run began (a run interrupted while queued never did: nothing of it is stored)."""
        self._gen = None

    @property
    def nicknames(self) -> list[str]:
        return self.conditions.nicknames(self.roster)

    async def run(self) -> ev.RunDone:
        if self.x.interrupted:  # interrupted while this run's session was still starting
            self.stop(RunStatus.INTERRUPTED)
        attempt, resume = 0, self.resume_from
        while not self._stopped:
            self.transcript = list(resume or [])
            job = Job(self.scenario, self.spec.replicate, self.spec.seed, self.run_uid, resume, self.x.flush)
            self._gen = self.x.task.remote(job)
            consume = asyncio.create_task(self._consume(self._gen))
            self._tasks = [consume]
            try:
                done = await consume
            except asyncio.CancelledError:
                if not self._stopped:
                    raise
                break
            except RayError as exc:
                if self._stopped:
                    break
                attempt += 1
                if attempt > self.x.retries:
                    return await self._end(RunStatus.FAILED, f"the task failed {attempt} times: {_short(exc)}")
                self.x.counts.retried += 1
                self.x.progress()
                run = await self.x.store.run(self.run_uid)
                resume = await self.x.store.messages(run.id) if run is not None else None
                continue
            finally:
                self._tasks = []
            if done is not None:
                return done
            return await self._end(RunStatus.FAILED, "the task ended without finishing its run")
        self._cancel()
        return await self._end(self.stop_status, "")

    async def _consume(self, gen) -> ev.RunDone | None:
        done = None
        async for ref in gen:
            for event in await ref:
                if isinstance(event, (ev.MessageDone, ev.MessageAdded)):
                    self.transcript.append(event.message)
                elif isinstance(event, ev.RoundDone):
                    self.round = event.round
                elif isinstance(event, ev.RunDone):
                    done = event
                elif isinstance(event, ev.RunStarted):
                    self.started = True
                await self.emit(event)
        return done

    def _cancel(self) -> None:
        if self._gen is not None:
            try:
                ray.cancel(self._gen)
            except Exception:  # already finished or gone
                pass

    async def _end(self, status: RunStatus, reason: str) -> ev.RunDone:
        agent_msgs = [m for m in self.transcript if m.agent is not None]
        streaks = {i: 0 for i in range(len(self.roster))}
        for m in agent_msgs:
            assert m.agent is not None
            streaks[m.agent] = streaks[m.agent] + 1 if m.is_error and m.error_kind == "permanent" else 0
        stats = {"messages": len(agent_msgs), "errors": sum(m.is_error for m in agent_msgs),
                 "crashed": sorted(self.roster[i].name for i, n in streaks.items() if n >= self.scenario.leave_after)}
        done = ev.RunDone(self.run_uid, status=status, rounds=max((m.round or 0 for m in agent_msgs), default=0),
                          messages=len(self.transcript), reason=reason, stats=stats)
        if self.started:
            await self.emit(done)
        elif status is RunStatus.FAILED:  # its task never began: nothing to store, but it counts
            self.x.counts.failed += 1
            self.x.progress()
        return done


class RemoteSession(RunSession):
    """A run session whose engine runs in a Ray task."""

    def __init__(self, executor: "RayExecutor", spec: RunSpec, known: RunRow | None) -> None:
        super().__init__(spec.scenario, store=executor.store, gateway=NoGateway(),
                         virtual=all_simulated(spec.scenario), replicate=spec.replicate, seed=spec.seed, resume=known)
        self.executor = executor
        self.spec = spec

    async def _engine(self) -> RemoteRun:  # type: ignore[override]
        known = self.resume_run
        resume = await self.store.messages(known.id) if known is not None else None
        uid = known.uid if known is not None else f"{self.scenario.label}-{uuid.uuid4().hex[:10]}"
        return RemoteRun(self.executor, self.spec, uid, resume)


class RayExecutor:
    """Runs each spec as a Ray task; `address` names a cluster (`auto`, `ray://host:10001`, `host:6379`),
    else a local Ray instance starts with `num_cpus` (default: all cores). `in_flight` runs are submitted at
    a time (default: twice the cluster's CPUs), so an interrupt leaves little queued."""

    name = "ray"

    def __init__(self, store: Store, gateway=None, *, address: str | None = None, num_cpus: int | None = None,
                 fresh: bool = False, judges: list | None = None, codebook=None, on_event=None,
                 on_progress: Progress | None = None, retries: int = 3, flush: float = 0.05,
                 in_flight: int | None = None) -> None:
        self.store = store
        self.address = address
        self.num_cpus = num_cpus
        self.fresh = fresh
        self.judges = judges
        self.codebook = codebook
        self.on_event = on_event
        self.on_progress = on_progress
        self.retries = retries
        self.flush = flush
        self.in_flight = in_flight
        self.counts = Counts()
        self.interrupted = False
        self.task: Any = None
        """The Ray remote function of one run (set by `connect`)."""
        self._sessions: set[RemoteSession] = set()
        self._started_ray = False

    def progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.counts)

    def interrupt(self) -> None:
        """Ctrl+C: open runs are stored as interrupted, no further run starts."""
        self.interrupted = True
        for session in list(self._sessions):
            session.interrupt()

    def connect(self) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no reporting home
        if not ray.is_initialized():
            kw: dict = dict(namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
            sigterm = signal.getsignal(signal.SIGTERM)
            try:
                if self.address:
                    ray.init(address=self.address, **kw)
                else:
                    ray.init(num_cpus=self.num_cpus, include_dashboard=False, **kw)
            finally:  # Ray's own SIGTERM handler exits at once; ours stores open runs as interrupted
                signal.signal(signal.SIGTERM, sigterm)
            self._started_ray = True
        self.task = ray.remote(run_events).options(num_cpus=1, max_retries=0)

    async def _event(self, event: ev.Event) -> None:
        if self.counts.see(event):
            self.progress()
        if self.on_event is not None:
            await self.on_event(event)

    async def run(self, specs: list[RunSpec]) -> list[RunResult]:
        self.counts.total = len(specs)
        await self.store.reap()
        known = [await known_run(self.store, spec, self.fresh) for spec in specs]
        results: list[RunResult | None] = [None] * len(specs)
        todo = []
        for i, (spec, row) in enumerate(zip(specs, known)):
            if row is not None and row.status.finished:
                results[i] = await _stored_result(self.store, row)
                await self._event(ev.RunDone(row.uid, status=row.status, rounds=0, messages=0))
            else:
                todo.append((i, spec, row))
        if todo:
            self.connect()  # in the main thread: Ray sets its signal handlers there
            slots = {m: models_needed(specs).count(m) for m in models_needed(specs) if m.startswith(LOCAL_PREFIX)}
            servers = start_model_servers(slots) if slots else []
            cpus = int(ray.cluster_resources().get("CPU", 1))
            gate = asyncio.Semaphore(self.in_flight or max(2, 2 * cpus))
            judge = LiveJudge(self.store, self.judges, self.codebook) if self.judges else None
            failures: list[str] = []
            try:
                await asyncio.gather(*[self._one(i, spec, row, gate, judge, results, failures)
                                       for i, spec, row in todo])
            finally:
                if judge is not None:
                    await judge.close()
                for actor in servers:
                    ray.kill(actor)
            if failures:
                raise BatchFailed(failures[0])
        return [r for r in results if r is not None]

    async def _one(self, i: int, spec: RunSpec, row: RunRow | None, gate: asyncio.Semaphore, judge,
                   results: list, failures: list[str]) -> None:
        async with gate:
            if self.interrupted:
                return
            session = RemoteSession(self, spec, row)
            for fn in (judge, self._event):
                if fn is not None:
                    session.subscribe(fn)
            self._sessions.add(session)
            try:
                done = await session.run()
            finally:
                await session.close()
                self._sessions.discard(session)
            if done is None:
                failures.append(f"run {i + 1} of {len(results)}: {session.state}")
                self.interrupt()
                return
            if (isinstance(session.control, RemoteRun) and not session.control.started and row is None
                    and done.status != RunStatus.FAILED):
                return  # interrupted while queued: nothing of it was stored
            stats = done.stats
            results[i] = RunResult(done.run_uid, RunStatus(done.status), stats["messages"], stats["errors"],
                                   stats["crashed"], done.rounds)
            if done.status == RunStatus.INTERRUPTED:
                self.interrupt()

    def close(self) -> None:
        """Shut down the local Ray instance this executor started (a cluster stays up)."""
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"
