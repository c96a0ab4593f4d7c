"""API keys never reach the database, exports, logs, error messages or the screen."""

import asyncio
import threading

import pytest

from warroom_tui.cli import main

from fault_server import FaultServer

KEY = "sk-test-PLANTED-9f8e7d6c5b4a39281706"


@pytest.fixture
def server():
    loop = asyncio.new_event_loop()
    fs = FaultServer()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fs.__aenter__(), loop).result(10)
    fs.plan = {"echo": ["401echo"], "fine": ["ok"]}
    yield fs
    asyncio.run_coroutine_threadsafe(fs.__aexit__(None, None, None), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def scenario_file(tmp_path, fs) -> str:
    path = tmp_path / "keys.toml"
    path.write_text(f'''name = "keys"
brief = "@all hello"
rounds = 1
stagger = 0
timeout = 10
[[agents]]
name = "Echo"
model = "openai/echo"
api_base = "{fs.base}"
[[agents]]
name = "Fine"
model = "openai/fine"
api_base = "{fs.base}"
''')
    return str(path)


def everything_written(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_a_planted_key_appears_in_no_output(tmp_path, server, monkeypatch, capfd):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("GROQ_API_KEY", KEY + "-groq")
    monkeypatch.setenv("WARROOM_CACHE", str(tmp_path / "cache"))
    db = str(tmp_path / "w.db")
    assert main(["run", scenario_file(tmp_path, server), "--db", db, "--quiet"]) == 0
    assert main(["judge", "--db", db]) == 0
    assert main(["export", "--format", "warroom-json", "--out", str(tmp_path / "json"), "--db", db]) == 0
    assert main(["export", "--format", "coded-csv", "--out", str(tmp_path / "coded.csv"), "--db", db]) == 0
    assert main(["report", "--db", db]) == 0
    out = capfd.readouterr()
    written = everything_written(tmp_path)
    assert b"[redacted]" in written  # the provider echoed the key; it was scrubbed before storing
    for blob in (written, out.out.encode(), out.err.encode()):
        assert KEY.encode() not in blob
        assert b"PLANTED" not in blob


async def test_the_lab_never_shows_a_key(tmp_path, server, monkeypatch):
    from warroom_tui.scenario import load_scenario
    from warroom_tui.settings import Settings
    from warroom_tui.tui.app import LabApp
    from warroom_tui.tui.lab import LabScreen

    from conftest import wait_until

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    app = LabApp(load_scenario(scenario_file(tmp_path, server)), db_path=tmp_path / "lab.db",
                 settings=Settings(export_dir=str(tmp_path / "md")))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.state.startswith("done"),
                         "the run", steps=5000)
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: list((tmp_path / "md").glob("*.md")), "the export")
        screen = app.export_screenshot()
    assert "PLANTED" not in screen and "redacted" in screen
    assert b"PLANTED" not in everything_written(tmp_path)
