"""Headless runs: a scenario through the engine into the store (no Textual)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import RealClock, VirtualClock
from warroom_tui.engine.loop import Engine
from warroom_tui.engine.status import RunStatus
from warroom_tui.modelid import SIM_PREFIX, is_simulated
from warroom_tui.providers.gateway import Gateway
from warroom_tui.scenario import Scenario
from warroom_tui.store.db import Store
from warroom_tui.store.rows import RunRow
from warroom_tui.store.recorder import Recorder

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


async def _stored_result(store: Store, run: RunRow) -> "RunResult":
    msgs = [m for m in await store.messages(run.id) if m.agent is not None]
    agents = await store.agents(run.id)
    crashed = sorted({agents[m.agent].name for m in msgs if m.agent is not None and m.error_kind == "permanent"})
    return RunResult(run.uid, run.status, len(msgs), sum(m.is_error for m in msgs), crashed,
                     max((m.round or 0 for m in msgs), default=0) + 1, stored=True)


@dataclass
class RunResult:
    run_uid: str
    status: RunStatus
    messages: int
    errors: int
    crashed: list[str]
    rounds: int
    stored: bool = False
    """Finished before this batch started: taken from the store."""


async def run_batch(
    scenario: Scenario,
    store: Store,
    *,
    runs: int | None = None,
    seed: int | None = None,
    gateway: Gateway | None = None,
    on_event: Callable[[ev.Event], Awaitable[None]] | None = None,
    fresh: bool = False,
) -> list[RunResult]:
    """Run `runs` replicates one after another; every message is stored as it lands.

    A batch run again with the same scenario and seed takes up where it stopped: finished replicates
    are kept, an interrupted one goes on from its stored messages (unless `fresh`).
    """
    own_gateway = gateway is None
    gateway = gateway or Gateway()
    results: list[RunResult] = []
    try:
        await gateway.prepare([a.model for a in scenario.roster()])
        base_seed = scenario.seed if seed is None else seed
        for replicate in range(runs or scenario.replicates):
            seed_i = base_seed + replicate
            known = None if fresh else await store.find_run(scenario.name, replicate, seed_i)
            if known is not None and known.status.finished:
                results.append(await _stored_result(store, known))
                if on_event is not None:
                    await on_event(ev.RunDone(known.uid, status=known.status, rounds=0, messages=0))
                continue
            clock = VirtualClock() if all_simulated(scenario) else RealClock()
            resume = await store.messages(known.id) if known is not None else None
            engine = Engine(scenario, gateway, clock=clock, replicate=replicate, seed=seed_i,
                            run_uid=known.uid if known else None, resume=resume)
            engine.subscribe(Recorder(store))
            if on_event is not None:
                engine.subscribe(on_event)
            done = await engine.run()
            results.append(RunResult(engine.run_uid, RunStatus(done.status), done.stats["messages"],
                                     done.stats["errors"], done.stats["crashed"], done.rounds))
    finally:
        if own_gateway:
            await gateway.aclose()
    return results
