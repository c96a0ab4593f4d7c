"""The statistics screen, the human coding screen and replay."""

import pytest

from warroom_tui.cli import main
from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import VirtualClock
from warroom_tui.engine.loop import Engine
from warroom_tui.providers.gateway import Gateway
from warroom_tui.replay import Replayer
from warroom_tui.runner import with_backend
from warroom_tui.scenario import load_scenario, scenarios_dir
from warroom_tui.settings import Settings
from warroom_tui.store.db import Store
from warroom_tui.store.recorder import Recorder
from warroom_tui.tui.coding import CodingScreen, draw_sample
from warroom_tui.tui.lab import LabScreen
from warroom_tui.tui.stats import StatsScreen

from conftest import sim_lab, wait_until


@pytest.fixture
def judged_db(tmp_path):
    """Two simulated series, two runs each, coded by the built-in judge."""
    db = tmp_path / "lab.db"
    assert main(["run", "study-A", "--backend", "sim", "--runs", "2", "--seed", "1", "--db", str(db), "--quiet"]) == 0
    assert main(["run", "study-B", "--backend", "sim", "--runs", "2", "--seed", "1", "--db", str(db), "--quiet"]) == 0
    assert main(["judge", "--db", str(db)]) == 0
    return db


def lab_app(tmp_path, **kw):
    return sim_lab(tmp_path, pause_after=None, **kw)


