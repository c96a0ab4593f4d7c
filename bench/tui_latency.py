"""Benchmark the lab: cold start to first frame, and key-press latency while 8 simulated agents stream.

    .venv/bin/python bench/tui_latency.py
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time
from warroom_tui.runner import with_backend
from warroom_tui.scenario import load_scenario, scenarios_dir
from warroom_tui.tui.app import LabApp
from warroom_tui.tui.lab import LabScreen

def first_frame(self):
    # start_run is called after the lab's first refresh: the first frame is on screen
    print(time.time(), 'litellm' in sys.modules, flush=True)
    self.app.exit()

LabScreen.start_run = first_frame
sc = with_backend(load_scenario(scenarios_dir() / "sim-demo.toml"), "sim")
LabApp(sc, db_path=sys.argv[1]).run(headless=True, size=(80, 24))
"""


def cold_start(runs: int = 5) -> dict:
    times, litellm_loaded = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            t0 = time.time()
            out = subprocess.run([sys.executable, "-c", CHILD, str(Path(tmp) / f"{i}.db")],
                                 capture_output=True, text=True, check=True).stdout.split()
            times.append(float(out[0]) - t0)
            litellm_loaded.append(out[1] == "True")
    return {"cold_start_to_first_frame_s": {"median": round(statistics.median(times), 3),
                                            "max": round(max(times), 3)},
            "litellm_imported_before_first_frame": any(litellm_loaded)}


async def key_latency(presses: int = 60) -> dict:
    from textual import events

    from warroom_tui.runner import with_backend
    from warroom_tui.scenario import load_scenario, scenarios_dir
    from warroom_tui.settings import Settings
    from warroom_tui.tui.app import LabApp
    from warroom_tui.tui.lab import LabScreen

    sc = with_backend(load_scenario(scenarios_dir() / "sim-demo.toml"), "sim")
    sc = sc.model_copy(update={"stagger": 0.0, "rounds": 50})  # all 8 stream at once, for the whole test
    with tempfile.TemporaryDirectory() as tmp:
        app = LabApp(sc, db_path=Path(tmp) / "k.db", settings=Settings(sim_pace=40))
        latencies: list[float] = []
        async with app.run_test(size=(100, 30)) as pilot:
            while not (isinstance(app.screen, LabScreen) and app.screen.state == "running"
                       and sum(p.status == "typing" for p in app.screen.panels) >= 6):
                await pilot.pause(0.05)
            lab = app.screen
            handled = asyncio.Event()
            original = lab.action_help

            def timed_help():
                handled.set()

            lab.action_help = timed_help  # a cheap action: measures the key's trip, not the action
            for _ in range(presses):
                handled.clear()
                t0 = time.perf_counter()
                app.post_message(events.Key("question_mark", "?"))
                await handled.wait()
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.02)
            typing = sum(p.status == "typing" for p in lab.panels)
            lab.action_help = original
            tokens = sum(p.tokens for p in lab.panels)
            lab.session.control.stop()
    ms = sorted(x * 1000 for x in latencies)
    return {"key_latency_ms": {"median": round(statistics.median(ms), 2), "p95": round(ms[int(len(ms) * 0.95)], 2),
                               "max": round(ms[-1], 2)}, "agents_typing_during_test": typing,
            "tokens_in_flight_at_end": tokens}


if __name__ == "__main__":
    print(cold_start())
    print(asyncio.run(key_latency()))
