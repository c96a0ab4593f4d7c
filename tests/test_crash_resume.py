"""Crash safety: a headless batch killed with SIGKILL resumes with the same command, losing nothing."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from warroom_tui.engine.clock import VirtualClock
from warroom_tui.engine.loop import Engine
from warroom_tui.scenario import parse_scenario

from conftest import FakeProvider, scenario_dict


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


def snapshot(db):
    con = sqlite3.connect(db)
    rows = con.execute("SELECT r.uid, m.seq, m.text FROM messages m JOIN runs r ON r.id=m.run_id").fetchall()
    con.close()
    return set(rows)


def count(db) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        n = con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        con.close()
        return n
    except sqlite3.Error:
        return 0


def test_sigkill_mid_batch_then_the_same_command_resumes(tmp_path):
    db = tmp_path / "w.db"
    cmd = [sys.executable, "-m", "warroom_tui", "run", "sim-demo", "--runs", "3", "--seed", "9", "--db", str(db),
           "--quiet"]
    total = 3 * (1 + 10 + 7 * 11 + 2)  # per run: brief, round markers, 7 agents x 11 rounds, the crashed one's 2
    kill_at = random.Random(os.getpid()).randint(20, total - 40)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while count(db) < kill_at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # polling the database for the moment to kill, not waiting blind
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = snapshot(db)
    assert 0 < len(before) < total, f"killed at {len(before)} of {total}"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    after = snapshot(db)
    assert before <= after  # nothing finished was lost or rewritten
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    runs = con.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
    assert [s for _, s in runs] == ["done", "done", "done"]
    for run_id, _ in runs:
        seqs = [r[0] for r in con.execute("SELECT seq FROM messages WHERE run_id=? ORDER BY seq", (run_id,))]
        assert seqs == list(range(len(seqs)))
        pairs = con.execute("SELECT round, agent_idx, COUNT(*) FROM messages WHERE run_id=? AND agent_idx IS NOT NULL"
                            " GROUP BY round, agent_idx HAVING COUNT(*) > 1", (run_id,)).fetchall()
        assert pairs == []
    assert len(after) == total
