"""The lab in a real terminal, as a person meets it: start it in tmux, press keys from the help screen, read
the screen, quit with `q`. A before-stop check (not part of `make test`: it needs tmux and real time).

    .venv/bin/python bench/lab_tmux.py            # 120x36 and 80x24; prints the screens; exit 1 on a problem
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARROOM = ROOT / ".venv" / "bin" / "warroom"
KEYS = ["?", "Escape", "n", "s", "r", "+", "-", "j", "j", "j", "Space", ".", "b", "Escape", "S", "Escape",
        "M", "M", "Enter", "Escape", "End"]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def wait_for(name: str, test, seconds: float = 15.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if test(screen(name)):
            return True
        time.sleep(0.1)
    return False


def check(width: int, height: int, db: Path) -> list[str]:
    name = f"warroom-check-{width}x{height}"
    problems = []
    # stderr is the screen: never redirected
    tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
         f"{WARROOM} lab sim-demo --backend sim --db {db}; echo EXITED $?; sleep 30")
    try:
        if not wait_for(name, lambda s: "Agent-A" in s and "Help" in s):
            return [f"{width}x{height}: the lab did not paint: {screen(name)[-200:]!r}"]
        for key in KEYS:
            tmux("send-keys", "-t", name, key)
            time.sleep(0.8)  # a lone ESC must not join the next key; a screen may take a moment to open
            if key == "Escape" and not wait_for(name, lambda s: "message details" not in s and "keys" not in s, 5):
                problems.append(f"{width}x{height}: escape did not close what was open")
            if "Traceback" in screen(name):
                problems.append(f"{width}x{height}: a traceback after {key}")
                break
        time.sleep(1)
        print(f"--- {width}x{height} after {' '.join(KEYS)}")
        print(screen(name))
        tmux("send-keys", "-t", name, "q")
        if not wait_for(name, lambda s: "EXITED 0" in s, 10):
            problems.append(f"{width}x{height}: q did not quit: {screen(name)[-300:]!r}")
    finally:
        tmux("kill-session", "-t", name)
    return problems


def main() -> int:
    if shutil.which("tmux") is None or not WARROOM.exists():
        print("needs tmux and .venv/bin/warroom (make install)")
        return 2
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in ((120, 36), (80, 24)):
            problems += check(*size, Path(tmp) / f"lab-{size[0]}.sqlite")
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
