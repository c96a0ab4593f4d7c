"""Benchmark: simulated streams through the gateway (no litellm), unpaced and paced.

    .venv/bin/python bench/sim_stream.py [--streams 32] [--pace 200]

Unpaced: chunks a second the event loop gets through with `streams` concurrent simulated replies.
Paced: `streams` replies at `pace` tokens/s each for a few seconds; the aggregate rate reached
against the target shows whether the loop keeps up.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from warroom_tui.providers.base import ChatContext, ModelCall
from warroom_tui.providers.gateway import Gateway

PERSONAS = ["architect", "coordinator", "supporter", "analyst", "summarizer", "lurker", "skeptic"]


def _call(k: int, round_: int) -> ModelCall:
    ctx = ChatContext(me=f"Agent-{k}", others=("Agent-X", "Agent-Y"), spoke=("Agent-X",), crashed=(),
                      naming="neutral", scaffolding="full", lang="en", round=round_)
    return ModelCall(model=f"sim/{PERSONAS[k % len(PERSONAS)]}", seed=k * 1000 + round_, max_tokens=512,
                     context=ctx)


async def _drain(gateway: Gateway, k: int, until: float) -> int:
    chunks, round_ = 0, 0
    while time.perf_counter() < until:
        async for _ in gateway.stream(_call(k, round_)):
            chunks += 1
        round_ += 1
    return chunks


async def main(streams: int = 32, pace: float = 200.0, seconds: float = 3.0) -> dict:
    out = {"streams": streams}
    for label, rate in (("unpaced", 0.0), ("paced", pace)):
        gateway = Gateway(sim_pace=rate)
        start = time.perf_counter()
        counts = await asyncio.gather(*(_drain(gateway, k, start + seconds) for k in range(streams)))
        elapsed = time.perf_counter() - start
        out[f"{label}_chunks_per_s"] = round(sum(counts) / elapsed)
    out["paced_target_per_s"] = round(streams * pace)
    out["paced_share_of_target"] = round(out["paced_chunks_per_s"] / out["paced_target_per_s"], 2)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--pace", type=float, default=200.0)
    a = ap.parse_args()
    print(asyncio.run(main(a.streams, a.pace)))
