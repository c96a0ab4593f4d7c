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

    simulated = False

    def __init__(self, script=None, window: int | None = None, kind: str = "chat") -> None:
        self.calls: list[ModelCall] = []
        self.script = script or (lambda call: f"reply {len(self.calls)}")
        self.window = window
        self.kind = kind
        self.gates: dict[str, asyncio.Event] = {}

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


def scenario_dict(n: int = 3, rounds: int = 1, **over) -> dict:
    data = {
        "name": "t", "brief": "@all Plan a food delivery app.", "rounds": rounds, "stagger": 0.0,
        "agents": [{"name": f"Model {i}", "model": f"m{i}"} for i in range(n)],
    }
    data.update(over)
    return data
