"""Benchmark: `warroom judge --judge builtin` over the study's whole corpus (208 runs, 14,427 messages)
as a user runs it: one whole process (start, imports, read, code, write), timed from outside, after
importing the transcripts into a fresh database. Prints the machine's load average next to each time:
on a shared machine, compare figures taken at the same load.

    .venv/bin/python bench/judge_corpus.py [../shared/warroom-data] [--repeat 3]

Before this round's work the same command took 9.1 s in-process by our own figure (37 s as a whole
process on a loaded machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def warroom(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "warroom_tui", *args], capture_output=True, text=True, check=True)


def measure(data: Path, repeat: int = 3) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "fresh.db"
        warroom("import", str(data / "transcripts"), "--db", str(fresh))
        runs = []
        for i in range(repeat):
            db = Path(tmp) / f"run{i}.db"
            shutil.copy(fresh, db)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            out = warroom("judge", "--judge", "builtin", "--db", str(db))
            runs.append({"whole_process_s": round(time.perf_counter() - t0, 2), "load_avg": round(load, 1)})
            assert "14427" in out.stdout, out.stdout
        per_message = asyncio.run(live_cost(fresh))
    return {"messages": 14427, "cores": os.cpu_count(), "runs": runs,
            "best_s": min(r["whole_process_s"] for r in runs), "before_s": 9.1, "live_ms_per_message": per_message}


async def live_cost(db: Path) -> dict:
    """What the live worker pays per message: one `code` call in a thread (as the judge worker does)."""
    from warroom_tui.judge.codebook import load_codebook
    from warroom_tui.judge.service import BuiltinJudge, RosterCache
    from warroom_tui.store.db import Store

    judge = BuiltinJudge(load_codebook())
    async with Store.open(db) as store:
        rosters = await RosterCache(store).load()
        todo = await store.uncoded_messages(await store.coder_id(judge.name, judge.kind, "v4"))
        jobs = [(m.text, rosters.roster(m.run_id, m.agent, m.copied)) for m in todo]
    times = []
    for text, roster in jobs:
        t0 = time.perf_counter()
        await judge.code(text, roster)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"mean": round(sum(times) / len(times), 3), "p99": round(times[len(times) * 99 // 100], 3),
            "max": round(times[-1], 1)}


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "warroom-data"
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", type=Path, default=default)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(measure(args.data, args.repeat))


if __name__ == "__main__":
    main()
