"""Pilot tests for issue 11: the lab as a researcher meets it."""

import io
import tomllib

from rich.console import Console

from textual.widgets import DataTable, Input, Static

from warroom_tui.settings import Settings, load_settings, save_setting
from warroom_tui.tui.browser import RunBrowser, RunView
from warroom_tui.tui.chat import ChatLog
from warroom_tui.tui.compare import CompareScreen
from warroom_tui.tui.detail import MessageDetail
from warroom_tui.tui.lab import LabScreen
from warroom_tui.tui.modals import HelpScreen, LinePrompt

from conftest import screen_text, sim_lab, wait_until
from test_analysis_lab import judged_db  # noqa: F401 (a fixture)
from test_lab import HOSTILE, paused


def plain(renderable) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def test_help_shows_keys_as_a_person_reads_them(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await paused(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {row[2]: row[0] for row in app.screen.rows}
        assert keys["temp_up"] == "+ =" and keys["step"] == "." and keys["help"] == "? F1"
        assert keys["export"] == "ctrl+e" and keys["pause"] == "space"
        assert not any("_" in row[0] for row in app.screen.rows)


async def test_the_theme_choice_is_remembered(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('# mine\nsim_pace = 10\n\n[keys]\nnaming = "k"\n', encoding="utf-8")
    app = sim_lab(tmp_path)
    app.settings_file = path
    async with app.run_test(size=(100, 30)) as pilot:
        await paused(pilot)
        await pilot.press("T")
        chosen = app.theme_name
    saved = load_settings(path)
    assert saved.theme == chosen != "dark" and saved.sim_pace == 10 and saved.keys == {"naming": "k"}
    assert path.read_text(encoding="utf-8").startswith(f'theme = "{chosen}"\n# mine\n')


def test_save_setting_replaces_the_line_and_keeps_tables(tmp_path):
    path = tmp_path / "s.toml"
    save_setting(path, "theme", "light")
    save_setting(path, "theme", "dark")
    path.write_text(path.read_text() + '[keys]\ntheme = "x"\n')
    save_setting(path, "theme", "light")
    assert tomllib.loads(path.read_text()) == {"theme": "light", "keys": {"theme": "x"}}


def test_exports_default_to_a_documents_folder():
    folder = Settings().export_folder()
    assert folder.is_absolute() and folder.name == "warroom-exports" and folder != folder.cwd()


async def test_coding_flags_show_a_mark_and_their_definition(tmp_path, judged_db):
    from test_analysis_lab import lab_app, start_coding

    app = lab_app(tmp_path, settings=Settings(judges=[]))
    app.virtual, app.pause_after = True, 0
    async with app.run_test(size=(110, 40)) as pilot:
        screen = await start_coding(pilot, "tester, 3")
        await pilot.press("2")
        shown = str(screen.query_one("#flags").render())
        meta = screen.codebook.flag("meta")
        assert "[x] META" in shown and "[ ] PHATIC" in shown
        assert meta.description[:60] in shown.replace("\n", " ")


async def test_messages_rewrap_after_the_terminal_grows(tmp_path):
    app = sim_lab(tmp_path, pause_after=1)
    async with app.run_test(size=(64, 24)) as pilot:
        lab = await paused(pilot)
        chat = lab.query_one(ChatLog)
        narrow = max(strip.cell_length for strip in chat.lines)
        await pilot.resize_terminal(160, 40)
        await wait_until(pilot, lambda: max(strip.cell_length for strip in chat.lines) > narrow + 30, "a rewrap")
        assert chat.following and chat.at_bottom


async def test_the_chat_keeps_following_after_writing_as_the_user(tmp_path):
    app = sim_lab(tmp_path, pause_after=2)
    async with app.run_test(size=(80, 24)) as pilot:
        lab = await paused(pilot)
        chat = lab.query_one(ChatLog)
        assert chat.at_bottom
        await pilot.press("m", *"Focus on cost", "enter")
        await wait_until(pilot, lambda: lab.session.engine.transcript[-1].sender == "user", "the user's message")
        await pilot.press("full_stop")
        await wait_until(pilot, lambda: lab.session.round == 2 and lab.state == "paused", "one more round")
        await pilot.pause()
        assert chat.at_bottom and chat.following


def stored_lab(tmp_path):
    from test_analysis_lab import lab_app

    app = lab_app(tmp_path, settings=Settings(judges=[]))
    app.virtual, app.pause_after = True, 0
    return app


async def open_browser(pilot) -> RunBrowser:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen), "the lab")
    await pilot.press("b")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunBrowser) and pilot.app.screen.entries, "runs")
    return pilot.app.screen


