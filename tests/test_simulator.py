"""The simulator: deterministic per seed, reacting to what its prompt shows."""

from dataclasses import replace

import pytest

from warroom_tui.engine import loop, prompts
from warroom_tui.engine.clock import VirtualClock
from warroom_tui.engine.loop import Engine
from warroom_tui.engine.prompts import language
from warroom_tui.engine.transcript import Message
from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.llm import LLMJudge
from warroom_tui.judge.types import Roster
from warroom_tui.providers import simulator
from warroom_tui.providers.base import ChatContext, ModelCall, ProviderError
from warroom_tui.providers.gateway import Gateway
from warroom_tui.runner import with_backend
from warroom_tui.scenario import load_scenario, scenarios_dir


CTX = ChatContext(me="Agent-A", others=("Agent-B", "Agent-C"), spoke=(), crashed=(), naming="neutral",
                  scaffolding="full", lang="en", round=0)


def ctx(**over) -> ChatContext:
    return replace(CTX, **over)


def test_same_seed_same_reply_other_seed_other_reply():
    a = simulator.reply("architect", CTX, seed=1)
    assert a == simulator.reply("architect", CTX, seed=1)
    assert any(simulator.reply("architect", CTX, seed=s) != a for s in range(2, 6))


def test_reads_its_context():
    r = simulator.read(ctx(spoke=("Agent-C",), crashed=("Agent-C",)))
    assert r.me == "Agent-A" and r.peers == ["Agent-B"] and r.dead == ["Agent-C"]
    assert r.lang == "en" and not r.real_names and not r.empty_prompt
    empty = simulator.read(ctx(scaffolding="empty", lang="fr", spoke=("Agent-B",)))
    assert empty.lang == "fr" and empty.empty_prompt and empty.me is None and empty.peers == ["Agent-B"]
    real = simulator.read(ctx(me="Kimi K2", others=("Qwen3 32B",), naming="real"))
    assert real.real_names
    clones = simulator.read(ctx(me="Alpha", others=("Bravo",), naming="real"))  # clones keep Alpha, Bravo...
    assert not clones.real_names
    no_peers = simulator.read(ctx(scaffolding="no-peers", spoke=("Agent-C",)))
    assert no_peers.peers == ["Agent-C"] and no_peers.no_peer_list  # only those it heard


def test_the_brief_language_is_read_by_the_engine():
    assert language("@all On a un client qui veut une app pour une ville") == "fr"
    assert language("@all We have a client who wants a food delivery app.") == "en"


def test_conditions_pull_personas_together():
    def spread(reading):
        profiles = [simulator.propensities(p, reading) for p in simulator.PERSONAS]
        return sum(max(p[f] for p in profiles) - min(p[f] for p in profiles) for f in simulator.FLAGS)

    assert spread(simulator.read(ctx(scaffolding="empty"))) < 0.5 * spread(simulator.read(CTX))


def test_isolated_agents_never_address_peers():
    reading = simulator.read(ctx(scaffolding="isolated", spoke=("Agent-B",), crashed=("Agent-C",)))
    assert reading.peers == reading.dead == []
    p = simulator.propensities("coordinator", reading)
    assert p["lead"] == p["agree"] == p["comp"] == 0


def test_crashed_peer_draws_compensation():
    """Seldom, as in the study, but only when a peer crashed; and a peer that failed twice is still crashed."""
    said = ("has not answered", "is down", "is unavailable")
    crashed = ctx(spoke=("Agent-C",), crashed=("Agent-C",))
    assert sum(any(w in simulator.reply("coordinator", crashed, seed=s) for w in said) for s in range(100)) >= 5
    assert not any(any(w in simulator.reply("coordinator", CTX, seed=s) for w in said) for s in range(100))


def test_the_engine_says_who_crashed_in_the_chat_an_agent_sees():
    def msg(agent, text="fine", error=False, visible=True):
        return Message(seq=0, sender=f"agent{agent + 1}", text=text, agent=agent, is_error=error, visible=visible)

    view = prompts.PromptView(me=0, nicknames=["Agent-A", "Agent-B", "Agent-C"], scaffolding="full")
    brief = Message(seq=0, sender="user", text="@all hello")
    twice = [brief, msg(1), msg(2, "⚠ gone", True), msg(0), msg(2, "⚠ gone", True)]
    context = prompts.chat_context(view, twice, 1, "neutral", "en")
    assert context.spoke == ("Agent-B", "Agent-C") and context.crashed == ("Agent-C",)  # two errors: still crashed
    assert prompts.chat_context(view, twice + [msg(2)], 2, "neutral", "en").crashed == ()  # it answered again
    hidden = [brief, msg(2, "⚠ gone", True, visible=False)]
    assert prompts.chat_context(view, hidden, 1, "neutral", "en").spoke == ()  # peers never saw it


async def test_a_call_without_context_fails_plainly():
    with pytest.raises(ProviderError, match="context"):
        [p async for p in simulator.stream(ModelCall(model="sim/architect", messages=[]))]


async def test_changing_a_prompt_string_does_not_change_simulated_replies(monkeypatch):
    """The simulator reads the call's context, never the prompt: reword every prompt and the run is the same."""
    scenario = with_backend(load_scenario(scenarios_dir() / "study-A.toml"), "sim")
    scenario = scenario.model_copy(update={"rounds": 2})

    async def run():
        engine = Engine(scenario, Gateway(), clock=VirtualClock(), seed=3)
        await engine.run()
        errors = [m.text for m in engine.transcript if m.is_error]
        return [(m.seq, m.nickname, m.text) for m in engine.transcript if m.is_agent and not m.is_error], errors

    before, errors_before = await run()
    monkeypatch.setattr(prompts, "IDENTITY", "Your name here is {nickname}; this is a team chat.")
    monkeypatch.setattr(prompts, "PEERS", "Also present: {others}")
    monkeypatch.setattr(loop, "ERROR_MARK", "[error]")  # how a crashed peer looks in the chat
    assert prompts.system_prompt("full", "Agent-A", ["Agent-B"]).startswith("Your name here")
    after, errors_after = await run()
    assert errors_after != errors_before and all(e.startswith("[error]") for e in errors_after)
    assert after == before and any("DeepSeek" in text or "Agent-" in text for _, _, text in after)

    judge = LLMJudge("sim/judge", load_codebook(), Gateway())
    first = await judge.code("Agent-B, can you take the API? I will do the database schema.", judge_roster())
    monkeypatch.setattr(judge, "system", "Label this chat message with the flags: " + ", ".join(judge.codebook.ids))
    assert await judge.code("Agent-B, can you take the API? I will do the database schema.", judge_roster()) == first


def judge_roster() -> Roster:
    return Roster(aliases=(("Agent-A",), ("Agent-B",)), speaker=0, crashed=frozenset())


async def test_simulated_runs_are_deterministic():
    scenario = with_backend(load_scenario(scenarios_dir() / "study-A.toml"), "sim")
    scenario = scenario.model_copy(update={"rounds": 2})

    async def run(seed):
        engine = Engine(scenario, Gateway(), clock=VirtualClock(), seed=seed)
        await engine.run()
        return [(m.seq, m.nickname, m.text) for m in engine.transcript]

    first = await run(5)
    assert first == await run(5)
    assert first != await run(6)
    assert any("⚠" in text for _, _, text in first)  # DeepSeek R1's injected crash
