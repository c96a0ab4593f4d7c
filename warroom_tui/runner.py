"""Headless batches: a scenario's replicates, one run session after another (no Textual)."""

from __future__ import annotations

from dataclasses import dataclass

from warroom_tui import killpoint
from warroom_tui.engine import events as ev
from warroom_tui.engine.status import RunStatus
from warroom_tui.modelid import SIM_PREFIX, is_simulated
from warroom_tui.runspec import RunSpec, batch_specs
from warroom_tui.scenario import Scenario
from warroom_tui.session import RunSession, Subscriber
from warroom_tui.store.db import Store
from warroom_tui.store.rows import RunRow

SIM_PERSONAS = ("architect", "coordinator", "supporter", "analyst", "summarizer", "lurker", "skeptic", "architect")


def with_backend(scenario: Scenario, backend: str | None) -> Scenario:
    """`sim` swaps every agent for a simulated persona (clones stay clones of one persona)."""
    if backend in (None, "", "real"):
        return scenario
    if backend != "sim":
        raise ValueError(f"unknown backend {backend!r} (use sim)")
    if scenario.clones is not None:
        agent = scenario.clones.agent.model_copy(update={"model": f"{SIM_PREFIX}coordinator", "kind": None})
        return scenario.model_copy(update={"clones": scenario.clones.model_copy(update={"agent": agent})})
    agents = [a if is_simulated(a.model) else
              a.model_copy(update={"model": f"{SIM_PREFIX}{SIM_PERSONAS[i % len(SIM_PERSONAS)]}", "kind": None})
              for i, a in enumerate(scenario.agents)]
    return scenario.model_copy(update={"agents": agents})


def all_simulated(scenario: Scenario) -> bool:
    return all(is_simulated(a.model) for a in scenario.roster())


class RunOwned(Exception):
    """Another live process is writing the run this batch would take up."""


class BatchFailed(Exception):
    """A run could not start or broke (a model that cannot load, a database that cannot be written)."""


@dataclass
class RunResult:
    run_uid: str
    status: RunStatus
    messages: int
    errors: int
    crashed: list[str]
    rounds: int
    """The last round reached (see the README's round numbering)."""
    stored: bool = False
    """Finished before this batch started: taken from the store."""


async def _stored_result(store: Store, run: RunRow) -> RunResult:
    msgs = [m for m in await store.messages(run.id) if m.agent is not None]
    agents = await store.agents(run.id)
    crashed = sorted({agents[m.agent].name for m in msgs if m.agent is not None and m.error_kind == "permanent"})
    return RunResult(run.uid, run.status, len(msgs), sum(m.is_error for m in msgs), crashed,
                     max((m.round or 0 for m in msgs), default=0), stored=True)


async def known_run(store: Store, spec: RunSpec, fresh: bool) -> RunRow | None:
    """The stored run a spec takes up (None: a new run). A running run still written by a live process is
    never taken over."""
    if fresh:
        return None
    known = await store.find_run(spec.key, spec.scenario.name, spec.replicate, spec.seed)
    if known is not None and known.status is RunStatus.RUNNING:
        owner = await store.owner(known.id)
        if owner is not None and owner.alive():
            raise RunOwned(f"run {known.uid} is being written by process {owner.pid} on {owner.host};"
                           " wait for it to finish, or pass --fresh to start new runs")
    return known


class Batch:
    """Runs one after another (`runs` replicates of `scenario`, or the given `specs`); every message is
    stored as it lands. `judges` code every stored message live (one worker for the whole batch).

    Run again with the same specs, a batch takes up where it stopped: finished runs are kept, an
    interrupted one goes on from its stored messages (unless `fresh`).
    """

    def __init__(self, scenario: Scenario | None, store: Store, gateway, *, runs: int | None = None,
                 seed: int | None = None, fresh: bool = False, on_event: Subscriber | None = None,
                 specs: list[RunSpec] | None = None, judges: list | None = None, codebook=None) -> None:
        assert scenario is not None or specs is not None
        self.specs = specs if specs is not None else batch_specs(scenario, runs, seed)  # type: ignore[arg-type]
        self.store = store
        self.gateway = gateway
        self.runs = len(self.specs)
        self.fresh = fresh
        self.on_event = on_event
        self.judges = judges
        self.codebook = codebook
        self.results: list[RunResult] = []
        self.interrupted = False
        self._session: RunSession | None = None

    def interrupt(self) -> None:
        """Stop the batch: the open run is stored as interrupted, no further run starts."""
        self.interrupted = True
        if self._session is not None:
            self._session.interrupt()

    async def run(self) -> list[RunResult]:
        await self.store.reap()  # each run's session prepares the providers it needs
        judge = LiveJudge(self.store, self.judges, self.codebook) if self.judges else None
        try:
            await self._run_all(judge)
        finally:
            if judge is not None:
                await judge.close()
        return self.results

    async def _run_all(self, judge: LiveJudge | None) -> None:
        for n, spec in enumerate(self.specs):
            if self.interrupted:
                break
            known = await known_run(self.store, spec, self.fresh)
            if known is not None and known.status.finished:
                self.results.append(await _stored_result(self.store, known))
                if self.on_event is not None:
                    await self.on_event(ev.RunDone(known.uid, status=known.status, rounds=0, messages=0))
                continue
            session = self._session = RunSession(
                spec.scenario, store=self.store, gateway=self.gateway, virtual=all_simulated(spec.scenario),
                replicate=spec.replicate, seed=spec.seed, resume=known)
            for fn in (judge, self.on_event):
                if fn is not None:
                    session.subscribe(fn)
            try:
                done = await session.run()
            finally:
                await session.close()
                self._session = None
            if done is None:
                raise BatchFailed(f"run {n + 1} of {self.runs}: {session.state}")
            stats = done.stats
            self.results.append(RunResult(done.run_uid, done.status, stats["messages"],
                                          stats["errors"], stats["crashed"], done.rounds))
            if done.status == RunStatus.INTERRUPTED:
                self.interrupted = True
                break
            killpoint.reached("run")


class LiveJudge:
    """One judge worker for a whole batch: subscribe it to each run's session; `close` codes what is still
    queued, then stops it."""

    def __init__(self, store: Store, judges: list, codebook=None) -> None:
        import asyncio

        from warroom_tui.judge.codebook import load_codebook
        from warroom_tui.judge.worker import JudgeWorker

        self.worker = JudgeWorker(store, judges, codebook or load_codebook())
        self._task = asyncio.create_task(self.worker.run())

    async def __call__(self, event: ev.Event) -> None:
        await self.worker(event)

    async def close(self) -> None:
        import asyncio

        if not self._task.done():
            await self.worker.drain()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
