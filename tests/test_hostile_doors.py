"""Issue 10, escapes at the doors: paths outside --out (8), terminal escapes from data and models (9), and
inputs that used to end in a traceback (12). The secret-hunting test (10) is in test_secrets.py."""

import asyncio
import io
import json
import re
from pathlib import Path

import pytest

from warroom_tui.cli import main
from warroom_tui.engine.transcript import clean_text
from warroom_tui.store.db import Store
from warroom_tui.store.rows import AgentRow
from warroom_tui.store.study_json import import_study_run

from conftest import FakeProvider, sim_lab, wait_until
from test_hostile_store import one_line_error, runs_in, study_run, write

ESC_RED = "\x1b[31m"
OSC52 = "\x1b]52;c;ZXZpbA==\x07"  # a clipboard write
C1 = "\x9b31m\x9d52;c;ZXZpbA==\x9c"  # 8-bit CSI and OSC
EVIL = f"{ESC_RED}red{OSC52}{C1}\rover\x00\x7f\x85"
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""What must never reach a terminal (newline and tab excepted)."""


def assert_clean(text: str, where: str) -> None:
    found = sorted(set(UNSAFE.findall(text)))
    assert not found, f"{where}: control characters {found!r} reach the terminal"


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def evil_run(series: str = "Z") -> dict:
    """A transcript with escapes and controls in its agent names, nicknames and text."""
    data = study_run(series=series)
    a = data["environment"]["agentRanking"][0]
    a["name"], a["nickname"] = f"Model{EVIL}A", f"Agent{EVIL}-A"
    for m in data["conversation"]["messages"]:
        if m.get("sender") == "a":
            m["agent"], m["agent_nickname"] = a["name"], a["nickname"]
            m["text"] = f"We build it {EVIL} with Flutter and a REST API, @Agent-B."
    return data


async def store_unchecked(db: Path, data: dict, source: str) -> None:
    """A run stored without the file checks (as a database from before them may hold it)."""
    async with Store.open(db) as store:
        await import_study_run(store, data, source)


# 8. nothing an export writes lands outside --out -------------------------------------------------------
@pytest.mark.parametrize("series", ["..", "../../escaped", ".", "a\\b", "x\x1by"])
def test_a_dangerous_series_in_a_transcript_is_refused(tmp_path, capsys, series):
    db = tmp_path / "w.db"
    path = write(tmp_path / "in" / "warroom-run01.json", study_run(series=series))
    assert main(["import", path, "--db", str(db)]) == 2
    err = one_line_error(capsys)
    assert "condition.series" in err and "\x1b" not in err
    assert not db.exists()  # a failed import creates no database


@pytest.mark.parametrize("field,value", [("name", "../../escaped"), ("series", "../../escaped"), ("name", ".."),
                                         ("series", ".."), ("series", "A\\u001b]52;c;x\\u0007")])
def test_a_scenario_named_with_a_path_is_refused(tmp_path, capsys, field, value):
    path = tmp_path / "s.toml"
    path.write_text(f'{field} = "{value}"\nbrief = "@all hi"\nrounds = 0\n'
                    '[[agents]]\nname = "A"\nmodel = "sim/architect"\n')
    assert main(["run", str(path), "--db", str(tmp_path / "w.db"), "--quiet"]) == 2
    assert field in one_line_error(capsys)
    assert not (tmp_path / "w.db").exists()


def test_runs_stored_with_dangerous_names_export_inside_out(tmp_path, capsys):
    """A database from before the checks: series `..`, `../../escaped` and a live run's uid with a path."""
    db = tmp_path / "w.db"
    for series in ("..", "../../escaped", "."):
        asyncio.run(store_unchecked(db, study_run(series=series, text=f"Run of {series}."),
                                    f"{series}/warroom-{series}-run01.json"))

    async def live() -> None:
        async with Store.open(db) as store:
            agent = AgentRow(idx=0, key="a0", name="A", nickname="Agent-A", model="m")
            await store.create_run(uid="../../escaped-0123456789", scenario="../../escaped", series="../../escaped",
                                   brief="b", agents=[agent])
    asyncio.run(live())
    out = tmp_path / "deep" / "er" / "out"
    before = files_under(tmp_path)
    assert main(["export", "--format", "warroom-json", "--out", str(out), "--db", str(db)]) == 0
    new = {p for p in files_under(tmp_path) - before if not p.name.startswith("w.db")}  # (a reader's -shm)
    assert len(new) == 4
    for p in new:
        assert p.resolve().is_relative_to(out.resolve()), p
    assert main(["import", str(out), "--db", str(tmp_path / "again.db")]) == 2  # and they are refused back in