async def test_run_browser_lists_agents_and_searches_sorts_filters(tmp_path, judged_db):
    app = stored_lab(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        browser = await open_browser(pilot)
        a_run = next(e for e in browser.entries if e.series == "A")
        assert "GPT-OSS 120B" in a_run.agents  # the agents column is filled
        await pilot.press("slash", *"series:A")
        assert {e.series for e in browser.shown} == {"A"} and len(browser.shown) == 2
        browser.query_one("#search", Input).value = "-series:a status:done sim:yes"
        await pilot.pause()
        assert {e.series for e in browser.shown} == {"B"}
        browser.query_one("#search", Input).value = "qwen3"  # a bare word: any column (agents here)
        await pilot.pause()
        assert {e.series for e in browser.shown} == {"A"}
        browser.query_one("#search", Input).value = ""
        await pilot.press("enter")  # back to the table
        assert [e.id for e in browser.shown] == sorted((e.id for e in browser.entries), reverse=True)
        browser.sort_on("series")
        assert [e.series for e in browser.shown][0] == "A"
        browser.sort_on("series")
        assert [e.series for e in browser.shown][0] != "A"
        await pilot.press("s")  # the keyboard sorts by every column in turn
        assert browser.sort_by[0] == "scenario"
        await pilot.press("s", "s", "s", "s")
        assert browser.sort_by == ("messages", True)
        await pilot.press("r")
        assert browser.sort_by == ("messages", False)
        assert [e.messages for e in browser.shown] == sorted(e.messages for e in browser.shown)


async def test_compare_two_runs_side_by_side(tmp_path, judged_db):
    app = stored_lab(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        browser = await open_browser(pilot)
        browser.query_one("#search", Input).value = "scenario:study"
        await pilot.pause()
        await pilot.press("space", "down", "c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and len(app.screen.similarity) == 2,
                         "the comparison")
        screen = app.screen
        assert all(0 < v <= 1 for v in screen.similarity.values())
        text = " ".join(plain(s.content) for s in screen.query(Static))
        assert "agent profiles" in text and "flag rates" in text and "start" in text


async def test_message_details_and_markdown_view_of_a_stored_run(tmp_path, judged_db):
    app = stored_lab(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        browser = await open_browser(pilot)
        browser.query_one("#search", Input).value = "series:A"
        await pilot.pause()
        browser.query_one(DataTable).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunView) and app.screen.query_one(ChatLog).entries,
                         "the run")
        chat = app.screen.query_one(ChatLog)
        chat.scroll_end(animate=False)
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MessageDetail), "the details")
        detail = app.screen
        m = detail.message
        assert m.is_agent and m.model.startswith("sim/")
        await wait_until(pilot, lambda: "judge labels" in plain(detail.query_one("#labels").content), "labels")
        facts = plain(detail.query_one("#facts").content)
        assert m.model in facts and "had seen" in facts and "temperature" in facts
        assert "builtin@v4" in plain(detail.query_one("#labels").content)
        await pilot.click("#copy")
        assert app.clipboard == m.text
        await pilot.press("escape")
        await pilot.press("M")
        assert chat.markdown


async def test_markdown_view_never_interprets_markup_or_escapes(tmp_path):
    from warroom_tui.engine.transcript import Message

    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        chat = lab.query_one(ChatLog)
        chat.add_message(Message(seq=99, sender="a", text=HOSTILE + "\n\n**bold** and [link](http://x.y)",
                                 round=1, agent=0, nickname="A", model="sim/x"))
        chat.toggle_markdown()
        await pilot.pause()
        shown = screen_text(chat)
        assert "[bold red]not bold[/]" in shown and "\x1b" not in shown and "title" not in shown
        assert "**bold**" not in shown and "bold and link" in shown  # Markdown rendered, links not clickable
        assert all("link" not in str(seg.style or "") for strip in chat.lines for seg in strip)


async def test_a_wrong_count_of_custom_names_keeps_the_dialog_and_the_typing(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        lab = await paused(pilot)
        await pilot.press("N")
        assert isinstance(app.screen, LinePrompt)
        box = app.screen.query_one(Input)
        box.value = "A1, B2, C3"
        await pilot.press("enter")
        assert isinstance(app.screen, LinePrompt) and box.value == "A1, B2, C3"
        assert "give 8 different names" in plain(app.screen.query_one("#problem").content)
        box.value = "A1, B2, C3, D4, E5, F6, G7, H8"
        await pilot.press("enter")
        await wait_until(pilot, lambda: lab.session.nicknames[0] == "A1", "the custom names")


async def test_export_goes_to_the_export_dir_and_names_the_full_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = sim_lab(tmp_path, settings=Settings(export_dir="exports-here", judges=[]))
    async with app.run_test(size=(100, 30)) as pilot:
        await paused(pilot)
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: list((tmp_path / "exports-here").glob("*.md")), "the export")
        path = next((tmp_path / "exports-here").glob("*.md"))
        assert any(f"exported to {path}" == n.message for n in app._notifications)
        assert path.is_absolute()


