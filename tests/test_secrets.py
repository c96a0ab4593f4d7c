"""API keys never reach the database, exports, logs, error messages, the screen or another provider: not
whole, not cut, not split, not upper-cased, not base64-encoded, not inside a model's reply."""

import asyncio
import base64
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
    fs.plan = {"echo": ["401echo"], "cutter": ["401leak"], "leaky": ["leak"], "fine": ["ok"]}
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
name = "Cutter"
model = "openai/cutter"
api_base = "{fs.base}"
[[agents]]
name = "Leaky"
model = "openai/leaky"
api_base = "{fs.base}"
[[agents]]
name = "Fine"
model = "openai/fine"
api_base = "{fs.base}"
''')
    return str(path)


def secret_runs(key: str) -> set[bytes]:
    """Every run of 8 characters of the key (any letter case is checked) and of its base64 forms."""
    b64 = [base64.b64encode(key.encode()).decode()[:-1], base64.b64encode(f"Bearer {key}".encode()).decode()[10:-2]]
    return {f[i:i + 8].encode() for f in [key.lower()] for i in range(len(f) - 7)} | {
        f[i:i + 8].encode() for f in b64 for i in range(len(f) - 7)}


def leaks(blob: bytes, key: str = KEY) -> list[bytes]:
    """The parts of the key the blob holds (letter case does not count for the key itself)."""
    folded = blob.lower()
    return sorted(r for r in secret_runs(key) if (r in folded if r.decode().lower() in key.lower() else r in blob))


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
    assert b"Anything else?" in written  # the leaky model's reply was stored, with the key taken out
    later = [b for b in server.bodies if b"Anything else?" in b]
    assert later, "the leaky reply was forwarded to the next round's calls"
    for blob in (written, out.out.encode(), out.err.encode(), *server.bodies):
        assert KEY.encode() not in blob
        assert b"PLANTED" not in blob  # (the test's own tmp folder is called ...planted...)
        assert leaks(blob) == []


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
    assert "PLANTED" not in screen and "redacted" in screen and leaks(screen.encode()) == []
    assert b"PLANTED" not in everything_written(tmp_path) and leaks(everything_written(tmp_path)) == []
