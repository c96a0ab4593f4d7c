"""What runs on a Ray worker: one run, scenario in, events out (a Ray generator task). It touches no store:
the driver (ray_executor.py) is the one writer of the database.

The task yields lists of the events the store needs (a run's start, finished messages, condition changes,
crashes, rounds, its end); token deltas stay on the worker. Finished messages go out at least every
`flush` seconds (0: each one as it is finished), always whole: a worker that dies loses nothing the driver
had stored, and the driver takes the run up again from the store.

Bundled local models are served by one `ModelServer` actor per model per node; a task on that node streams
from it over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import AsyncGenerator, Iterator

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import RealClock, VirtualClock
from warroom_tui.engine.loop import Engine
from warroom_tui.engine.transcript import Message
from warroom_tui.modelid import is_simulated
from warroom_tui.providers.gateway import Gateway
from warroom_tui.providers.local import LOCAL_PREFIX, LocalModels, Server
from warroom_tui.scenario import Scenario

KEPT = (ev.RunStarted, ev.MessageAdded, ev.MessageDone, ev.ConditionChanged, ev.AgentCrashed, ev.AgentRevived,
        ev.RoundDone, ev.RunDone)
"""What the driver records or counts; everything else (token deltas, statuses) stays on the worker."""
NAMESPACE = "warroom"
DIE_ONCE = "WARROOM_RAY_DIE_ONCE"
"""Test hook: `MARKER:n` makes the first task that sends its n-th batch of events exit at once (os._exit),
once per marker file: a worker that dies mid-run."""


@dataclass(frozen=True)
class Job:
    scenario: Scenario
    replicate: int
    seed: int
    run_uid: str
    resume: list[Message] | None
    """The run's stored messages when it is taken up again (None: a new run)."""
    flush: float = 0.05


class ModelServer:
    """A bundled model's server on one node (a Ray actor: one per model per node)."""

    def __init__(self, model: str, slots: int) -> None:
        self.model = model
        self.slots = slots
        self.models = LocalModels()

    async def address(self) -> tuple[str, str]:
        """The server's OpenAI-compatible address and model alias (started on the first call)."""
        server = await self.models.ensure(self.model, slots=self.slots)
        return server.api_base, server.alias

    async def close(self) -> None:
        await self.models.aclose()


def actor_name(key: str, node: str) -> str:
    return f"model-{key}-{node}"


def start_model_servers(slots: dict[str, int]) -> list:
    """On the driver: one `ModelServer` actor per bundled model (`local/...` -> slots) per live node, started
    before the tasks; they end with the driver. A node's server has a slot per agent of every task that node
    runs at once."""
    actor = ray.remote(num_cpus=0)(ModelServer)
    actors = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        per_node = max(1, int(node.get("Resources", {}).get("CPU", 1)))
        for model, n in slots.items():
            name = actor_name(model.removeprefix(LOCAL_PREFIX), node["NodeID"])
            actors.append(actor.options(name=name, namespace=NAMESPACE, get_if_exists=True,
                                        scheduling_strategy=strategy).remote(model, n * per_node))
    return actors


class ActorModels(LocalModels):
    """The task's view of the bundled models: its node's `ModelServer` actors; on a node that has none (it
    joined after the batch started), servers of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.remote: dict[str, tuple[str, str]] = {}

    async def ensure(self, model: str, slots: int = 4) -> Server:
        key = self.spec(model).key
        if key not in self.remote:
            try:
                actor = ray.get_actor(actor_name(key, ray.get_runtime_context().get_node_id()), namespace=NAMESPACE)
            except ValueError:
                return await super().ensure(model, slots)
            self.remote[key] = await actor.address.remote()
        api_base, alias = self.remote[key]
        return Server(alias=alias, api_base=api_base, process=None, slots=slots)


async def _events(job: Job) -> AsyncGenerator[list[ev.Event], None]:
    s = job.scenario
    gateway = Gateway(local=ActorModels())
    virtual = all(is_simulated(a.model) for a in s.roster())
    queue: asyncio.Queue[ev.Event | None] = asyncio.Queue()

    async def keep(event: ev.Event) -> None:
        if isinstance(event, KEPT):
            queue.put_nowait(event)

    task: asyncio.Task | None = None
    try:
        await gateway.prepare([a.model for a in s.roster()])
        engine = Engine(s, gateway, clock=VirtualClock() if virtual else RealClock(), replicate=job.replicate,
                        seed=job.seed, run_uid=job.run_uid, resume=job.resume)
        engine.subscribe(keep)
        task = asyncio.create_task(engine.run())
        task.add_done_callback(lambda _: queue.put_nowait(None))  # after its RunDone, or instead (a bug)
        pending: list[ev.Event] = []
        sent = time.monotonic()
        while True:
            event = await queue.get()
            if event is None:
                task.result()  # the engine's exception fails the task (the driver retries the run)
                raise RuntimeError("the engine ended without finishing its run")
            pending.append(event)
            if isinstance(event, ev.RunDone):
                yield pending
                return
            finished = isinstance(event, (ev.MessageDone, ev.MessageAdded))
            if finished and (job.flush <= 0 or time.monotonic() - sent >= job.flush or not virtual):
                yield pending
                pending, sent = [], time.monotonic()
    finally:
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await gateway.aclose()


def run_events(job: Job) -> Iterator[list[ev.Event]]:
    """The Ray generator task's body: drive the async engine on this worker's own event loop."""
    loop = asyncio.new_event_loop()
    batches = _events(job)
    sent = 0
    try:
        while True:
            try:
                batch = loop.run_until_complete(batches.__anext__())
            except StopAsyncIteration:
                return
            _maybe_die(sent)
            yield batch
            sent += 1
    finally:
        loop.run_until_complete(batches.aclose())
        loop.close()


def _maybe_die(sent: int) -> None:
    marker, _, n = os.environ.get(DIE_ONCE, "").partition(":")
    if marker and sent == int(n or 1):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os._exit(1)
