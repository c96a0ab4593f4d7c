"""One xllamacpp server in its own process: prints its address, serves until stdin closes.

Run by LocalModels; `python -m warroom_tui.providers.llama_server --model PATH ...`.
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--alias", required=True)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--slots", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import xllamacpp as xc

    params = xc.CommonParams()
    params.model.path = args.model
    params.model_alias = args.alias
    params.n_ctx = args.ctx
    params.n_parallel = args.slots
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.cache_prompt = True
    params.port = 0
    params.hostnames = ["127.0.0.1"]
    server = xc.Server(params)
    print(json.dumps({"address": server.listening_address}), flush=True)
    sys.stdin.read()  # the parent closes our stdin (or dies): time to go
    del server
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
