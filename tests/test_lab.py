"""Pilot tests: every binding of the lab reaches the engine and the store."""

import asyncio
import sqlite3

import pytest

from warroom_tui.providers.base import ProviderError
from warroom_tui.settings import Settings
from warroom_tui.tui.browser import RunBrowser, RunView
from warroom_tui.tui.chat import ChatLog
from warroom_tui.tui.lab import LAB_BINDINGS, LabScreen
from warroom_tui.tui.modals import HelpScreen, LinePrompt, OptionPicker
from warroom_tui.tui.panel import AgentPanel

from conftest import FakeProvider, screen_text, sim_lab, wait_until


def lab_of(app) -> LabScreen:
    return next(s for s in app.screen_stack if isinstance(s, LabScreen))


async def paused(pilot) -> LabScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen) and pilot.app.screen.state == "paused"
                     and (pilot.app.screen.session.judge is None or pilot.app.screen.session.judge.idle),
                     "the lab to pause")
    return pilot.app.screen


def events(tmp_path, kind="condition"):
    con = sqlite3.connect(tmp_path / "lab.db")
    rows = con.execute("SELECT field, agent_idx, new, round FROM events WHERE kind=? ORDER BY id", (kind,)).fetchall()
    con.close()
    return rows


async def test_naming_scaffolding_and_temperature_keys(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        e = lab.session.control
        await pilot.press("n")
        assert e.conditions.naming == "real"
        await pilot.press("s")
        assert e.conditions.scaffolding == "no-peers"
        await pilot.press("plus")
        assert e.conditions.temperature == pytest.approx(0.9)
        lab.query_one("#agent-1", AgentPanel).focus()
        await pilot.press("minus")
        assert e.conditions.temperature_for(1) == pytest.approx(0.8) and e.conditions.temperature_for(0) == 0.9
        await pilot.pause()
        assert "condition naming: neutral → real" in screen_text(lab.query_one(ChatLog))
        assert lab.panels[0].nickname == "Architect"  # the panel follows the new names
    assert events(tmp_path) == [("naming", None, '"real"', 1), ("scaffolding", None, '"no-peers"', 1),
                                ("temperature", None, "0.9", 1), ("temperature", 1, "0.8", 1)]


async def test_crash_injection_and_revive_keys(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        e = lab.session.control
        lab.query_one("#agent-2", AgentPanel).focus()
        await pilot.press("x")
        assert isinstance(app.screen, OptionPicker)
        await pilot.press("down", "enter")  # permanent, then transient
        await wait_until(pilot, lambda: 2 in e.conditions.crashes, "the crash")
        assert e.conditions.crashes[2].kind == "transient"
        await pilot.press("full_stop")  # one round: the crash shows
        await paused(pilot)
        assert any(m.agent == 2 and m.is_error and m.round == 1 for m in e.transcript)
        lab.query_one("#agent-2", AgentPanel).focus()
        await pilot.press("v")
        await wait_until(pilot, lambda: 2 not in e.conditions.crashes, "the revival")
        # no focused panel: the lab asks which agent
        lab.query_one(ChatLog).focus()
        await pilot.press("x")
        assert isinstance(app.screen, OptionPicker)
        await pilot.press("enter")  # agent A
        await pilot.press("enter")  # permanent
        await wait_until(pilot, lambda: 0 in e.conditions.crashes, "the second crash")
    assert [(f, a, n) for f, a, n, _ in events(tmp_path)] == [
        ("crash", 2, '"transient"'), ("revive", 2, "null"), ("crash", 0, '"permanent"')]


async def test_pause_step_stop_and_new_run(tmp_path):
    provider = FakeProvider()
    app = sim_lab(tmp_path, pause_after=1, gateway=provider)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        e = lab.session.control
        assert e.paused and e.round == 0
        await pilot.press("full_stop")
        await wait_until(pilot, lambda: e.round == 1 and lab.state == "paused", "a step")
        assert e.paused
        gate = provider.gates["sim/architect"] = asyncio.Event()  # agent A will hang in round 2
        calls = len(provider.calls)
        await pilot.press("space")
        assert not e.paused
        await wait_until(pilot, lambda: len(provider.calls) > calls, "round 2 to start")
        await pilot.press("space")
        assert e.paused and lab.state == "paused"
        first_uid = lab.run_uid
        await pilot.press("e")  # stop cancels the hanging call
        await wait_until(pilot, lambda: lab.state == "stopped", "the stop")
        assert [p.status for p in lab.panels if p.status in ("typing", "timing out (injected)")] == []
        assert lab.panels[0].status == "stopped"  # the call it was typing was cancelled
        gate.set()
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.run_uid not in ("", first_uid)
                         and app.screen.state == "paused", "a new run")
    con = sqlite3.connect(tmp_path / "lab.db")
    assert [r[0] for r in con.execute("SELECT status FROM runs ORDER BY id")] == ["stopped", "stopped"]  # quitting stops


async def test_write_into_the_chat_and_custom_names(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        await pilot.press("m")
        await pilot.press(*"Focus on cost")
        await pilot.press("enter")
        await wait_until(pilot, lambda: lab.session.control.transcript[-1].sender == "user", "the user's message")
        assert lab.session.control.transcript[-1].text == "Focus on cost"
        await pilot.press("N")
        assert isinstance(app.screen, LinePrompt)
        app.screen.query_one("Input").value = "A1, B2, C3, D4, E5, F6, G7, H8"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(lab.session.control.conditions.naming, list), "custom names")
        assert lab.session.control.nicknames[0] == "A1"
        await pilot.press("n")  # the cycle now includes the custom names: custom -> neutral
        assert lab.session.control.conditions.naming == "neutral"
    con = sqlite3.connect(tmp_path / "lab.db")
    assert con.execute("SELECT text FROM messages WHERE sender='user' ORDER BY seq DESC").fetchone()[0] == "Focus on cost"


async def test_copy_export_theme_help_and_quit(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        await pilot.press("y")
        assert isinstance(app.screen, OptionPicker)
        await pilot.press("enter")  # the newest message
        assert app.clipboard == lab.query_one(ChatLog).messages[-1].text
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: list((tmp_path / "exports").glob("*.md")), "the export")
        md = next((tmp_path / "exports").glob("*.md")).read_text()
        assert md.startswith("# Run ") and "SIMULATED" in md
        theme = app.theme_name
        await pilot.press("T")
        assert app.theme_name != theme and app.has_class(f"theme-{app.theme_name}")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert {b.id for b in LAB_BINDINGS} <= {row[2] for row in app.screen.rows}
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_code == 0 or app.return_code is None


async def test_scenario_picker_and_run_browser(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await paused(pilot)
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, RunBrowser) and app.screen.run_ids, "the browser")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunView), "the run view")
        await wait_until(pilot, lambda: app.screen.query_one(ChatLog).messages, "the stored chat")
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, LabScreen)
        await pilot.press("o")
        assert isinstance(app.screen, OptionPicker)
        names = [o for o, _ in app.screen.options]
        target = next(i for i, n in enumerate(names) if n.endswith("local-clones.toml"))
        await pilot.press(*(["down"] * target), "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.scenario.name == "local-clones",
                         "the new scenario")


