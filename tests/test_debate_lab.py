"""The lab in a debate with assigned roles: role tags, each agent's answer, the live vote and accuracy."""

from warroom_tui.tui.debate import DebateStrip
from warroom_tui.tui.lab import LabScreen

from conftest import sim_lab, wait_until


async def until_paused(pilot) -> None:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen) and pilot.app.screen.state == "paused"
                     and (pilot.app.screen.session.judge is None or pilot.app.screen.session.judge.idle),
                     "the lab to pause")


def test_lab_debate_with_roles(snap_compare, tmp_path):
    assert snap_compare(sim_lab(tmp_path, scenario="local-debate", pause_after=2), terminal_size=(120, 36),
                        run_before=until_paused)


async def test_roles_toggle_in_the_lab_is_stored_and_shown(tmp_path):
    app = sim_lab(tmp_path, scenario="local-debate", pause_after=1)
    async with app.run_test(size=(120, 36)) as pilot:
        await until_paused(pilot)
        screen = app.screen
        assert [p.role for p in screen.panels] == ["generator", "generator", "generator", "critic"]
        strip = str(screen.query_one(DebateStrip).render())
        assert "vote R0" in strip and "accuracy" in strip
        assert all(p.answer is not None for p in screen.panels)
        await pilot.press("r")  # generator-critic -> none
        await pilot.pause()
        assert [p.role for p in screen.panels] == ["", "", "", ""]
        await pilot.press("full_stop")
        await until_paused(pilot)
        rows = await app.store.db.execute_fetchall("SELECT field, old, new, round FROM events WHERE kind='condition'")
        assert [tuple(r) for r in rows] == [("roles", '"generator-critic"', '"none"', 1)]