async def open_stats(pilot) -> None:
    """The statistics screen, simulated runs included (`i`): they are left out by default."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen), "the lab")
    await pilot.press("S")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, StatsScreen) and "left out" in status(pilot),
                     "stats")
    assert pilot.app.screen.report is None and "4 simulated runs left out (i to include them)" in status(pilot)
    await pilot.press("i")
    await wait_until(pilot, lambda: pilot.app.screen.report, "stats with simulated runs")


def status(pilot) -> str:
    return str(pilot.app.screen.query_one("#status").render())


def test_statistics_screen_snapshot(snap_compare, tmp_path, judged_db):
    app = lab_app(tmp_path, settings=Settings(judges=[]))
    app.virtual, app.pause_after = True, 0  # the lab's own run pauses at once
    assert snap_compare(app, terminal_size=(110, 60), run_before=open_stats)


async def test_statistics_screen_refreshes_as_runs_finish(tmp_path, judged_db):
    app = sim_lab(tmp_path, pause_after=0)  # the lab's own run waits until the screen has its first report
    async with app.run_test(size=(110, 40)) as pilot:
        await open_stats(pilot)
        screen = pilot.app.screen
        before = {r["series"]: r["runs"] for r in screen.report["cosine"]}
        assert before == {"A (sim)": 2, "B (sim)": 2}  # never pooled with real runs of A and B
        assert {(c["x"], c["y"]) for c in screen.report["comparisons"]} == {("A (sim)", "B (sim)")}
        await wait_until(pilot, lambda: screen.report["runs"] if "runs" in screen.report else True, "x")
        # the lab's own sim-demo run finishes (its judge codes it): the screen picks it up
        await next(s for s in app.screen_stack if isinstance(s, LabScreen)).session.toggle_pause()
        await screen.action_refresh()
        await wait_until(pilot, lambda: lab_state(app).startswith("done"), "the lab run")
        await wait_until(pilot, lambda: lab_judge_idle(app), "the judge")
        await screen.action_refresh()
        assert "sim-demo (sim)" in {r["series"] for r in screen.report["cosine"]}


def lab_state(app) -> str:
    return next(s for s in app.screen_stack if isinstance(s, LabScreen)).state


def lab_judge_idle(app) -> bool:
    lab = next(s for s in app.screen_stack if isinstance(s, LabScreen))
    return lab.session.judge is None or lab.session.judge.idle


async def start_coding(pilot, answer: str) -> CodingScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen), "the lab")
    await pilot.press("h")
    pilot.app.screen.query_one("Input").value = answer
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, CodingScreen) and pilot.app.screen.sample, "coding")
    return pilot.app.screen


def test_coding_screen_snapshot(snap_compare, tmp_path, judged_db):
    async def run_before(pilot):
        screen = await start_coding(pilot, "tester, 6")
        await pilot.press("2", "4")

    app = lab_app(tmp_path, settings=Settings(judges=[]))
    app.virtual, app.pause_after = True, 0
    assert snap_compare(app, terminal_size=(110, 40), run_before=run_before)


async def test_a_full_human_coding_session_resumed_after_a_restart(tmp_path, judged_db):
    app = lab_app(tmp_path, settings=Settings(judges=[]))
    app.virtual, app.pause_after = True, 0
    async with app.run_test(size=(110, 40)) as pilot:
        screen = await start_coding(pilot, "tester, 4")
        sample = list(screen.sample)
        assert len(sample) == 4
        await pilot.press("2", "enter")  # META on the first
        await pilot.press("4", "5", "enter")  # ARCH and AGREE on the second
        assert screen.index == 2
    # a new app on the same database: the session resumes at the third message
    app2 = lab_app(tmp_path, settings=Settings(judges=[]))
    app2.virtual, app2.pause_after = True, 0
    async with app2.run_test(size=(110, 40)) as pilot:
        screen = await start_coding(pilot, "tester, 99")
        assert screen.sample == sample and screen.index == 2
        await pilot.press("backspace")
        assert screen.current["arch"] and screen.current["agree"] and not screen.current["meta"]
        await pilot.press("enter", "1", "enter", "enter")
        await wait_until(pilot, lambda: screen.done_view, "the kappa table")
        agreement = screen.agreement
    assert agreement["builtin@v4"]["n"] == 4
    async with Store.open(tmp_path / "lab.db") as store:
        coders = {c.name: c.id for c in await store.coders()}
        labels = await store.labels(coders["tester"])
    assert [labels[m]["meta"][0] for m in sample] == [True, False, False, False]
    assert [labels[m]["phatic"][0] for m in sample] == [False, False, True, False]


async def test_sample_is_stratified_and_seeded(tmp_path, judged_db):
    async with Store.open(judged_db) as store:
        a = await draw_sample(store, 20, seed=1)
        assert a == await draw_sample(store, 20, seed=1) and a != await draw_sample(store, 20, seed=2)
        rows = await store.db.execute_fetchall(
            f"SELECT DISTINCT r.series FROM messages m JOIN runs r ON r.id=m.run_id WHERE m.id IN ({','.join('?' * len(a))})",
            a)
        assert {r[0] for r in rows} == {"A", "B"} and len(set(a)) == 20


async def test_replay_emits_what_the_engine_emitted(tmp_path):
    scenario = with_backend(load_scenario(scenarios_dir() / "sim-demo.toml"), "sim").model_copy(update={"rounds": 2})
    async with Store.open(tmp_path / "w.db") as store:
        engine = Engine(scenario, Gateway(), clock=VirtualClock())
        engine.subscribe(Recorder(store))
        live = []

        async def grab(e):
            live.append(e)
            if isinstance(e, ev.RoundDone) and e.round == 0:
                await engine.change("naming", "real")

        engine.subscribe(grab)
        await engine.run()
        replayer = await Replayer.load(store, engine.run_uid, speed=0)
        replayed = []

        async def grab2(e):
            replayed.append(e)

        replayer.subscribe(grab2)
        done = await replayer.run()
    def kinds(events):
        # what lands in the chat, in order (starts interleave differently: the replay does not overlap turns)
        return [(type(e).__name__, getattr(e, "round", None), getattr(getattr(e, "message", None), "seq", None))
                for e in events if isinstance(e, (ev.MessageAdded, ev.MessageDone, ev.RoundDone, ev.ConditionChanged))]

    assert kinds(replayed) == kinds(live)
    assert [m.text for m in replayer.transcript] == [m.text for m in engine.transcript]
    assert done.status == "done"
    with pytest.raises(PermissionError):
        await replayer.change("naming", "neutral")


async def test_lab_replays_a_stored_run_read_only(tmp_path, judged_db):
    from warroom_tui.tui.app import LabApp

    async with Store.open(judged_db) as store:
        [first, *_] = await store.runs()
    app = LabApp(load_scenario(scenarios_dir() / "sim-demo.toml"), db_path=judged_db, replay=(first.uid, 0))
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.state == "replay done"
                         and app.screen.session.judge.idle, "the replay")
        lab = app.screen
        assert len(lab.session.control.transcript) == first.n_messages + 1 + 10  # + brief + round markers
        await pilot.press("n")
        assert lab.session.control.conditions.naming != "real"  # read-only
        assert lab.panels[0].overlay  # the judge overlays updated
