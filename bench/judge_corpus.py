"""Benchmark: import the study's 208 transcripts, code all ~14,400 messages with the built-in coder,
and report its kappa against the human labels of the dev half.

    .venv/bin/python bench/judge_corpus.py [../shared/warroom-data]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.human import agreement_with, import_human
from warroom_tui.judge.service import BuiltinJudge, judge_store
from warroom_tui.store.db import Store
from warroom_tui.store.study_json import import_study_run, load_study_file


async def main(data: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        async with Store.open(Path(tmp) / "bench.db") as store:
            t0 = time.perf_counter()
            for path in sorted((data / "transcripts").glob("*/*.json")):
                source, run = load_study_file(path)
                await import_study_run(store, run, source)
            t_import = time.perf_counter() - t0
            cb = load_codebook()
            t0 = time.perf_counter()
            report = await judge_store(store, [BuiltinJudge(cb)], cb)
            t_judge = time.perf_counter() - t0
            await import_human(store, data / "human_dev.csv")
            k = await agreement_with(store, "human", "builtin@v4")
    return {"import_s": round(t_import, 2), "messages": report.coded["builtin@v4"], "judge_s": round(t_judge, 2),
            "msg_per_s": round(report.coded["builtin@v4"] / t_judge), "kappa_vs_human_dev": {
                f: round(v, 3) for f, v in k.items() if f != "n"}}


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "warroom-data"
    print(asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)))
