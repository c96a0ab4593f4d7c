"""A run's lifecycle: interrupts, owners, what a run needs before it starts, read-only doors, replays."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from warroom_tui.cli import main
from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.service import BuiltinJudge
from warroom_tui.providers.gateway import Gateway
from warroom_tui.runner import with_backend
from warroom_tui.scenario import load_scenario, scenarios_dir
from warroom_tui.session import RunSession
from warroom_tui.store.db import Store

from conftest import sim_lab, wait_until
from conftest import SMALL
from test_crash_resume import batch, shape, small_batch  # noqa: F401 (a fixture)

CB = load_codebook()


def warroom(db, scenario, runs=3, **env):
    cmd = [sys.executable, "-m", "warroom_tui", "run", str(scenario), "--runs", str(runs), "--db", str(db), "--quiet"]
    full = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | env
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)


def wait_stopped(proc) -> None:
    """Until the process has frozen itself (WARROOM_STOP_AT), bounded."""
    for _ in range(60_000):
        with open(f"/proc/{proc.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.002)
    raise AssertionError("the process never reached its stop point")


def statuses(db):
    con = sqlite3.connect(db)
    rows = [r[0] for r in con.execute("SELECT status FROM runs ORDER BY id")]
    con.close()
    return rows


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_stops_the_batch_and_the_same_command_resumes(tmp_path, sig, small_batch):
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    db = tmp_path / "w.db"
    proc = warroom(db, scenario, WARROOM_STOP_AT="commit:8")
    wait_stopped(proc)
    os.kill(proc.pid, sig)
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "warroom: interrupted after 0 of 3 runs; run the same command to resume"
    assert statuses(db) == ["interrupted"]  # before: stopped, then the batch went on with the next runs
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM messages").fetchone()[0] >= 8  # finished messages kept
    con.close()
    again = warroom(db, scenario)
    again.communicate(timeout=300)
    assert again.returncode == 0
    assert shape(db) == shape(small_batch[1])  # as if never interrupted


def test_a_second_process_never_takes_over_a_live_run(tmp_path):
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    db = tmp_path / "w.db"
    first = warroom(db, scenario, WARROOM_STOP_AT="commit:6")
    wait_stopped(first)  # alive, and the owner of run 1
    con = sqlite3.connect(db)
    before = con.execute("SELECT id, seq, text FROM messages ORDER BY id").fetchall()
    con.close()
    second = warroom(db, scenario)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2, err  # before: it resumed the run (UNIQUE constraint failed, duplicate marker)
    assert "is being written by process" in err and "Traceback" not in err
    con = sqlite3.connect(db)
    assert con.execute("SELECT id, seq, text FROM messages ORDER BY id").fetchall() == before
    con.close()
    first.kill()  # now the owner is gone
    first.communicate()
    third = warroom(db, scenario)
    third.communicate(timeout=300)
    assert third.returncode == 0
    assert statuses(db) == ["done", "done", "done"]


async def test_a_run_left_running_by_a_dead_process_shows_as_interrupted(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    app = sim_lab(tmp_path, pause_after=1, agents=3)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "LabScreen" and app.screen.state == "paused")
    con = sqlite3.connect(tmp_path / "lab.db")
    con.execute("UPDATE runs SET status='running', owner_pid=?", (dead.pid,))
    con.commit()
    con.close()
    again = sim_lab(tmp_path, pause_after=1, agents=3)
    async with again.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: again.screen.__class__.__name__ == "LabScreen" and again.screen.state == "paused")
        assert statuses(tmp_path / "lab.db")[0] == "interrupted"


def test_no_run_starts_without_its_key(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    db = tmp_path / "w.db"
    assert main(["run", "study-A", "--runs", "1", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GROQ_API_KEY" in err[0] and "--backend sim" in err[0]
    assert not db.exists()  # nothing stored


async def test_the_lab_keeps_its_backend_and_refuses_a_run_without_a_key(tmp_path, monkeypatch):
    from warroom_tui.tui.app import LabApp
    from warroom_tui.tui.lab import LabScreen
    from warroom_tui.tui.modals import OptionPicker

    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    study_a = load_scenario(scenarios_dir() / "study-A.toml")
    app = LabApp(study_a, db_path=tmp_path / "lab.db", virtual=True, pause_after=1)
    async with app.run_test(size=(100, 30)) as pilot:
        from warroom_tui.tui.modals import NoticeDialog

        await wait_until(pilot, lambda: isinstance(app.screen, NoticeDialog), "the refusal", steps=20_000)
        assert any("GROQ_API_KEY" in line for line in app.screen.lines)  # a dialog says what is missing
        await pilot.press("escape")
        assert isinstance(app.screen, LabScreen) and app.screen.state.startswith("cannot start")
        assert "GROQ_API_KEY" in app.screen.state
    assert statuses(tmp_path / "lab.db") == []  # nothing stored: before, a run full of connection errors
    app = LabApp(load_scenario(scenarios_dir() / "sim-demo.toml"), db_path=tmp_path / "lab.db", virtual=True,
                 pause_after=1, backend="sim")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.state == "paused")
        await pilot.press("o")
        assert isinstance(app.screen, OptionPicker)
        names = [o for o, _ in app.screen.options]
        target = next(i for i, n in enumerate(names) if n.endswith("study-A.toml"))
        await pilot.press(*(["down"] * target), "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.scenario.name == "study-A"
                         and app.screen.state == "paused", "study-A, simulated")
        assert all(a.model.startswith("sim/") for a in app.screen.scenario.roster())  # before: real Groq models


def test_reading_commands_never_create_a_database(tmp_path, capsys):
    missing = tmp_path / "missing.sqlite"
    for argv in (["report"], ["export", "--out", str(tmp_path / "out")], ["judge"], ["replay", "1"],
                 ["export", "--format", "parquet", "--out", str(tmp_path / "pq")]):
        assert main([*argv, "--db", str(missing)]) == 2, argv
        assert "no such database" in capsys.readouterr().err or argv[0] == "replay"
        assert not missing.exists(), argv  # before: `report` created an empty database


def test_reading_commands_leave_no_file_beside_the_database(tmp_path, capsys):
    """A read-only connection cannot remove the -wal and -shm files SQLite makes beside a WAL database: every
    report left them there."""
    import hashlib

    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    db = tmp_path / "db" / "w.db"
    assert main(["run", str(scenario), "--runs", "1", "--db", str(db), "--quiet"]) == 0
    assert main(["judge", "--db", str(db)]) == 0
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert sorted(p.name for p in db.parent.iterdir()) == ["w.db"]
    for argv in (["report", "--include-simulated"], ["export", "--out", str(tmp_path / "out")],
                 ["export", "--format", "coded-csv", "--include-simulated", "--out", str(tmp_path / "c.csv")]):
        assert main([*argv, "--db", str(db)]) == 0, argv
        assert sorted(p.name for p in db.parent.iterdir()) == ["w.db"], argv
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    capsys.readouterr()


def test_a_locked_database_is_one_line(tmp_path):
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    db = tmp_path / "w.db"
    assert main(["run", str(scenario), "--runs", "1", "--db", str(db), "--quiet"]) == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        proc = warroom(db, scenario, runs=2)
        _, err = proc.communicate(timeout=120)
    finally:
        holder.rollback()
        holder.close()
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "locked" in lines[0] and "Traceback" not in err


async def test_replaying_a_run_never_changes_its_labels(tmp_path):
    scenario = with_backend(load_scenario(scenarios_dir() / "sim-demo.toml"), "sim").model_copy(update={"rounds": 2})
    async with Store.open(tmp_path / "w.db") as store:
        live = RunSession(scenario, store=store, gateway=Gateway(), judges=[BuiltinJudge(CB)], codebook=CB,
                          virtual=True)
        await live.run()
        await live.judge.drain()
        await live.close()
        # a later correction of one label (another coder version, a fix by hand) must survive a replay
        await store.db.execute("UPDATE labels SET value = 1 - value WHERE (coder_id, message_id, flag) = (SELECT coder_id, message_id, flag FROM labels LIMIT 1)")

        async def rows():
            return (await store.db.execute_fetchall("SELECT * FROM labels ORDER BY message_id, coder_id, flag"),
                    await store.db.execute_fetchall("SELECT * FROM codings ORDER BY message_id, coder_id"),
                    await store.db.execute_fetchall("SELECT * FROM messages ORDER BY id"))

        before = [list(map(tuple, r)) for r in await rows()]
        replay = await RunSession.replay(store, live.run_uid, speed=0, judges=[BuiltinJudge(CB)], codebook=CB)
        await replay.run()
        await replay.judge.drain()
        assert replay.judge.runs[live.run_uid].labels  # the replay was coded, for its overlays
        await replay.close()
        assert [list(map(tuple, r)) for r in await rows()] == before  # before: the replay rewrote the labels


def small_db(tmp_path):
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    db = tmp_path / "w.db"
    assert main(["run", str(scenario), "--runs", "1", "--db", str(db), "--quiet"]) == 0
    return scenario, db


def test_a_folder_given_as_the_database_is_one_line(tmp_path, capsys):
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    folder = tmp_path / "adir"
    folder.mkdir()
    for argv in (["run", str(scenario), "--quiet"], ["report"], ["judge"], ["import", str(scenario)]):
        code = main([*argv, "--db", str(folder)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, (argv, err)
        assert "is a folder, not a database file" in err or argv[0] == "import", err  # before: judge said "no such"
    assert list(folder.iterdir()) == []


def test_a_database_with_corrupted_pages_is_refused_not_half_read(tmp_path, capsys):
    _, db = small_db(tmp_path)
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = db.stat().st_size
    with open(db, "r+b") as f:  # scribble over the pages after the schema's
        f.seek(4096 * 3)
        f.write(b"\xa5" * min(4096 * 4, size - 4096 * 3))
    for argv in (["report"], ["judge"], ["export", "--out", str(tmp_path / "out")]):
        code = main([*argv, "--db", str(db)])
        err = capsys.readouterr().err
        assert code == 2 and "corrupted" in err and err.count("\n") == 1, (argv, err)


def test_a_database_on_a_read_only_folder_can_still_be_read(tmp_path, capsys):
    import os
    import stat

    if os.geteuid() == 0:
        pytest.skip("root writes through read-only permissions")
    _, db = small_db(tmp_path)
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert main(["export", "--out", str(tmp_path.parent / "ro-out"), "--db", str(db)]) == 0
    finally:
        tmp_path.chmod(stat.S_IRWXU)


def test_sigterm_before_the_first_run_starts_is_a_clean_interrupt(tmp_path, monkeypatch, capsys):
    import warroom_tui.session as session

    def slow_preflight(scenario):  # the signal lands while the run's needs are being checked
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)  # the handler must not wait for this thread to return
        return []

    monkeypatch.setattr(session, "preflight", slow_preflight)
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    assert main(["run", str(scenario), "--runs", "2", "--db", str(tmp_path / "w.db")]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err
    assert not (tmp_path / "w.db").exists()  # before: exit 143, no message
