"""Prompts for every scaffolding and naming variant, against the study's exact strings."""

from warroom_tui.engine.prompts import (
    PromptView, chat_messages, completion_prompt, fit_context, system_prompt,
)
from warroom_tui.engine.transcript import Message, strip_think
from warroom_tui.scenario import parse_scenario

from conftest import scenario_dict

NICKS = ["Agent-A", "Agent-B", "Agent-C"]


def test_full_prompt_is_the_studys_two_lines():
    assert system_prompt("full", "Agent-A", ["Agent-B", "Agent-C"]) == (
        "You are Agent-A in a group chat.\nOther agents: Agent-B, Agent-C")


def test_ablations_match_the_study():
    assert system_prompt("no-peers", "Agent-A", ["Agent-B"]) == "You are Agent-A in a group chat."
    assert system_prompt("no-identity", "Agent-A", ["Agent-B", "Agent-C"]) == "Other agents: Agent-B, Agent-C"
    assert system_prompt("empty", "Agent-A", ["Agent-B"]) == ""
    assert system_prompt("isolated", "Agent-A", ["Agent-B"]) == "You are an AI assistant."


def test_naming_variants():
    s = parse_scenario(scenario_dict(3))
    assert s.nicknames() == NICKS
    assert s.nicknames("real") == ["Model 0", "Model 1", "Model 2"]
    assert s.nicknames(["X", "Y", "Z"]) == ["X", "Y", "Z"]
    clones = parse_scenario({"name": "c", "brief": "b", "clones": {"count": 3, "agent": {"name": "L", "model": "m"}}})
    assert clones.nicknames() == ["Alpha", "Bravo", "Charlie"]
    assert clones.nicknames("real") == ["Alpha", "Bravo", "Charlie"]


def transcript() -> list[Message]:
    return [
        Message(seq=0, sender="user", text="@all brief"),
        Message(seq=1, sender="agent1", agent=0, round=0, text="mine"),
        Message(seq=2, sender="agent2", agent=1, round=0, text="theirs"),
        Message(seq=3, sender="agent3", agent=2, round=0, text="⚠ decommissioned", is_error=True),
        Message(seq=4, sender="system", text="— Round 2 —", round=1),
        Message(seq=5, sender="agent3", agent=2, round=1, text="⚠ hidden", is_error=True, visible=False),
    ]


def test_peers_are_user_turns_and_own_lines_assistant_turns():
    msgs = chat_messages(PromptView(me=0, nicknames=NICKS, scaffolding="full"), transcript())
    assert msgs == [
        {"role": "system", "content": "You are Agent-A in a group chat.\nOther agents: Agent-B, Agent-C"},
        {"role": "user", "content": "@all brief"},
        {"role": "assistant", "content": "mine"},
        {"role": "user", "content": "[Agent-B]: theirs"},
        {"role": "user", "content": "[Agent-C]: ⚠ decommissioned"},
    ]


def test_empty_prompt_sends_no_system_message():
    msgs = chat_messages(PromptView(me=1, nicknames=NICKS, scaffolding="empty"), transcript())
    assert msgs[0] == {"role": "user", "content": "@all brief"}
    assert {"role": "user", "content": "[Agent-A]: mine"} in msgs


def test_isolated_sees_only_the_brief():
    msgs = chat_messages(PromptView(me=1, nicknames=NICKS, scaffolding="isolated"), transcript())
    assert msgs == [{"role": "system", "content": "You are an AI assistant."},
                    {"role": "user", "content": "@all brief"}]


def test_speakers_carry_current_names():
    msgs = chat_messages(PromptView(me=0, nicknames=["A", "B", "C"], scaffolding="full"), transcript())
    assert {"role": "user", "content": "[B]: theirs"} in msgs


def test_base_model_completion_prompt():
    msgs = chat_messages(PromptView(me=0, nicknames=NICKS, scaffolding="full"), transcript())
    prompt, stop = completion_prompt(msgs, "Agent-A")
    assert prompt == ("You are Agent-A in a group chat.\nOther agents: Agent-B, Agent-C\n\n"
                      "[User]: @all brief\n[Agent-A]: mine\n[Agent-B]: theirs\n[Agent-C]: ⚠ decommissioned\n"
                      "[Agent-A]:")
    assert "\n[" in stop


def test_context_budget_drops_oldest_turns_but_keeps_system_and_brief():
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "brief"}] + [
        {"role": "user", "content": f"[B]: {'x' * 300} {i}"} for i in range(10)]
    kept, dropped = fit_context(msgs, budget=400)
    assert dropped > 0
    assert kept[:2] == msgs[:2]
    assert kept[-1] == msgs[-1]
    assert len(kept) == len(msgs) - dropped


def test_think_blocks_are_stripped():
    assert strip_think("<think>plan\nsecret</think>\nHello all") == "Hello all"
    assert strip_think("<think>never closed") == ""


def test_own_consecutive_turns_merge_and_a_final_own_turn_gets_the_round_marker():
    t = [Message(seq=0, sender="user", text="brief"),
         Message(seq=1, sender="agent1", agent=0, round=0, text="one"),
         Message(seq=2, sender="agent1", agent=0, round=1, text="two")]
    msgs = chat_messages(PromptView(me=0, nicknames=NICKS, scaffolding="full"), t, round_=2)
    assert msgs[1:] == [{"role": "user", "content": "brief"}, {"role": "assistant", "content": "one\n\ntwo"},
                        {"role": "user", "content": "— Round 3 —"}]
