"""Executors: who runs a batch's runs (a list of `RunSpec`s), with the same outcome in the store.

- `local` (the default): one run after another in this process (`runner.Batch`).
- `ray`: one Ray task per run, on a local Ray instance or a cluster (`ray_executor.py`; Ray is imported
  only then). The driver stays the one writer of the database.

Both skip the runs a spec already finished and take up interrupted ones from their stored messages, so the
same command on either executor resumes the same batch. A command builds the specs and calls:

    executor = executor_class(name)(store, fresh=..., on_event=..., on_progress=..., **ray_options)
    results = await executor.run([RunSpec(scenario, replicate, seed, cell="..."), ...])
    executor.close()

`on_event` gets every run's events after the store recorded them (a `RunStarted`'s run row exists then;
`spec_key(event.scenario, event.seed, event.replicate)` names its spec, and so its cell).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from warroom_tui.engine import events as ev
from warroom_tui.engine.status import RunStatus
from warroom_tui.runspec import RunSpec
from warroom_tui.store.db import Store

if TYPE_CHECKING:
    from warroom_tui.runner import Batch

EXECUTORS = ("local", "ray")
RAY_HINT = "pip install 'warroom-tui[ray]'"


@dataclass
class Counts:
    """What the progress bars show: runs done (of them stored: finished before this batch), running, failed,
    retried (a worker died; the run was taken up again), interrupted."""

    total: int = 0
    done: int = 0
    stored: int = 0
    running: int = 0
    failed: int = 0
    retried: int = 0
    interrupted: int = 0
    _started: set[str] = field(default_factory=set, repr=False)

    def line(self) -> str:
        stored = f" ({self.stored} stored)" if self.stored else ""
        out = f"done {self.done}{stored} · running {self.running} · failed {self.failed} · retried {self.retried}"
        return out + (f" · interrupted {self.interrupted}" if self.interrupted else "")

    def see(self, event: ev.Event) -> bool:
        """Count a run's start and end; True when a count changed. A run's end without its start is a run
        finished before this batch (stored)."""
        if isinstance(event, ev.RunStarted) and event.run_uid not in self._started:
            self._started.add(event.run_uid)
            self.running += 1
            return True
        if isinstance(event, ev.RunDone):
            if event.run_uid in self._started:
                self._started.discard(event.run_uid)
                self.running -= 1
            else:
                self.stored += 1
            if event.status == RunStatus.FAILED:
                self.failed += 1
            elif event.status in (RunStatus.INTERRUPTED, RunStatus.STOPPED):
                self.interrupted += 1
            else:
                self.done += 1
            return True
        return False


Progress = Callable[[Counts], None]


class LocalExecutor:
    """The runs one after another in this process: `runner.Batch` over the specs."""

    name = "local"

    def __init__(self, store: Store, gateway=None, *, fresh: bool = False, judges: list | None = None,
                 codebook=None, on_event: Callable[[ev.Event], Awaitable[None]] | None = None,
                 on_progress: Progress | None = None) -> None:
        from warroom_tui.providers.gateway import Gateway

        self.store = store
        self.gateway = gateway or Gateway()
        self._own_gateway = gateway is None
        self.fresh = fresh
        self.judges = judges
        self.codebook = codebook
        self.on_event = on_event
        self.on_progress = on_progress
        self.counts = Counts()
        self._batch: Batch | None = None

    @property
    def interrupted(self) -> bool:
        return self._batch is not None and self._batch.interrupted

    def interrupt(self) -> None:
        if self._batch is not None:
            self._batch.interrupt()

    async def _event(self, event: ev.Event) -> None:
        if self.counts.see(event) and self.on_progress is not None:
            self.on_progress(self.counts)
        if self.on_event is not None:
            await self.on_event(event)

    async def run(self, specs: list[RunSpec]):
        from warroom_tui.runner import Batch

        self.counts.total = len(specs)
        batch = self._batch = Batch(None, self.store, self.gateway, specs=specs, fresh=self.fresh,
                                    on_event=self._event, judges=self.judges, codebook=self.codebook)
        try:
            return await batch.run()
        finally:
            if self._own_gateway:
                await self.gateway.aclose()

    def close(self) -> None:
        pass


def check_address(address: str, timeout: float = 5.0) -> None:
    """ConnectionError, at once, when a cluster's `host:port` (or `ray://host:port`) does not answer: Ray's
    own connect retries for minutes. `auto` and other forms are left to Ray."""
    import socket

    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {host}:{port} ({exc.strerror or exc})") from None


def executor_class(name: str):
    """`local` or `ray`; ImportError naming the extra when Ray is not installed (Ray is imported only here)."""
    if name == "local":
        return LocalExecutor
    if name == "ray":
        try:
            from warroom_tui.executors.ray_executor import RayExecutor
        except ImportError as exc:
            if exc.name is not None and exc.name != "ray" and not exc.name.startswith("ray."):
                raise
            raise ImportError(f"Ray is not installed: {RAY_HINT}") from None
        return RayExecutor
    raise ValueError(f"unknown executor {name!r} (use {' or '.join(EXECUTORS)})")