# 9. no escape or control character from data or models reaches the terminal -----------------------------
def test_import_report_and_judge_print_no_control_characters(tmp_path, capfd):
    db = tmp_path / "w.db"
    asyncio.run(store_unchecked(db, evil_run(series=f"S{EVIL}"), "S/warroom-S-run01.json"))  # an old database
    assert main(["import", write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", evil_run()), "--db", str(db)]) == 2
    refused = capfd.readouterr().err  # names with controls are refused now: one line naming the field
    assert refused.count("\n") == 1 and "environment.agentRanking[0].name" in refused
    asyncio.run(store_unchecked(db, evil_run(), "Z/warroom-Z-run01.json"))
    assert main(["judge", "--db", str(db)]) == 0
    assert main(["report", "--db", str(db)]) == 0
    out = capfd.readouterr()
    assert "agent profiles" in out.out and "Model" in out.out and "redover" in out.out
    assert_clean(out.out, "stdout")
    assert_clean(out.err, "stderr")


def test_the_run_summary_and_progress_print_no_control_characters(tmp_path, capfd):
    path = tmp_path / "evil.toml"
    name = json.dumps(f"Crash{EVIL}er")  # TOML reads JSON's \\u escapes
    path.write_text(f'name = "evil"\nbrief = "@all Plan an app."\nrounds = 2\nstagger = 0\n'
                    f'[[agents]]\nname = "Architect"\nmodel = "sim/architect"\n'
                    f'[[agents]]\nname = {name}\nmodel = "sim/skeptic"\n'
                    f'[[conditions.crashes]]\nagent = "2"\nkind = "permanent"\n', encoding="utf-8")
    assert main(["run", str(path), "--db", str(tmp_path / "w.db"), "--runs", "1"]) == 2  # such a name is refused
    out = capfd.readouterr()
    assert out.err.count("\n") == 1 and "agents.1.name" in out.err
    assert_clean(out.out, "stdout")
    assert_clean(out.err, "stderr")
    path.write_text(path.read_text(encoding="utf-8").replace(name, '"Crasher"'), encoding="utf-8")
    assert main(["run", str(path), "--db", str(tmp_path / "w.db"), "--runs", "1"]) == 0
    out = capfd.readouterr()
    assert "Crasher" in out.out and "crashed" in out.out  # the crashed agent is named
    assert_clean(out.out, "stdout")
    assert_clean(out.err, "stderr")


def test_errors_print_no_control_characters(tmp_path, capfd):
    path = tmp_path / f"bad{EVIL.replace(chr(0), '')}.json"  # (no NUL in a file name)
    path.write_text("{", encoding="utf-8")
    assert main(["import", str(path), "--db", str(tmp_path / "w.db")]) == 2
    err = capfd.readouterr().err
    assert "invalid JSON" in err and err.count("\n") == 1
    assert_clean(err.rstrip("\n"), "stderr")


def test_clean_text_drops_c1_bare_cr_and_lone_surrogates():
    assert clean_text(f"a{EVIL}b") == "aredoverb"
    assert clean_text("one\r\ntwo\rthree\tfour\n") == "one\ntwothree\tfour\n"
    assert clean_text("x\ud800y") == "x\ufffdy"
    assert clean_text(clean_text(EVIL)) == clean_text(EVIL)


async def test_model_replies_with_controls_are_stored_clean(tmp_path):
    from warroom_tui.engine.loop import Engine
    from warroom_tui.scenario import parse_scenario

    from conftest import scenario_dict

    eng = Engine(parse_scenario(scenario_dict(2, rounds=1)), FakeProvider(lambda call: f"Sure {EVIL} done"))
    await eng.run()
    replies = [m.text for m in eng.transcript if m.agent is not None]
    assert replies and all(r == "Sure redover done" for r in replies)


def screen_dump(app) -> str:
    """Every character the app's screen holds now (what the terminal would be sent, minus Textual's own
    cursor and style codes)."""
    from rich.console import Console

    console = Console(record=True, width=app.size.width, height=app.size.height, file=io.StringIO(),
                      force_terminal=True, color_system="truecolor")
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


async def test_the_lab_screen_holds_no_control_characters(tmp_path):
    from warroom_tui.tui.lab import LabScreen

    app = sim_lab(tmp_path, pause_after=None, agents=2, gateway=FakeProvider(lambda call: f"Sure {EVIL} done"))
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.state == "done", "the run")
        screen = screen_dump(app)
    assert "Sure redover" in screen
    assert_clean(screen, "the lab")


async def test_a_replay_of_an_imported_run_shows_no_control_characters(tmp_path):
    from warroom_tui.scenario import load_scenario, scenarios_dir
    from warroom_tui.settings import Settings
    from warroom_tui.tui.app import LabApp
    from warroom_tui.tui.lab import LabScreen

    db = tmp_path / "w.db"
    await store_unchecked(db, evil_run(series=f"S{EVIL}"), "S/warroom-S-run01.json")
    async with Store.open(db) as store:
        [run] = await store.runs()
    app = LabApp(load_scenario(scenarios_dir() / "sim-demo.toml"), db_path=db, replay=(run.uid, 0),
                 settings=Settings(judges=[]))
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.state == "replay done",
                         "the replay")
        screen = screen_dump(app)
    assert "Sredover" in screen and "Agentredover-A" in screen  # the title and the names, cleaned
    assert_clean(screen, "the replay")


