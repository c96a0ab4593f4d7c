"""Benchmark: one 6-agent round (3 SmolLM2 + 3 Gemma base) of real local models, then a second
round to show the prompt-prefix cache at work. Prints wall times and tokens a second.

    .venv/bin/python bench/local_round.py [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import RealClock
from warroom_tui.engine.loop import Engine
from warroom_tui.providers.gateway import Gateway
from warroom_tui.scenario import parse_scenario


async def main(max_tokens: int, stagger: float = 1.2, threads: int | None = None) -> dict:
    models = ["local/smollm2", "local/gemma3-270m"] * 3
    scenario = parse_scenario({
        "name": "bench-local", "rounds": 1, "stagger": stagger, "timeout": 300, "max_tokens": max_tokens,
        "brief": "@all We have a client who wants a food delivery mobile app for a city of 500k inhabitants. "
                 "Budget: EUR50k, deadline: 3 months.",
        "agents": [{"name": f"{m} #{i}", "model": m} for i, m in enumerate(models)],
    })
    gateway = Gateway(threads=threads)
    t0 = time.perf_counter()
    await gateway.prepare(models)
    ready = time.perf_counter() - t0
    engine = Engine(scenario, gateway, clock=RealClock())
    marks: dict[int, float] = {}
    tokens: dict[int, int] = {0: 0, 1: 0}

    async def on(event):
        if isinstance(event, ev.RoundDone):
            marks[event.round] = time.perf_counter()
        if isinstance(event, ev.MessageDone) and event.message.round is not None:
            tokens[event.message.round] += event.message.tokens

    engine.subscribe(on)
    start = time.perf_counter()
    await engine.run()
    await gateway.aclose()
    r0, r1 = marks[0] - start, marks[1] - marks[0]
    result = {"stagger_s": stagger,
        "servers_ready_s": round(ready, 2),
        "round0_s": round(r0, 2), "round0_tokens": tokens[0], "round0_tok_per_s": round(tokens[0] / r0, 1),
        "round1_s": round(r1, 2), "round1_tokens": tokens[1], "round1_tok_per_s": round(tokens[1] / r1, 1),
    }
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--stagger", type=float, default=1.2, help="the study's 1.2 s; 0 measures throughput")
    ap.add_argument("--threads", type=int, default=None, help="threads per model server (default: cores / models)")
    args = ap.parse_args()
    print(asyncio.run(main(args.max_tokens, args.stagger, args.threads)))