async def test_keyboard_scrolling_everywhere_in_the_lab(tmp_path):
    app = sim_lab(tmp_path, pause_after=3)
    async with app.run_test(size=(80, 24)) as pilot:
        lab = await paused(pilot)
        chat = lab.query_one(ChatLog)
        await pilot.press("m", *"hello", "enter")
        await wait_until(pilot, lambda: lab.session.engine.transcript[-1].sender == "user", "the user's message")
        assert app.focused is chat  # not the hidden input
        await pilot.press("home")
        assert chat.scroll_y == 0 and not chat.following
        await pilot.press("pagedown")
        assert chat.scroll_y > 0
        await pilot.press("end")
        await pilot.pause()
        assert chat.at_bottom and chat.following
        lab.query_one("#agent-1").focus()  # a panel has focus: the lab's keys still scroll the chat
        await pilot.press("pageup")
        assert not chat.at_bottom
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert chat.at_bottom and chat.following


async def test_a_per_agent_temperature_shows_on_its_panel(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        lab = await paused(pilot)
        lab.query_one("#agent-1").focus()
        await pilot.press("plus")
        await wait_until(pilot, lambda: lab.panels[1].overridden, "the override")
        assert "T=0.90 own" in str(lab.panels[1].render())
        assert "own" not in str(lab.panels[0].render())


async def test_enter_on_the_chat_shows_the_message_details(tmp_path):
    app = sim_lab(tmp_path, pause_after=2)
    async with app.run_test(size=(120, 36)) as pilot:
        lab = await paused(pilot)
        lab.query_one(ChatLog).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MessageDetail), "the details")
        last = next(m for m in reversed(lab.session.engine.transcript) if m.is_agent)
        assert app.screen.message.seq == last.seq
        await wait_until(pilot, lambda: "judge labels" in plain(app.screen.query_one("#labels").content), "labels")
        await pilot.press("left")  # the details step through the chat's messages
        assert app.screen.message.seq < last.seq and app.screen.message.sender != "system"
        assert str(app.screen.message.text)[:20] in plain(app.screen.query_one("#text").content)
        await pilot.press("right")
        assert app.screen.message.seq == last.seq
        await pilot.press("escape")
        lab.query_one("#agent-2").focus()  # on a panel: that agent's latest message
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MessageDetail), "the agent's details")
        assert app.screen.message.agent == 2
        await pilot.press("escape")
        await pilot.press("M")
        assert lab.query_one(ChatLog).markdown


async def test_below_the_smallest_usable_size_a_notice_replaces_the_layout(tmp_path):
    app = sim_lab(tmp_path)
    async with app.run_test(size=(50, 12)) as pilot:
        lab = await wait_until_lab(pilot)
        assert lab.has_class("-too-small")
        assert "terminal too small: 64 x 16 needed" in plain(lab.query_one("#too-small").content)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not lab.has_class("-too-small") and lab.query_one(ChatLog).display


async def wait_until_lab(pilot) -> LabScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen), "the lab")
    await pilot.pause()
    return pilot.app.screen


def test_too_small_notice_snapshot(snap_compare, tmp_path):
    assert snap_compare(sim_lab(tmp_path), terminal_size=(50, 12), run_before=wait_until_lab)


def test_lab_at_80x24_with_a_crash_and_an_own_temperature_snapshot(snap_compare, tmp_path):
    async def run_before(pilot):
        lab = await paused(pilot)
        lab.query_one("#agent-1").focus()
        await pilot.press("plus", "x", "enter", "full_stop")  # Agent-B: own temperature, a permanent crash
        await pilot.pause()
        await paused(pilot)
        lab.query_one(ChatLog).focus()

    assert snap_compare(sim_lab(tmp_path, agents=4), terminal_size=(80, 24), run_before=run_before)


