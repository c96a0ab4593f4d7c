"""Benchmark: a 200-run simulated recipe-versus-family sweep, judged with the interaction codebook, then the
factor report (partner tables with 2,000 bootstrap resamples, PERMANOVA with 999 permutations), on a file
database as `warroom sweep` uses it.

    .venv/bin/python bench/recipe_sweep.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.service import judge_store, make_judges
from warroom_tui.report import factor_study
from warroom_tui.store.db import Store
from warroom_tui.executors import LocalExecutor
from warroom_tui.sweep import cells, find_design, load_design, run_specs


async def main(runs: int = 200) -> dict:
    path = find_design("recipe-sim")
    design = load_design(path)
    cell_list = cells(design, path, backend="sim")
    per_cell = -(-runs // len(cell_list))
    specs = run_specs(design, cell_list, per_cell)[:runs]  # exactly `runs` (the last cell a few short)
    codebook = load_codebook("interaction")
    with tempfile.TemporaryDirectory() as tmp:
        async with Store.open(Path(tmp) / "bench.db") as store:
            t0 = time.perf_counter()
            results = await LocalExecutor(store).run(specs)
            t1 = time.perf_counter()
            judges = make_judges(["builtin"], codebook)
            await judge_store(store, judges, codebook)
            t2 = time.perf_counter()
            rep = await factor_study(store, "builtin@interaction", codebook, ["family", "recipe", "partner"],
                                     include_simulated=True)
            t3 = time.perf_counter()
    messages = sum(r.messages for r in results)
    shares = {r["factor"]: round(float(r["r2"]), 3) for r in rep["decomposition"]["factors"]}
    return {"runs": len(results), "cells": len(cell_list), "messages": messages, "sweep_s": round(t1 - t0, 2),
            "judge_s": round(t2 - t1, 2), "report_s": round(t3 - t2, 2), "total_s": round(t3 - t0, 2),
            "shares": shares}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    print(asyncio.run(main(ap.parse_args().runs)))
