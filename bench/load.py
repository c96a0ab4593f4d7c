"""Benchmark under load: 4 concurrent simulated runs of 8 agents x 20 rounds with judge workers on
(one of them in the lab), reporting messages/s, memory over time and the lab's key-press latency.

    .venv/bin/python bench/load.py [--pace 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from textual import events

from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.service import BuiltinJudge
from warroom_tui.providers.gateway import Gateway
from warroom_tui.scenario import parse_scenario
from warroom_tui.session import RunSession
from warroom_tui.settings import Settings
from warroom_tui.store.db import Store
from warroom_tui.tui.app import LabApp
from warroom_tui.tui.lab import LabScreen

PERSONAS = ["architect", "coordinator", "supporter", "analyst", "summarizer", "lurker", "skeptic", "architect"]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def scenario(i: int):
    return parse_scenario({
        "name": f"load-{i}", "series": "load", "brief": "@all We have a client who wants a food delivery app.",
        "rounds": int(os.environ.get("LOAD_ROUNDS", "19")), "stagger": 0.05, "seed": i,
        "agents": [{"name": f"P{k}", "model": f"sim/{p}"} for k, p in enumerate(PERSONAS)]})


async def main(pace: float) -> dict:
    cb = load_codebook()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "load.db"
        gateway = Gateway(sim_pace=pace)
        app = LabApp(scenario(0), db_path=db, settings=Settings(sim_pace=pace), gateway=gateway)
        async with app.run_test(size=(120, 40)) as pilot:
            while not (isinstance(app.screen, LabScreen) and app.screen.state == "running"):
                await pilot.pause(0.05)
            lab = app.screen
            others = []
            async with Store.open(db) as store:
                t0 = time.perf_counter()
                for i in (1, 2, 3):
                    session = RunSession(scenario(i), store=store, gateway=gateway, judges=[BuiltinJudge(cb)],
                                         codebook=cb)
                    session.start()
                    others.append(session)
                handled = asyncio.Event()
                lab.action_help = handled.set  # a cheap action: times the key's trip, not the action
                latencies, memory = [], []
                while not all(o.finished for o in others) or not lab.state.startswith("done"):
                    handled.clear()
                    k0 = time.perf_counter()
                    app.post_message(events.Key("question_mark", "?"))
                    await handled.wait()
                    latencies.append(time.perf_counter() - k0)
                    if os.environ.get("LOAD_DEBUG"):
                        print(lab.state, [o.state for o in others], flush=True)
                    memory.append(round(rss_mb(), 1))
                    await asyncio.sleep(0.1)
                elapsed = time.perf_counter() - t0
                for o in others:
                    await o.judge.drain()
                    await o.close()
                await lab.session.judge.drain()
                n = (await store.db.execute_fetchall("SELECT COUNT(*) FROM messages WHERE agent_idx IS NOT NULL"))[0][0]
                coded = (await store.db.execute_fetchall("SELECT COUNT(*) FROM codings"))[0][0]
    ms = sorted(x * 1000 for x in latencies)
    quarter = max(1, len(memory) // 4)
    return {"runs": 4, "agent_messages": n, "coded": coded, "seconds": round(elapsed, 1),
            "messages_per_s": round(n / elapsed, 1),
            "key_latency_ms": {"median": round(statistics.median(ms), 2), "p95": round(ms[int(len(ms) * .95)], 2),
                               "max": round(ms[-1], 2)},
            "rss_mb_by_quarter": [memory[min(len(memory) - 1, q * quarter)] for q in range(4)] + [memory[-1]],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--pace", type=float, default=30.0, help="simulated tokens a second per agent")
    print(asyncio.run(main(ap.parse_args().pace)))
