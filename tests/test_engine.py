"""The conversation loop: visibility, condition changes, crash injection, determinism."""

import asyncio

import pytest

from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import RealClock, VirtualClock
from warroom_tui.engine.conditions import Crash
from warroom_tui.engine.loop import Engine
from warroom_tui.providers.base import ProviderError
from warroom_tui.scenario import parse_scenario

from conftest import FakeProvider, scenario_dict


def collect(engine: Engine) -> list[ev.Event]:
    seen: list[ev.Event] = []

    async def sub(event):
        seen.append(event)

    engine.subscribe(sub)
    return seen


async def test_round_zero_answers_the_brief_then_rounds_follow(fake):
    engine = Engine(parse_scenario(scenario_dict(3, rounds=2)), fake, clock=VirtualClock())
    done = await engine.run()
    assert done.status == "done" and done.rounds == 2
    agent_msgs = [m for m in engine.transcript if m.is_agent]
    assert [m.round for m in agent_msgs] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert engine.transcript[0].sender == "user"
    markers = [m.text for m in engine.transcript if m.sender == "system"]
    assert markers == ["— Round 1 —", "— Round 2 —"]  # one numbering: round 0 answers the brief


async def test_each_agent_sees_the_transcript_as_it_stood_when_its_call_started():
    """Real clock: agent 0 is still typing when agents 1 and 2 start, so they do not see it."""
    provider = FakeProvider()
    gate = provider.gates["m0"] = asyncio.Event()
    engine = Engine(parse_scenario(scenario_dict(3, rounds=0, stagger=0.001)), provider, clock=RealClock())
    events = collect(engine)

    async def release_when_others_done():
        while sum(isinstance(e, ev.MessageDone) for e in events) < 2:
            await asyncio.sleep(0)
        gate.set()

    await asyncio.gather(engine.run(), release_when_others_done())
    by_agent = {m.agent: m for m in engine.transcript if m.is_agent}
    assert by_agent[0].seq > by_agent[1].seq  # finished last, so joined the chat last
    assert by_agent[0].seen_upto == 0 and by_agent[1].seen_upto == 0
    assert by_agent[2].seen_upto == by_agent[1].seq  # 1 finished before 2 started
    first_call_messages = provider.calls[0].messages
    assert all("[Agent-B]" not in m["content"] for m in first_call_messages)


async def test_virtual_time_overlap_follows_stagger():
    """Virtual clock: 50-word replies take ~1.2 s; with stagger 0.5 the next agent cannot see them."""
    provider = FakeProvider(script=lambda call: " ".join(["word"] * 50))
    engine = Engine(parse_scenario(scenario_dict(3, rounds=1, stagger=0.5)), provider, clock=VirtualClock())
    await engine.run()
    r0 = [m for m in engine.transcript if m.is_agent and m.round == 0]
    assert all(m.seen_upto == 0 for m in r0)  # only the brief
    r1 = [m for m in engine.transcript if m.is_agent and m.round == 1]
    assert r1[0].seen_upto >= max(m.seq for m in r0)  # the next round sees the whole previous one
    assert all(m.finished_at > m.started_at for m in r0)


async def test_condition_change_applies_from_the_next_turn_and_is_recorded(fake):
    engine = Engine(parse_scenario(scenario_dict(2, rounds=2)), fake, clock=VirtualClock())
    events = collect(engine)

    async def on_round(event):
        if isinstance(event, ev.RoundDone) and event.round == 0:
            await engine.change("naming", "real")
            await engine.change("scaffolding", "no-peers")
            await engine.change("temperature", 0.2, agent=1)

    engine.subscribe(on_round)
    await engine.run()
    changes = [e for e in events if isinstance(e, ev.ConditionChanged)]
    assert [(c.field, c.round, c.new) for c in changes] == [
        ("naming", 1, "real"), ("scaffolding", 1, "no-peers"), ("temperature", 1, 0.2)]
    round0, round1 = fake.calls[:2], fake.calls[2:4]
    assert round0[0].messages[0]["content"].startswith("You are Agent-A in a group chat.\nOther agents:")
    assert round1[0].messages[0]["content"] == "You are Model 0 in a group chat."
    assert round1[1].temperature == 0.2 and round1[0].temperature == 0.8
    later = [m for m in engine.transcript if m.is_agent and m.round == 1]
    assert [m.nickname for m in later] == ["Model 0", "Model 1"]


