"""Crash safety: a headless batch killed with SIGKILL resumes with the same command, losing nothing."""

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest

from warroom_tui.engine.clock import VirtualClock
from warroom_tui.engine.loop import Engine
from warroom_tui.scenario import parse_scenario

from conftest import SMALL, FakeProvider, scenario_dict


def check_transcript(msgs, agents: int, rounds: int) -> None:
    assert [m.seq for m in msgs] == list(range(len(msgs)))  # no gap, no duplicate
    pairs = Counter((m.round, m.agent) for m in msgs if m.agent is not None)
    assert set(pairs.values()) == {1} and len(pairs) == agents * (rounds + 1)


async def test_engine_resumes_a_round_cut_short():
    s = parse_scenario(scenario_dict(3, rounds=3))
    full = Engine(s, FakeProvider(), clock=VirtualClock())
    await full.run()
    check_transcript(full.transcript, 3, 3)
    cut = full.transcript[:7]  # brief, round 0 (3), marker, two of round 1
    assert [m.round for m in cut[-2:]] == [1, 1]
    provider = FakeProvider()
    again = Engine(s, provider, clock=VirtualClock(), run_uid=full.run_uid, resume=list(cut))
    done = await again.run()
    assert done.status == "done"
    check_transcript(again.transcript, 3, 3)
    assert again.transcript[:7] == cut
    assert [c.model for c in provider.calls][:1] == ["m2"]  # only the agent still to speak in round 1
    assert sum(m.sender == "system" for m in again.transcript) == 3  # markers not repeated


def batch(db, scenario, kill_at: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_KILL_AT"}
    if kill_at:
        env["WARROOM_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "warroom_tui", "run", str(scenario), "--runs", "3", "--db", str(db), "--quiet"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def shape(db):
    """What must not depend on a kill: per run, the messages of each round by sender, and the statuses."""
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    out = []
    for run_id, replicate, status in con.execute("SELECT id, replicate, status FROM runs ORDER BY replicate, id"):
        seqs = [r[0] for r in con.execute("SELECT seq FROM messages WHERE run_id=? ORDER BY seq", (run_id,))]
        assert seqs == list(range(len(seqs)))  # no gap, no duplicate
        rows = con.execute("SELECT round, sender, is_error, text FROM messages WHERE run_id=? ORDER BY seq",
                           (run_id,)).fetchall()
        per_round = Counter((r, sender, err, text if sender == "system" else "") for r, sender, err, text in rows)
        out.append((replicate, status, sorted(per_round.items(), key=repr)))
    con.close()
    return out


@pytest.fixture(scope="module")
def small_batch(tmp_path_factory):
    """A small simulated scenario and the database of its uninterrupted 3-run batch."""
    folder = tmp_path_factory.mktemp("small")
    scenario = folder / "small.toml"
    scenario.write_text(SMALL)
    reference = folder / "ref.db"
    assert batch(reference, scenario).returncode == 0
    return scenario, reference


@pytest.mark.parametrize("kill_at", ["start:2", "stream:60", "round:3", "marker:2", "run:1"])
def test_killed_at_any_phase_then_resumed_equals_an_uninterrupted_batch(tmp_path, kill_at, small_batch):
    scenario, reference = small_batch
    db = tmp_path / "w.db"
    killed = batch(db, scenario, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # it died where it was told to
    before = snapshot(db)
    again = batch(db, scenario)
    assert again.returncode == 0, again.stderr
    assert before <= snapshot(db)  # nothing finished was lost or rewritten
    assert shape(db) == shape(reference)  # same messages per run, round and sender; no extra markers


def snapshot(db):
    con = sqlite3.connect(db)
    rows = con.execute("SELECT r.uid, m.seq, m.text FROM messages m JOIN runs r ON r.id=m.run_id").fetchall()
    con.close()
    return set(rows)
