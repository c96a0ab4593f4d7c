"""The simulator: deterministic per seed, reacting to what its prompt shows."""

from warroom_tui.engine.clock import VirtualClock
from warroom_tui.engine.loop import Engine
from warroom_tui.providers import simulator
from warroom_tui.providers.gateway import Gateway
from warroom_tui.runner import with_backend
from warroom_tui.scenario import load_scenario

from conftest import ROOT

FULL = [{"role": "system", "content": "You are Agent-A in a group chat.\nOther agents: Agent-B, Agent-C"},
        {"role": "user", "content": "@all We have a client who wants a food delivery app."}]


def test_same_seed_same_reply_other_seed_other_reply():
    a = simulator.reply("architect", FULL, seed=1)
    assert a == simulator.reply("architect", FULL, seed=1)
    assert any(simulator.reply("architect", FULL, seed=s) != a for s in range(2, 6))


def test_reads_its_prompt():
    msgs = FULL + [{"role": "user", "content": "[Agent-C]: ⚠ The model has been decommissioned"}]
    r = simulator.read_prompt(msgs)
    assert r.me == "Agent-A" and r.peers == ["Agent-B"] and r.dead == ["Agent-C"]
    assert r.lang == "en" and not r.real_names and not r.empty_prompt
    fr = simulator.read_prompt([{"role": "user", "content": "@all On a un client qui veut une app pour une ville"}])
    assert fr.lang == "fr" and fr.empty_prompt
    real = simulator.read_prompt([{"role": "system", "content": "You are Kimi K2 in a group chat.\nOther agents: Qwen3 32B"}])
    assert real.real_names


def test_conditions_pull_personas_together():
    neutral = simulator.read_prompt(FULL)
    empty = simulator.read_prompt(FULL[1:])

    def spread(reading):
        profiles = [simulator.propensities(p, reading) for p in simulator.PERSONAS]
        return sum(max(p[f] for p in profiles) - min(p[f] for p in profiles) for f in simulator.FLAGS)

    assert spread(empty) < 0.5 * spread(neutral)


def test_isolated_agents_never_address_peers():
    msgs = [{"role": "system", "content": "You are an AI assistant."}, FULL[1]]
    p = simulator.propensities("coordinator", simulator.read_prompt(msgs))
    assert p["lead"] == p["agree"] == p["comp"] == 0


def test_crashed_peer_draws_compensation():
    msgs = FULL + [{"role": "user", "content": "[Agent-C]: ⚠ decommissioned"}]
    texts = [simulator.reply("coordinator", msgs, seed=s) for s in range(40)]
    assert sum("Agent-C" in t for t in texts) >= 10


async def test_simulated_runs_are_deterministic_through_litellm():
    scenario = with_backend(load_scenario(ROOT / "scenarios" / "study-A.toml"), "sim")
    scenario = scenario.model_copy(update={"rounds": 2})

    async def run(seed):
        engine = Engine(scenario, Gateway(), clock=VirtualClock(), seed=seed)
        await engine.run()
        return [(m.seq, m.nickname, m.text) for m in engine.transcript]

    first = await run(5)
    assert first == await run(5)
    assert first != await run(6)
    assert any("⚠" in text for _, _, text in first)  # DeepSeek R1's injected crash
