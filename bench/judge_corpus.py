"""Benchmark: `warroom judge --judge builtin` over the study's whole corpus (208 runs, 14,427 messages)
as a user runs it: one whole process (start, imports, read, code, write), timed from outside, after
importing the transcripts into a fresh database. Each time comes with the CPU time of the process and
its workers (user + sys) and the machine's load average: on a shared machine the wall time follows the
load, the CPU time much less.

    .venv/bin/python bench/judge_corpus.py [../shared/warroom-data] [--repeat 5] [--before DIR]

`--before DIR` times another copy of the package too (a folder holding `warroom_tui/`, for example
`git archive 756d615 warroom_tui | tar -x -C DIR`), alternating with this one, so both meet the same load;
each version judges a fresh copy of a corpus it imported itself (a newer schema is not read by older code).
Such a folder has no bytecode, and this machine's PYTHONDONTWRITEBYTECODE never writes any, so it compiles
its modules at each start, as an editable install without `make install`'s compileall does (about 0.1 s);
`python -m compileall DIR` first compares the code alone. The live worker's cost per message (one `code`
call in a thread, as the lab's judge worker pays it) is measured in-process.

Each run judges a copy of the imported database, written to disk (`os.sync`) before it starts: left in the page
cache, the copy's 40 MB would be written out by the judge's first fsync (60-75 ms here), a cost of this
benchmark, not of judging (an import writes its database out before it ends).

The labels each version wrote are compared too: the first run's database of every version is read back
(the `labels` table, and `codings` without its time stamp) and must be the same rows, byte for byte, as
the first version's (`labels_identical`); a difference fails the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def warroom(*args: str, package: Path | None = None) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run warroom (from `package` when given); wall seconds and CPU seconds of it and its workers."""
    env = dict(os.environ)
    if package is not None:
        env["PYTHONPATH"] = str(package)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "warroom_tui", *args], capture_output=True, text=True, check=True,
                         env=env, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, wall, cpu


def summary(runs: list[dict]) -> dict:
    walls, cpus = [r["wall_s"] for r in runs], [r["cpu_s"] for r in runs]
    return {"wall_min_s": min(walls), "wall_median_s": round(statistics.median(walls), 2),
            "cpu_min_s": min(cpus), "cpu_median_s": round(statistics.median(cpus), 2), "runs": runs}


def measure(data: Path, repeat: int = 5, before: Path | None = None) -> dict:
    versions = {"now": None, **({"before": before} if before else {})}
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {name: Path(tmp) / f"fresh-{name}.db" for name in versions}
        for name, package in versions.items():  # each version its own import (and its own schema)
            warroom("import", str(data / "transcripts"), "--db", str(fresh[name]), package=package)
        runs: dict[str, list[dict]] = {v: [] for v in versions}
        digests: dict[str, tuple[int, str]] = {}
        for i in range(repeat):
            for name, package in versions.items():
                db = Path(tmp) / f"{name}{i}.db"
                shutil.copy(fresh[name], db)
                os.sync()  # a copy made just now leaves 40 MB unwritten: the judge's first fsync would pay for it
                load = os.getloadavg()[0]
                out, wall, cpu = warroom("judge", "--judge", "builtin", "--db", str(db), package=package)
                assert "14427" in out.stdout, out.stdout
                runs[name].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_avg": round(load, 1)})
                if i == 0:
                    digests[name] = asyncio.run(label_digest(db))
        per_message = asyncio.run(live_cost(fresh["now"]))
    same = len(set(digests.values())) == 1
    assert same, f"the versions wrote different labels: {digests}"
    return {"messages": 14427, "cores": os.cpu_count(), **{name: summary(r) for name, r in runs.items()},
            "labels_identical": same, "labels": digests["now"], "live_ms_per_message": per_message}


async def label_digest(db: Path) -> tuple[int, str]:
    """(label rows, SHA-256 of every label row and every coding's status and reason, in the tables' order)."""
    from warroom_tui.store.db import Store

    async with Store.open(db) as store:  # writable: a version with an older schema is upgraded first
        labels = await store.table("labels")
        codings = await store.table("codings")
    at = codings.names.index("at")
    digest = hashlib.sha256(repr(labels.rows).encode())
    digest.update(repr([row[:at] + row[at + 1:] for row in codings.rows]).encode())
    return len(labels.rows), digest.hexdigest()


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
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--before", type=Path, default=None, help="a folder holding an older warroom_tui/ to time too")
    args = ap.parse_args()
    print(measure(args.data, args.repeat, args.before))


if __name__ == "__main__":
    main()
