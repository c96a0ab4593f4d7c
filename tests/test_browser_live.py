"""The run browser watches the store: runs a batch in another process adds show up, and end, as they go."""

from __future__ import annotations

import subprocess
import sys

from warroom_tui.tui.browser import RunBrowser

from conftest import wait_until
from test_lab_ux import open_browser, stored_lab

BATCH = """
name = "elsewhere"
series = "W"
brief = "@all Plan a food delivery app."
rounds = 2
stagger = 1.0
[[agents]]
name = "Architect"
model = "sim/architect"
[[agents]]
name = "Analyst"
model = "sim/analyst"
"""


async def test_runs_from_a_batch_in_another_process_arrive_live(tmp_path, monkeypatch):
    monkeypatch.setattr(RunBrowser, "POLL", 0.1)
    app = stored_lab(tmp_path)
    scenario = tmp_path / "elsewhere.toml"
    scenario.write_text(BATCH)
    async with app.run_test(size=(120, 36)) as pilot:
        browser = await open_browser(pilot)
        assert not [e for e in browser.entries if e.series == "W"]
        batch = subprocess.Popen([sys.executable, "-m", "warroom_tui", "run", str(scenario), "--runs", "3",
                                  "--backend", "sim", "--quiet", "--db", str(app.db_path)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            def arrived() -> bool:
                batch.poll()
                return len([e for e in browser.shown if e.series == "W" and e.status == "done"]) == 3
            await wait_until(pilot, arrived, "the other process's runs", steps=20000)
        finally:
            _, err = batch.communicate(timeout=60)
        assert batch.returncode == 0, err
        shown = [e for e in browser.shown if e.series == "W"]
        assert all(e.messages == 6 and e.agents == "Architect, Analyst" for e in shown)