async def test_change_mid_round_takes_effect_for_agents_not_yet_started(fake):
    engine = Engine(parse_scenario(scenario_dict(3, rounds=0)), fake, clock=VirtualClock())
    events = collect(engine)

    async def after_first(event):
        if isinstance(event, ev.MessageStarted) and event.agent == 0:
            await engine.change("scaffolding", "empty")

    engine.subscribe(after_first)
    await engine.run()
    change = next(e for e in events if isinstance(e, ev.ConditionChanged))
    assert change.round == 0
    assert fake.calls[0].messages[0]["role"] == "system"
    assert fake.calls[1].messages[0]["role"] == "user"


@pytest.mark.parametrize("kind", ["permanent", "transient", "timeout", "empty"])
async def test_crash_injection_each_kind(fake, kind):
    data = scenario_dict(3, rounds=3, leave_after=2)
    data["conditions"] = {"crashes": [{"agent": "Model 1", "kind": kind, "from_round": 1}]}
    engine = Engine(parse_scenario(data), fake, clock=VirtualClock())
    events = collect(engine)
    await engine.run()
    b = [m for m in engine.transcript if m.agent == 1]
    assert not b[0].is_error  # round 0 is before the crash
    failed = [m for m in b if m.is_error]
    assert all(m.text.startswith("⚠ ") and m.error_kind == kind for m in failed)
    crashed = [e for e in events if isinstance(e, ev.AgentCrashed)]
    if kind == "permanent":
        assert [m.round for m in failed] == [1, 2]  # leaves after two permanent errors, as in the study
        assert [e.agent for e in crashed] == [1]
        assert 1 not in engine.active
    else:
        assert [m.round for m in failed] == [1, 2, 3]  # stays in the run
        assert not crashed
    # peers see the error text
    later_call = next(c for c in fake.calls if c.model == "m2" and any("⚠" in m["content"] for m in c.messages))
    assert any(m["content"].startswith("[Agent-B]: ⚠") for m in later_call.messages)


async def test_hidden_crash_is_not_shown_to_peers(fake):
    data = scenario_dict(2, rounds=1)
    data["conditions"] = {"crashes": [{"agent": "Agent-B", "kind": "transient", "visible": False}]}
    engine = Engine(parse_scenario(data), fake, clock=VirtualClock())
    await engine.run()
    assert any(m.is_error and not m.visible for m in engine.transcript)
    assert all("⚠" not in m["content"] for c in fake.calls for m in c.messages)


async def test_injected_and_revived_mid_run(fake):
    engine = Engine(parse_scenario(scenario_dict(2, rounds=4, leave_after=1)), fake, clock=VirtualClock())

    async def control(event):
        if isinstance(event, ev.RoundDone) and event.round == 0:
            await engine.change("crash", Crash(kind="permanent"), agent=0)
        if isinstance(event, ev.RoundDone) and event.round == 2:
            await engine.change("revive", None, agent=0)

    engine.subscribe(control)
    await engine.run()
    a = [(m.round, m.is_error) for m in engine.transcript if m.agent == 0]
    assert a == [(0, False), (1, True), (3, False), (4, False)]


async def test_run_stops_when_every_agent_failed(fake):
    data = scenario_dict(2, rounds=5, leave_after=1)
    data["conditions"] = {"crashes": [{"agent": "1", "kind": "permanent"}, {"agent": "2", "kind": "permanent"}]}
    engine = Engine(parse_scenario(data), fake, clock=VirtualClock())
    done = await engine.run()
    assert done.status == "failed" and done.reason == "every agent failed"
    assert max(m.round for m in engine.transcript if m.is_agent) == 0


async def test_provider_errors_become_error_messages_not_crashes_of_the_run():
    def script(call):
        return ProviderError("permanent", "The model `m0` has been decommissioned") if call.model == "m0" else "ok"

    engine = Engine(parse_scenario(scenario_dict(2, rounds=2)), FakeProvider(script), clock=VirtualClock())
    done = await engine.run()
    assert done.status == "done"
    assert done.stats["crashed"] == ["Model 0"]


