from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import pytest

from warroom_tui.providers.base import ModelCall, ProviderError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "warroom-data"
TRANSCRIPTS = DATA / "transcripts"

needs_data = pytest.mark.skipif(not TRANSCRIPTS.is_dir(), reason="../shared/warroom-data is not here")


class FakeProvider:
    """Scripted replies; records every call. `script(call) -> str | ProviderError`."""

    def __init__(self, script=None, window: int | None = None, kind: str = "chat") -> None:
        self.calls: list[ModelCall] = []
        self.script = script or (lambda call: f"reply {len(self.calls)}")
        self.window = window
        self.kind = kind
        self.gates: dict[str, asyncio.Event] = {}

    async def prepare(self, models: list[str]) -> None:
        pass

    def context_window(self, model: str) -> int | None:
        return self.window

    def model_kind(self, model: str) -> str:
        return self.kind

    async def stream(self, call: ModelCall) -> AsyncIterator[str]:
        self.calls.append(call)
        gate = self.gates.get(call.model)
        if gate is not None:
            await gate.wait()
        out = self.script(call)
        if asyncio.iscoroutine(out):
            out = await out
        if isinstance(out, ProviderError):
            raise out
        for word in out.split(" "):
            yield word + " "

    async def aclose(self) -> None:
        pass


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


SMALL = """
name = "resume-small"
brief = "@all Plan a food delivery app."
rounds = 4
stagger = 1.0
seed = 5
[[agents]]
name = "Architect"
model = "sim/architect"
[[agents]]
name = "Coordinator"
model = "sim/coordinator"
[[agents]]
name = "Crashed"
model = "sim/skeptic"
[[agents]]
name = "Analyst"
model = "sim/analyst"
[[conditions.crashes]]
agent = "Crashed"
kind = "permanent"
"""


def scenario_dict(n: int = 3, rounds: int = 1, **over) -> dict:
    data = {
        "name": "t", "brief": "@all Plan a food delivery app.", "rounds": rounds, "stagger": 0.0,
        "agents": [{"name": f"Model {i}", "model": f"m{i}"} for i in range(n)],
    }
    data.update(over)
    return data


async def wait_until(pilot, condition, what: str = "condition", steps: int = 2000) -> None:
    """Let the app work until `condition()` holds; fail after a bounded number of steps."""
    for _ in range(steps):
        if condition():
            return
        await pilot.pause()
    raise AssertionError(f"timed out waiting for {what}")


def sim_lab(tmp_path, scenario: str = "sim-demo", pause_after: int | None = 1, agents: int | None = None,
            settings=None, gateway=None):
    """A lab on a simulated scenario in virtual time: deterministic, pauses after `pause_after` rounds."""
    from warroom_tui.runner import with_backend
    from warroom_tui.scenario import load_scenario, scenarios_dir
    from warroom_tui.settings import Settings
    from warroom_tui.tui.app import LabApp

    sc = with_backend(load_scenario(scenarios_dir() / f"{scenario}.toml"), "sim")
    if agents is not None:
        sc = sc.model_copy(update={"agents": sc.agents[:agents], "conditions": sc.conditions.model_copy(
            update={"crashes": [c for c in sc.conditions.crashes if c.agent in {a.name for a in sc.agents[:agents]}]})})
    settings = settings or Settings(export_dir=str(tmp_path / "exports"))
    return LabApp(sc, db_path=tmp_path / "lab.db", settings=settings, virtual=True, pause_after=pause_after,
                  gateway=gateway)


def screen_text(widget) -> str:
    """The plain text a RichLog shows."""
    return "\n".join(strip.text for strip in widget.lines)


def events_of(session, kind: type) -> list:
    """Every event of `kind` the session publishes from now on."""
    seen: list = []

    async def grab(event) -> None:
        if isinstance(event, kind):
            seen.append(event)

    session.subscribe(grab)
    return seen
