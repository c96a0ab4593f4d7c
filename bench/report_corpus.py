"""Benchmark: the full real-corpus report (about 14,400 coded messages, 10,000 bootstrap resamples
per series) from a judged database.

    .venv/bin/python bench/report_corpus.py [../shared/warroom-data]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from warroom_tui.commands import build_report
from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.service import BuiltinJudge, judge_store
from warroom_tui.store.db import Store
from warroom_tui.store.study_json import import_study_run, load_study_file


async def main(data: Path) -> dict:
    cb = load_codebook()
    with tempfile.TemporaryDirectory() as tmp:
        async with Store.open(Path(tmp) / "bench.db") as store:
            for path in sorted((data / "transcripts").glob("*/*.json")):
                source, run = load_study_file(path)
                await import_study_run(store, run, source)
            await judge_store(store, [BuiltinJudge(cb)], cb)
            t0 = time.perf_counter()
            rep = await build_report(store, None, cb)
            elapsed = time.perf_counter() - t0
    return {"report_s": round(elapsed, 2), "runs": rep["runs"],
            "cosine": {r["series"]: round(r["mean"], 3) for r in rep["cosine"]},
            "p": {f"{c['x']}-{c['y']}": float(f"{c['p']:.2g}") for c in rep["comparisons"]}}


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "warroom-data"
    print(asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)))