async def test_the_scenario_picker_describes_each_scenario_and_its_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    app = sim_lab(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await paused(pilot)
        await pilot.press("o")
        labels = {oid.rsplit("/", 1)[-1]: plain(label) for oid, label in app.screen.options}
        assert "Baseline: 7 heterogeneous models" in labels["study-A.toml"]
        assert "8 agents: groq/" in labels["study-A.toml"] and "GROQ_API_KEY (not set)" in labels["study-A.toml"]
        assert "no API key needed" in labels["local-clones.toml"]
        await pilot.press("escape")
        app.backend = "sim"  # `warroom lab --backend sim`: every scenario it opens runs simulated
        await pilot.press("o")
        assert "sim" in app.screen.title_text and all(
            "no API key needed" in plain(label) for _, label in app.screen.options)
        target = next(i for i, (oid, _) in enumerate(app.screen.options) if oid.endswith("study-A.toml"))
        await pilot.press(*(["down"] * target), "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.scenario.name != "sim-demo",
                         "the new scenario")
        assert all(a.model.startswith("sim/") for a in app.screen.scenario.roster())


async def test_the_bar_keeps_every_crash_at_80_columns(tmp_path):
    app = sim_lab(tmp_path, settings=Settings(judges=[]))
    async with app.run_test(size=(80, 24)) as pilot:
        lab = await paused(pilot)
        await pilot.press("x", "enter", "enter")  # Agent-A, permanent (Agent-G crashed already)
        await wait_until(pilot, lambda: 0 in lab.session.conditions.crashes, "the crash")
        await pilot.pause()
        bar = lab.query_one("#bar")
        shown = plain(bar.content).strip()
        assert "Agent-A:perm" in shown and "Agent-G:perm" in shown and len(shown) <= 78


async def test_end_follows_again_even_when_a_message_lands_during_the_jump(tmp_path):
    app = sim_lab(tmp_path, pause_after=3)
    async with app.run_test(size=(80, 24)) as pilot:
        lab = await paused(pilot)
        chat = lab.query_one(ChatLog)
        await pilot.press("home")
        assert not chat.following
        chat.action_scroll_end()
        chat.add_message(lab.session.engine.transcript[-1], "")  # lands before any animation could end
        await pilot.pause()
        assert chat.following
        await wait_until(pilot, lambda: chat.at_bottom, "the bottom")


def test_compare_timeline_is_in_round_order_and_reads_crashes_plainly():
    from warroom_tui.store.rows import EventRow, RunRow
    from warroom_tui.tui.compare import timeline

    run = RunRow.__new__(RunRow)
    object.__setattr__(run, "conditions", {"naming": "neutral", "crashes": [
        {"agent": "DeepSeek R1", "from_round": 0, "kind": "permanent", "visible": True, "message": None}]})
    events = [EventRow(3, 2, 9, "condition", "naming", None, "neutral", "real", ""),
              EventRow(1, 1, 4, "condition", "crash", 0, None, "timeout", ""),
              EventRow(2, 3, 12, "condition", "revive", 0, "timeout", None, "")]
    out = plain(timeline(run, events, {0: "Agent-A (GPT-OSS 120B)"}))
    assert "crashes: DeepSeek R1: permanent" in out and "{" not in out
    rows = [line.split()[1] for line in out.splitlines() if line.startswith("│ R")]
    assert rows == ["R1", "R2", "R3"]
    assert "crash Agent-A (GPT-OSS 120B): - → timeout" in out


def test_an_unknown_theme_or_key_id_in_settings_is_one_line(tmp_path, monkeypatch, capsys):
    from warroom_tui.cli import main

    settings = tmp_path / "settings.toml"
    monkeypatch.setenv("WARROOM_SETTINGS", str(settings))
    settings.write_text('theme = "solarised"\n')
    assert main(["lab", "sim-demo", "--backend", "sim", "--db", str(tmp_path / "l.db")]) == 2
    err = capsys.readouterr().err
    assert "theme" in err and "solarised" in err and err.count("\n") == 1  # before: dark, silently
    settings.write_text('[keys]\nnamming = "k"\n')
    assert main(["lab", "sim-demo", "--backend", "sim", "--db", str(tmp_path / "l.db")]) == 2
    err = capsys.readouterr().err
    assert "keys.namming" in err and err.count("\n") == 1  # before: ignored, the key silently lost


def test_the_compact_bar_keeps_the_crash_when_roles_are_assigned():
    from warroom_tui.tui.bar import ConditionsBar

    bar = ConditionsBar()
    bar.values = dict(naming="real", scaffolding="no-peers", temperature=0.8, crashes=["Crashed:permanent"],
                      round_=0, rounds=10, state="paused", roles="generator-critic")
    shown = bar.line(78).plain
    assert "Crashed:perm" in shown and shown.endswith("perm") and len(shown) <= 78  # before: "... · crash" cut
