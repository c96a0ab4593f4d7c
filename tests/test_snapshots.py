"""Snapshots of the lab (deterministic: simulated agents, virtual time, fixed seeds)."""

from warroom_tui.settings import Settings
from warroom_tui.tui.lab import LabScreen

from conftest import sim_lab, wait_until


async def until_paused(pilot) -> None:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen) and pilot.app.screen.state == "paused"
                     and (pilot.app.screen.session.judge is None or pilot.app.screen.session.judge.idle),
                     "the lab to pause")


def test_lab_mid_run_8_agents(snap_compare, tmp_path):
    assert snap_compare(sim_lab(tmp_path, pause_after=2), terminal_size=(80, 24), run_before=until_paused)


def test_lab_mid_run_4_agents(snap_compare, tmp_path):
    assert snap_compare(sim_lab(tmp_path, pause_after=2, agents=4), terminal_size=(80, 24), run_before=until_paused)


def test_lab_large_terminal(snap_compare, tmp_path):
    assert snap_compare(sim_lab(tmp_path, pause_after=3), terminal_size=(140, 40), run_before=until_paused)


def test_lab_after_naming_toggle(snap_compare, tmp_path):
    async def run_before(pilot):
        await until_paused(pilot)
        await pilot.press("n", "full_stop")
        await pilot.pause()
        await until_paused(pilot)

    assert snap_compare(sim_lab(tmp_path, pause_after=1), terminal_size=(100, 30), run_before=run_before)


def test_lab_after_crash_injection(snap_compare, tmp_path):
    async def run_before(pilot):
        await until_paused(pilot)
        await pilot.press("x", "enter", "enter", "full_stop")  # Agent-A, permanent, one more round
        await pilot.pause()
        await until_paused(pilot)

    assert snap_compare(sim_lab(tmp_path, pause_after=1), terminal_size=(100, 30), run_before=run_before)


def test_help_screen(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("WARROOM_SETTINGS", "/settings/settings.toml")

    async def run_before(pilot):
        await until_paused(pilot)
        await pilot.press("question_mark")

    assert snap_compare(sim_lab(tmp_path), terminal_size=(100, 34), run_before=run_before)


def test_run_browser(snap_compare, tmp_path):
    async def run_before(pilot):
        await until_paused(pilot)
        await pilot.app.store.db.execute("UPDATE runs SET started_at='2026-11-21T10:00:00.000Z'")
        await pilot.app.store.db.commit()
        await pilot.press("b")
        await pilot.pause()

    assert snap_compare(sim_lab(tmp_path), terminal_size=(100, 24), run_before=run_before)


def test_light_theme(snap_compare, tmp_path):
    app = sim_lab(tmp_path, pause_after=2, settings=Settings(theme="light"))
    assert snap_compare(app, terminal_size=(100, 30), run_before=until_paused)


def test_dark_theme(snap_compare, tmp_path):
    app = sim_lab(tmp_path, pause_after=2, settings=Settings(theme="dark"))
    assert snap_compare(app, terminal_size=(100, 30), run_before=until_paused)


def test_judge_overlays_with_a_panel(snap_compare, tmp_path):
    async def run_before(pilot):
        await until_paused(pilot)
        await pilot.press("j")  # counts -> rates

    app = sim_lab(tmp_path, pause_after=4, settings=Settings(judges=["builtin", "sim/judge"]))
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