# 12. one line instead of a traceback ------------------------------------------------------------------
DEEP = 100_000


def test_a_transcript_nested_100000_deep_is_one_line(tmp_path, capsys):
    db = tmp_path / "w.db"
    path = tmp_path / "deep.json"
    path.write_text("[" * DEEP + "]" * DEEP)
    assert main(["import", str(path), "--db", str(db)]) == 2
    assert "nested" in one_line_error(capsys)
    data = study_run()
    node = data["conversation"]["messages"][1]
    for _ in range(200):  # deep, but not too deep for the JSON reader: the check says where
        node["x"] = {}
        node = node["x"]
    assert main(["import", write(tmp_path / "d2.json", data), "--db", str(db)]) == 2
    assert "conversation.messages[1].x.x" in one_line_error(capsys)
    assert not db.exists()


@pytest.mark.parametrize("what", ["scenario", "codebook", "settings"])
def test_toml_nested_100000_deep_is_one_line(tmp_path, capsys, monkeypatch, what):
    path = tmp_path / f"{what}.toml"
    path.write_text("x = " + "[" * DEEP + "]" * DEEP + "\n")
    db = str(tmp_path / "w.db")
    args = {"scenario": ["run", str(path), "--db", db],
            "codebook": ["judge", "--codebook", str(path), "--db", db],
            "settings": ["lab", "sim-demo", "--backend", "sim", "--db", db]}[what]
    monkeypatch.setenv("WARROOM_SETTINGS", str(path))
    assert main(args) == 2
    err = one_line_error(capsys)
    assert str(path) in err and "nested" in err
    assert not Path(db).exists()


@pytest.mark.parametrize("value", [["K1"], {"K1": True}, "K9", 3])
def test_prompt_ablation_of_the_wrong_kind_is_one_line(tmp_path, capsys, value):
    data = study_run()
    data["condition"]["promptAblation"] = value
    db = tmp_path / "w.db"
    assert main(["import", write(tmp_path / "a.json", data), "--db", str(db)]) == 2
    assert "condition.promptAblation" in one_line_error(capsys)
    assert not db.exists()


@pytest.mark.parametrize("where", ["series", "name", "text", "key"])
def test_a_lone_surrogate_is_one_line_and_creates_no_database(tmp_path, capsys, where):
    data = study_run()
    if where == "series":
        data["condition"]["series"] = "Z\ud800"
    elif where == "name":
        data["environment"]["agentRanking"][0]["name"] = "Model \udc80A"
    elif where == "text":
        data["conversation"]["messages"][2]["text"] = "hi \ud83d"
    else:
        data["conversation"]["messages"][2]["\udfff"] = 1
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data), encoding="utf-8")  # ASCII: the surrogate travels as a \u escape
    db = tmp_path / "w.db"
    assert main(["import", str(path), "--db", str(db)]) == 2
    assert "surrogate" in one_line_error(capsys)
    assert not db.exists() and runs_in(str(db)) == 0


def test_names_in_an_old_database_are_shown_on_one_line_and_in_order(tmp_path, capfd):
    """A database from before the name checks may hold a series with a line break and names with a bidi override
    or a zero-width space: the report printed a forged row and let the override reorder the table."""
    db = tmp_path / "w.db"
    data = evil_run(series="A\nB")
    a = data["environment"]["agentRanking"][0]
    a["name"], a["nickname"] = "Multi\nLine\u202eA", "Agent\u200b-A"
    for m in data["conversation"]["messages"]:
        if m.get("sender") == "a":
            m["agent"], m["agent_nickname"] = a["name"], a["nickname"]
    asyncio.run(store_unchecked(db, data, "AB/warroom-AB-run01.json"))
    assert main(["judge", "--db", str(db)]) == 0
    capfd.readouterr()
    assert main(["report", "--db", str(db)]) == 0
    out = capfd.readouterr().out
    assert "A\ufffdB" in out and "Multi\ufffdLine\ufffdA" in out
    assert "\u202e" not in out and "\u200b" not in out and not any(line.startswith("│ B ") for line in out.splitlines())
    assert_clean(out, "stdout")


def test_one_line_leaves_a_plain_name_as_it_is_and_marks_what_it_may_not_show():
    from warroom_tui.untrusted import one_line

    for name in ("Agent-A", "Aléx", "模型", "Llama 3.3 70B", "🙂"):
        assert one_line(name) == name
    assert one_line("a\nb\tc\u202ed\u200be\u034ff") == "a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf"
    assert one_line(f"x{ESC_RED}y") == "xy"
