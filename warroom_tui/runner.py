"""Headless batches: a scenario's replicates, one run session after another (no Textual)."""

from __future__ import annotations

from dataclasses import dataclass

from warroom_tui import killpoint
from warroom_tui.engine import events as ev
from warroom_tui.engine.status import RunStatus
from warroom_tui.modelid import SIM_PREFIX, is_simulated
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


class Batch:
    """`runs` replicates one after another; every message is stored as it lands.

    Run again with the same scenario and seed, a batch takes up where it stopped: finished replicates
    are kept, an interrupted one goes on from its stored messages (unless `fresh`).
    """

    def __init__(self, scenario: Scenario, store: Store, gateway, *, runs: int | None = None,
                 seed: int | None = None, fresh: bool = False, on_event: Subscriber | None = None) -> None:
        self.scenario = scenario
        self.store = store
        self.gateway = gateway
        self.runs = runs or scenario.replicates
        self.base_seed = scenario.seed if seed is None else seed
        self.fresh = fresh
        self.on_event = on_event
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
        for replicate in range(self.runs):
            if self.interrupted:
                break
            seed = self.base_seed + replicate
            known = None if self.fresh else await self.store.find_run(self.scenario.name, replicate, seed)
            if known is not None and known.status.finished:
                self.results.append(await _stored_result(self.store, known))
                if self.on_event is not None:
                    await self.on_event(ev.RunDone(known.uid, status=known.status, rounds=0, messages=0))
                continue
            if known is not None and known.status is RunStatus.RUNNING:
                owner = await self.store.owner(known.id)
                if owner is not None and owner.alive():
                    raise RunOwned(f"run {known.uid} is being written by process {owner.pid} on {owner.host};"
                                   " wait for it to finish, or pass --fresh to start new runs")
            session = self._session = RunSession(
                self.scenario, store=self.store, gateway=self.gateway, virtual=all_simulated(self.scenario),
                replicate=replicate, seed=seed, resume=known)
            if self.on_event is not None:
                session.subscribe(self.on_event)
            try:
                done = await session.run()
            finally:
                await session.close()
                self._session = None
            if done is None:
                raise BatchFailed(f"run {replicate + 1} of {self.runs}: {session.state}")
            stats = done.stats
            self.results.append(RunResult(done.run_uid, done.status, stats["messages"],
                                          stats["errors"], stats["crashed"], done.rounds))
            if done.status == RunStatus.INTERRUPTED:
                self.interrupted = True
                break
            killpoint.reached("run")
        return self.results
