"""Benchmark: the lab's resident memory, opened in tmux (120x36) on a scenario, as a user would.

    .venv/bin/python bench/lab_rss.py [SCENARIO] [--backend sim]

RSS of the lab process (`ps -o rss`) 15 s after start while agents stream, then 5 s after pausing
(`space`): the idle figure. Needs tmux.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time

def _rss_mb(pid: int) -> float:
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True).stdout
    return round(int(out.split()[0]) / 1024, 1)


def _lab_pid(session: str) -> int:
    """The python process in the pane (tmux may start it under a shell)."""
    pane = int(subprocess.check_output(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"], text=True))
    for _ in range(50):
        cmd = subprocess.run(["ps", "-o", "comm=", "-p", str(pane)], capture_output=True, text=True).stdout
        if "python" in cmd:
            return pane
        kids = subprocess.run(["pgrep", "-P", str(pane)], capture_output=True, text=True).stdout.split()
        if kids:
            return int(kids[0])
        time.sleep(0.1)
    raise RuntimeError("no lab process in the tmux pane")


def lab_rss(scenario: str = "sim-demo", backend: str | None = "sim", streaming_s: float = 15.0,
            idle_s: float = 5.0) -> dict:
    session = f"warroom-rss-{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {"WARROOM_DB": f"{tmp}/w.db", "WARROOM_SETTINGS": f"{tmp}/settings.toml",
               "WARROOM_CACHE": os.environ.get("WARROOM_CACHE", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        args = ["lab", scenario] + (["--backend", backend] if backend else [])
        cmd = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if v)
        cmd += f" exec {shlex.quote(sys.executable)} -m warroom_tui {shlex.join(args)}"
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36", "-c", tmp, cmd],
                       check=True)  # run from an empty folder: `python -m` puts the cwd first on sys.path
        try:
            pid = _lab_pid(session)
            time.sleep(streaming_s)
            streaming = _rss_mb(pid)
            subprocess.run(["tmux", "send-keys", "-t", session, "space"], check=True)
            time.sleep(idle_s)
            idle = _rss_mb(pid)
            screen = subprocess.check_output(["tmux", "capture-pane", "-p", "-t", session], text=True)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return {"scenario": scenario, "backend": backend, "rss_streaming_mb": streaming, "rss_idle_mb": idle,
            "paused": "paused" in screen.lower()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default="sim-demo")
    ap.add_argument("--backend", default=None)
    a = ap.parse_args()
    print(lab_rss(a.scenario, a.backend))