async def test_real_timeout_ends_one_call_not_the_run():
    provider = FakeProvider()
    provider.gates["m0"] = asyncio.Event()  # never set: m0 hangs
    engine = Engine(parse_scenario(scenario_dict(2, rounds=0, timeout=0.05)), provider, clock=RealClock())
    done = await engine.run()
    a = next(m for m in engine.transcript if m.agent == 0)
    assert a.is_error and a.error_kind == "timeout"
    assert done.status == "done"


async def test_think_and_ansi_are_removed_from_replies():
    provider = FakeProvider(script=lambda call: "<think>hidden plan</think> \x1b[31mHello\x1b[0m team")
    engine = Engine(parse_scenario(scenario_dict(1, rounds=0)), provider, clock=VirtualClock())
    await engine.run()
    assert engine.transcript[1].text == "Hello team"


async def test_base_models_get_a_completion_prompt():
    provider = FakeProvider(kind="base")
    engine = Engine(parse_scenario(scenario_dict(2, rounds=0)), provider, clock=VirtualClock())
    await engine.run()
    call = provider.calls[1]
    assert call.messages is None and call.prompt.endswith("[Agent-B]:")
    assert call.prompt.startswith("You are Agent-B in a group chat.")


async def test_context_budget_is_recorded_on_the_message():
    provider = FakeProvider(script=lambda call: " ".join(["long"] * 400), window=700)
    engine = Engine(parse_scenario(scenario_dict(2, rounds=3, max_tokens=64)), provider, clock=VirtualClock())
    await engine.run()
    assert any(m.dropped > 0 for m in engine.transcript if m.is_agent)


async def test_shuffled_order_is_seeded():
    def orders(seed):
        e = Engine(parse_scenario(scenario_dict(6, conditions={"order": "shuffled"})), FakeProvider(), seed=seed)
        return [e._order(r) for r in range(4)]

    assert orders(1) == orders(1)
    assert orders(1) != orders(2)
    assert any(o != sorted(o) for o in orders(1))


async def test_pause_step_resume_and_stop(fake):
    engine = Engine(parse_scenario(scenario_dict(2, rounds=5)), fake, clock=VirtualClock())
    events = collect(engine)
    engine.step()  # one round then pause
    task = asyncio.create_task(engine.run())
    while not any(isinstance(e, ev.RoundDone) for e in events):
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)
    assert engine.paused
    assert sum(isinstance(e, ev.RoundDone) for e in events) == 1
    engine.stop()
    done = await task
    assert done.status == "stopped"


async def test_user_can_write_into_the_chat(fake):
    engine = Engine(parse_scenario(scenario_dict(1, rounds=1)), fake, clock=VirtualClock())

    async def interject(event):
        if isinstance(event, ev.RoundDone) and event.round == 0:
            await engine.say("Please focus on cost.")

    engine.subscribe(interject)
    await engine.run()
    assert {"role": "user", "content": "[User]: Please focus on cost."} in fake.calls[-1].messages


async def test_a_copied_speaker_tag_is_dropped():
    provider = FakeProvider(script=lambda call: "[Agent-A]: Hello [Agent-B]: hi")
    engine = Engine(parse_scenario(scenario_dict(1, rounds=0)), provider, clock=VirtualClock())
    await engine.run()
    assert engine.transcript[1].text == "Hello [Agent-B]: hi"


async def test_a_change_for_one_agent_starts_at_that_agents_next_turn(fake):
    """Revived while its round-1 turn (an error) was done but others still had to speak: from round 2."""
    data = scenario_dict(3, rounds=2)
    engine = Engine(parse_scenario(data), fake, clock=VirtualClock())
    events = collect(engine)

    async def revive_midround(event):
        if isinstance(event, ev.MessageStarted) and event.round == 1 and event.agent == 1:
            await engine.change("revive", None, agent=0)  # agent 0 (not crashed) is done with round 1
            await engine.change("temperature", 0.5, agent=2)  # agent 2 has not spoken in round 1 yet

    engine.subscribe(revive_midround)
    await engine.run()
    changes = [(e.field, e.agent, e.round) for e in events if isinstance(e, ev.ConditionChanged)]
    assert changes == [("revive", 0, 2), ("temperature", 2, 1)]  # before: the revive said round 1
    temps = {(m.agent, m.round): m.temperature for m in engine.transcript if m.is_agent}
    assert temps[(2, 1)] == 0.5 and temps[(2, 0)] != 0.5
