"""Run every benchmark and print its figures (`make bench`)."""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import coder_eval  # noqa: E402
import judge_corpus  # noqa: E402
import lab_rss  # noqa: E402
import load  # noqa: E402
import local_round  # noqa: E402
import ray_batch  # noqa: E402
import recipe_sweep  # noqa: E402
import report_corpus  # noqa: E402
import sim_batch  # noqa: E402
import sim_stream  # noqa: E402
import tui_latency  # noqa: E402

if __name__ == "__main__":
    print("sim_batch  ", asyncio.run(sim_batch.main(1)))
    print("sim_stream ", asyncio.run(sim_stream.main()))
    print("recipe_sweep", asyncio.run(recipe_sweep.main(200)))
    data = Path(__file__).resolve().parents[2] / "shared" / "warroom-data"
    if data.is_dir():
        print("judge      ", judge_corpus.measure(data))
        print("coder_eval\n" + coder_eval.table(coder_eval.evaluate(asyncio.run(coder_eval.load_items(data)), 5)))
        print("report     ", asyncio.run(report_corpus.main(data)))
    print("tui_start  ", tui_latency.cold_start())
    print("tui_keys   ", asyncio.run(tui_latency.key_latency()))
    print("lab_rss    ", lab_rss.lab_rss("sim-demo", "sim"))
    print("load       ", asyncio.run(load.main(30.0)))
    print("local_round", asyncio.run(local_round.main(64, stagger=1.2)))
    print("local_round", asyncio.run(local_round.main(64, stagger=0.0)))
    for kind in ("local", "ray"):  # 100 of the README's 1,000 runs (`bench/ray_batch.py --runs 1000`)
        print("ray_batch  ", asyncio.run(ray_batch.one(kind, 100, 2)))
