"""Pilot tests for issue 11: the lab as a researcher meets it."""

import tomllib

from warroom_tui.settings import Settings, load_settings, save_setting
from warroom_tui.tui.lab import LabScreen
from warroom_tui.tui.modals import HelpScreen

from conftest import sim_lab, wait_until
from test_analysis_lab import judged_db  # noqa: F401 (a fixture)


async def paused(pilot) -> LabScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen) and pilot.app.screen.state == "paused"
                     and (pilot.app.screen.judge is None or pilot.app.screen.judge.idle),
                     "the lab to pause")
    return pilot.app.screen


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