async def test_keys_are_rebindable_from_settings(tmp_path):
    app = sim_lab(tmp_path, settings=Settings(keys={"naming": "k"}, export_dir=str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        await pilot.press("k")
        assert lab.session.control.conditions.naming == "real"


async def test_command_palette_reaches_the_engine(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        commands = {c.title: c for c in app.get_system_commands(lab)}
        assert {"Naming", "Scaffold", "Crash", "Pause"} <= set(commands)
        commands["Scaffold"].callback()
        await wait_until(pilot, lambda: lab.session.control.conditions.scaffolding == "no-peers", "the palette command")


async def test_a_failing_agent_never_closes_the_app(tmp_path):
    def script(call):
        if call.model == "sim/coordinator":
            raise RuntimeError("provider exploded")
        if call.model == "sim/supporter":
            return ProviderError("transient", "503 Service Unavailable")
        return "fine"

    app = sim_lab(tmp_path, pause_after=2, gateway=FakeProvider(script))
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        assert lab.panels[1].status == "error" and lab.panels[2].status == "error"
        assert "provider exploded" in screen_text(lab.query_one(ChatLog))
        assert app.is_running


async def test_models_that_cannot_load_are_shown_not_fatal(tmp_path):
    class Broken(FakeProvider):
        async def prepare(self, models):
            raise ProviderError("permanent", "bundled model is not installed")

    app = sim_lab(tmp_path, pause_after=None, gateway=Broken())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.screen.state.startswith("failed to start"), "the failure")
        assert "not installed" in screen_text(app.screen.query_one(ChatLog))
        assert app.is_running


HOSTILE = ("[bold red]not bold[/] [@click=app.quit]click me[/] \x1b[31mred?\x1b[0m \x1b]0;title\x07"
           " $(rm -rf /) <script>x</script>")


async def test_hostile_text_is_shown_literally(tmp_path):
    long_line = "x" * 5_000
    huge = " ".join(f"word{i}" for i in range(10_000))
    replies = iter([HOSTILE, long_line, huge])
    app = sim_lab(tmp_path, pause_after=1, agents=3,
                  gateway=FakeProvider(lambda call: next(replies, "ok")))
    app.scenario = app.scenario.model_copy(update={"max_tokens": 8_000})  # the engine's reply cap fits `huge`
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        shown = screen_text(lab.query_one(ChatLog))
        assert "[bold red]not bold[/]" in shown and "[@click=app.quit]click me[/]" in shown
        assert "\x1b" not in shown and "red?" in shown and "title" not in shown.replace("titles", "")
        assert "<script>x</script>" in shown
        assert "more characters)" in shown  # the 10,000-word message is clipped in view, stored whole
        assert app.is_running
        for panel in lab.panels:
            assert "\x1b" not in str(panel.render())
    con = sqlite3.connect(tmp_path / "lab.db")
    stored = [r[0] for r in con.execute("SELECT text FROM messages WHERE agent_idx IS NOT NULL ORDER BY seq")]
    assert stored[2] == huge.strip()


async def test_chat_follows_only_at_the_bottom(tmp_path):
    app = sim_lab(tmp_path, pause_after=3)
    async with app.run_test(size=(80, 24)) as pilot:
        lab = await paused(pilot)
        chat = lab.query_one(ChatLog)
        assert chat.max_scroll_y > 0 and chat.following
        # RichLog scrolls to a new line's end after the next refresh: the last message's may be still to come
        await wait_until(pilot, lambda: chat.at_bottom, "the chat at the bottom")
        chat.scroll_to(y=0, animate=False)
        await pilot.pause()
        await lab.session.control.say("new message while reading")
        await pilot.pause()
        assert chat.scroll_y == 0  # reading above: no jump
        chat.scroll_end(animate=False)
        await pilot.pause()
        await lab.session.control.say("another")
        await wait_until(pilot, lambda: chat.at_bottom, "follow at the bottom")


async def test_tallies_key_and_live_labels_are_stored(tmp_path):
    app = sim_lab(tmp_path, pause_after=2)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        assert lab.panels[0].overlay.startswith("PH")
        assert lab.tallies == "counts"
        await pilot.press("j")
        assert lab.tallies == "rates" and "." in lab.panels[0].overlay
        await pilot.press("j")
        assert lab.tallies == "off" and lab.panels[0].overlay == ""
        coded = await app.store.db.execute_fetchall("SELECT COUNT(*) FROM codings")
        n = sum(1 for m in lab.session.control.transcript if m.is_agent and not m.is_error)
        assert coded[0][0] == n


async def test_q_quits_the_lab_live_and_in_replay(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await paused(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert app._exit  # before: `q` found no `quit` action on the lab screen and did nothing
    con = sqlite3.connect(tmp_path / "lab.db")
    assert [r[0] for r in con.execute("SELECT status FROM runs")] == ["stopped"]  # quitting stops the run
    con.close()
    from warroom_tui.tui.app import LabApp

    uid = sqlite3.connect(tmp_path / "lab.db").execute("SELECT uid FROM runs").fetchone()[0]
    replay = LabApp(app.scenario, db_path=tmp_path / "lab.db", settings=app.settings, replay=(uid, 0))
    async with replay.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(replay.screen, LabScreen), "the replay")
        await pilot.press("q")
        await pilot.pause()
        assert replay._exit


async def test_new_run_during_a_replay_starts_a_live_run(tmp_path):
    app = sim_lab(tmp_path, pause_after=None, agents=3)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.state == "done", "the run")
        uid = app.screen.run_uid
        await app.action_replay(uid, 0)
        await wait_until(pilot, lambda: app.screen.state == "replay done", "the replay")
        replay = app.screen
        assert replay.session.is_replay
        await pilot.press("R")
        await wait_until(pilot, lambda: app.screen is not replay and app.screen.state == "done", "a new live run")
        assert not app.screen.session.is_replay and app.screen.run_uid not in (uid, "")
    con = sqlite3.connect(tmp_path / "lab.db")
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


async def test_replay_shows_the_runs_conditions_as_they_happened(tmp_path):
    app = sim_lab(tmp_path, agents=3)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        await pilot.press("n", "s")  # real names, no-peers, from round 1
        await pilot.press("space")
        await wait_until(pilot, lambda: lab.state == "done", "the run")
        uid = lab.run_uid
        await app.action_replay(uid, 0)
        replay = app.screen
        await wait_until(pilot, lambda: replay.state == "replay done", "the replay")
        bar = str(replay.query_one("#bar").render())
        assert "naming real" in bar and "scaffold no-peers" in bar  # before: naming custom | scaffold full
        chat_names = {m.nickname for m in replay.query_one(ChatLog).messages if m.agent is not None and m.round == 1}
        assert {p.nickname for p in replay.panels} == chat_names == {"Architect", "Coordinator", "Supporter"}


async def test_an_injected_timeout_shows_as_such(tmp_path):
    from warroom_tui.engine.conditions import Crash

    app = sim_lab(tmp_path, agents=3)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        await lab.session.crash(1, "timeout")
        seen = []
        lab.panels[1].watch_status = lambda old, new: seen.append(new)
        await pilot.press("full_stop")
        await paused(pilot)
        assert "timing out (injected)" in seen and "typing" not in seen
        assert isinstance(lab.session.conditions.crashes[1], Crash)


async def test_one_round_numbering_in_chat_and_export(tmp_path):
    app = sim_lab(tmp_path, pause_after=4, agents=3)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        text = screen_text(lab.query_one(ChatLog))
        before_r3 = text[:text.index("· R3")]
        assert "Round 3" in before_r3 and "Round 4" not in text  # before: "— Round 4 —" above R3
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: list((tmp_path / "exports").glob("*.md")), "the export")
    md = next((tmp_path / "exports").glob("*.md")).read_text()
    assert md.index("## Round 3") < md.index("round 3") and "## Round 4" not in md


async def test_a_change_for_one_agent_names_it_in_the_chat_and_the_export(tmp_path):
    app = sim_lab(tmp_path, agents=3)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        lab.query_one("#agent-1", AgentPanel).focus()
        await pilot.press("minus")
        await pilot.pause()
        assert "condition temperature for Agent-B: 0.8 → 0.7 (from round 1)" in " ".join(
            screen_text(lab.query_one(ChatLog)).split())
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: list((tmp_path / "exports").glob("*.md")), "the export")
    md = next((tmp_path / "exports").glob("*.md")).read_text()
    assert "> condition temperature for Agent-B: 0.8 -> 0.7 (from round 1)" in md  # before: no agent, no round


async def test_a_replay_shows_the_stored_times_not_the_time_now(tmp_path):
    app = sim_lab(tmp_path, pause_after=None, agents=3)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.state == "done", "the run")
    from warroom_tui.tui.app import LabApp

    uid = sqlite3.connect(tmp_path / "lab.db").execute("SELECT uid FROM runs").fetchone()[0]
    replay = LabApp(app.scenario, db_path=tmp_path / "lab.db", settings=app.settings, replay=(uid, 0))
    async with replay.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(replay.screen, LabScreen)
                         and replay.screen.state == "replay done", "the replay")
        lab = replay.screen
        start, simulated = lab.session.replay_start
        assert simulated and start > 0
        clocks = [e[1] for e in lab.query_one(ChatLog).entries if not isinstance(e, str) and e[0].agent is not None]
        assert clocks and all(c.startswith("t+") for c in clocks)  # the run's own virtual time, as it was live
