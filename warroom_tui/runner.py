"""Headless runs: a scenario through the engine into the store (no Textual)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import RealClock, VirtualClock
from warroom_tui.engine.loop import Engine
from warroom_tui.providers.gateway import Gateway
from warroom_tui.scenario import Scenario
from warroom_tui.store.db import Store
from warroom_tui.store.recorder import Recorder

SIM_PERSONAS = ("architect", "coordinator", "supporter", "analyst", "summarizer", "lurker", "skeptic", "architect")


def with_backend(scenario: Scenario, backend: str | None) -> Scenario:
    """`sim` swaps every agent for a simulated persona (clones stay clones of one persona)."""
    if backend in (None, "", "real"):
        return scenario
    if backend != "sim":
        raise ValueError(f"unknown backend {backend!r} (use sim)")
    if scenario.clones is not None:
        agent = scenario.clones.agent.model_copy(update={"model": "sim/coordinator", "kind": None})
        return scenario.model_copy(update={"clones": scenario.clones.model_copy(update={"agent": agent})})
    agents = [a if a.model.startswith("sim/") else
              a.model_copy(update={"model": f"sim/{SIM_PERSONAS[i % len(SIM_PERSONAS)]}", "kind": None})
              for i, a in enumerate(scenario.agents)]
    return scenario.model_copy(update={"agents": agents})


def all_simulated(scenario: Scenario) -> bool:
    return all(a.model.startswith("sim/") for a in scenario.roster())


@dataclass
class RunResult:
    run_uid: str
    status: str
    messages: int
    errors: int
    crashed: list[str]
    rounds: int


async def run_batch(
    scenario: Scenario,
    store: Store,
    *,
    runs: int | None = None,
    seed: int | None = None,
    gateway: Gateway | None = None,
    on_event: Callable[[ev.Event], Awaitable[None]] | None = None,
) -> list[RunResult]:
    """Run `runs` replicates one after another; every message is stored as it lands."""
    own_gateway = gateway is None
    gateway = gateway or Gateway()
    results: list[RunResult] = []
    try:
        await gateway.prepare([a.model for a in scenario.roster()])
        base_seed = scenario.seed if seed is None else seed
        for replicate in range(runs or scenario.replicates):
            clock = VirtualClock() if all_simulated(scenario) else RealClock()
            engine = Engine(scenario, gateway, clock=clock, replicate=replicate, seed=base_seed + replicate)
            engine.subscribe(Recorder(store))
            if on_event is not None:
                engine.subscribe(on_event)
            done = await engine.run()
            results.append(RunResult(engine.run_uid, done.status, done.stats["messages"], done.stats["errors"],
                                     done.stats["crashed"], done.rounds))
    finally:
        if own_gateway:
            await gateway.aclose()
    return results
