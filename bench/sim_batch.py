"""Benchmark: a headless simulated batch of all 12 study series (one run each) into a fresh store.

    .venv/bin/python bench/sim_batch.py [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from warroom_tui.providers.gateway import Gateway
from warroom_tui.runner import Batch, with_backend
from warroom_tui.scenario import load_scenario, scenarios_dir
from warroom_tui.store.db import Store

SERIES = ["A", "B", "C", "E", "F", "G", "H", "I", "J", "K1", "K2", "K3"]


async def main(runs: int) -> dict:
    messages = 0
    with tempfile.TemporaryDirectory() as tmp:
        async with Store.open(Path(tmp) / "bench.db") as store:
            start = time.perf_counter()
            gateway = Gateway()
            for s in SERIES:
                scenario = with_backend(load_scenario(scenarios_dir() / f"study-{s}.toml"), "sim")
                for r in await Batch(scenario, store, gateway, runs=runs).run():
                    messages += r.messages
            elapsed = time.perf_counter() - start
    return {"series": len(SERIES), "runs": len(SERIES) * runs, "messages": messages,
            "seconds": round(elapsed, 2), "messages_per_s": round(messages / elapsed, 1)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    print(asyncio.run(main(ap.parse_args().runs)))
