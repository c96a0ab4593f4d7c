"""Benchmark: the instructions `warroom judge --judge builtin` runs over the study's corpus, counted by valgrind
(callgrind), for this version and optionally another. On a shared machine the wall time of `judge_corpus.py`
moves by a third from one minute to the next; an instruction count does not move at all, so it says whether a
change made the work smaller.

    .venv/bin/python bench/judge_instructions.py [../shared/warroom-data] [--before DIR]

Each version imports the transcripts into a fresh database, then judges it once under callgrind, its forked
workers followed (`--trace-children`); the main process' counts are cut where it forks (`--dump-before=fork`),
so they read: `before_fork` (start, imports, codebook, coder, rosters, the uncoded list: on one core, the
other idle), `main_after` (storing what the workers send, and the end) and `workers` (each coding its chunks).
`critical` is `before_fork + (main_after + workers) / 2`, the instructions on the path of a run on 2 cores.
About 50 times slower than a real run: 2 to 3 minutes a version.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def count(data: Path, package: Path | None) -> dict:
    env = dict(os.environ)
    if package is not None:
        env["PYTHONPATH"] = str(package)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "w.db"
        subprocess.run([sys.executable, "-m", "warroom_tui", "import", str(data / "transcripts"), "--db", str(db)],
                       check=True, capture_output=True, env=env, cwd=tmp)
        subprocess.run(["valgrind", "--tool=callgrind", "--trace-children=yes", "--dump-before=fork",
                        f"--callgrind-out-file={tmp}/cg.%p", sys.executable, "-m", "warroom_tui", "judge",
                        "--judge", "builtin", "--db", str(db)], check=True, capture_output=True, env=env, cwd=tmp)
        totals: dict[str, int] = {}
        for f in Path(tmp).glob("cg.*"):
            found = re.search(r"^summary: (\d+)", f.read_text(errors="replace"), re.M)
            totals[f.name] = int(found.group(1)) if found else 0
    pids = sorted({name.split(".")[1] for name in totals}, key=int)
    main, workers = pids[0], pids[1:]
    before = sum(v for k, v in totals.items() if k.startswith(f"cg.{main}."))
    after = totals[f"cg.{main}"]
    work = [totals[f"cg.{p}"] for p in workers]
    g = 1e9
    return {"before_fork_G": round(before / g, 3), "main_after_G": round(after / g, 3),
            "workers_G": [round(w / g, 3) for w in work], "total_G": round((before + after + sum(work)) / g, 3),
            "critical_G": round((before + (after + sum(work)) / 2) / g, 3)}


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "warroom-data"
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", type=Path, default=default)
    ap.add_argument("--before", type=Path, default=None, help="a folder holding an older warroom_tui/ to count too")
    args = ap.parse_args()
    out = {"now": count(args.data, None)}
    if args.before:
        out["before"] = count(args.data, args.before)
    print(out)


if __name__ == "__main__":
    main()
