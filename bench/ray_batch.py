"""Benchmark: a simulated batch of N runs of 8 agents x 10 rounds with live built-in judging, on the local
executor and on a local Ray instance, into a fresh store each. Reports messages/s (agent messages stored
and coded, end to end) and memory: this process's peak RSS, and for Ray the peak RSS of this process
plus every process it started (GCS, raylet, workers).

    .venv/bin/python bench/ray_batch.py [--runs 1000] [--executor local ray] [--num-cpus 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from warroom_tui.executors import LocalExecutor
from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.service import BuiltinJudge
from warroom_tui.runspec import batch_specs
from warroom_tui.scenario import parse_scenario
from warroom_tui.store.db import Store

PERSONAS = ["architect", "coordinator", "supporter", "analyst", "summarizer", "lurker", "skeptic", "architect"]
PAGE = os.sysconf("SC_PAGE_SIZE")


def scenario():
    return parse_scenario({
        "name": "bench-batch", "series": "bench", "brief": "@all We have a client who wants a food delivery app.",
        "rounds": 10, "stagger": 1.2, "seed": 1,
        "agents": [{"name": f"P{k}", "model": f"sim/{p}"} for k, p in enumerate(PERSONAS)]})


def tree_rss_mb(root: int) -> float:
    """RSS of `root` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * PAGE
        except OSError:
            pass
    return total / 2**20


class Sampler:
    """The peak RSS of this process tree, sampled every second in a thread."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(os.getpid()))
            self._stop.wait(1.0)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss_mb(os.getpid()))


async def one(kind: str, runs: int, num_cpus: int) -> dict:
    cb = load_codebook()
    specs = batch_specs(scenario(), runs, 1)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        async with Store.open(db) as store:
            judges = [BuiltinJudge(cb)]
            started = 0.0
            if kind == "ray":
                from warroom_tui.executors.ray_executor import RayExecutor

                executor = RayExecutor(store, num_cpus=num_cpus, judges=judges, codebook=cb)
                t = time.perf_counter()
                executor.connect()
                started = time.perf_counter() - t
            else:
                executor = LocalExecutor(store, judges=judges, codebook=cb)
            with Sampler() as sampler:
                t0 = time.perf_counter()
                results = await executor.run(specs)
                elapsed = time.perf_counter() - t0
            executor.close()
        con = sqlite3.connect(db)
        agent_msgs, coded = con.execute(
            "SELECT (SELECT COUNT(*) FROM messages WHERE agent_idx IS NOT NULL AND is_error=0),"
            " (SELECT COUNT(*) FROM codings WHERE status='coded')").fetchone()
        stored = con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        con.close()
    messages = sum(r.messages for r in results)
    out = {"executor": kind, "runs": len(results), "agent_messages": messages, "stored_rows": stored,
           "coded": coded, "all_coded": coded == agent_msgs, "seconds": round(elapsed, 1),
           "messages_per_s": round(messages / elapsed, 1),
           "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "tree_peak_rss_mb": round(sampler.peak, 1)}
    if kind == "ray":
        out["ray_start_s"] = round(started, 1)
        out["num_cpus"] = num_cpus
        out["retried"] = executor.counts.retried
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--executor", nargs="+", choices=["local", "ray"], default=["local", "ray"])
    ap.add_argument("--num-cpus", type=int, default=2)
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    for kind in a.executor:
        print(asyncio.run(one(kind, a.runs, a.num_cpus)), flush=True)
