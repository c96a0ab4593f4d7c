"""Issue 10, data loss and corruption at the store's doors: import, export, human labels."""

import asyncio
import csv
import json
import sqlite3
from pathlib import Path

from warroom_tui.cli import main
from warroom_tui.engine.status import RunStatus
from warroom_tui.engine.transcript import Message
from warroom_tui.store.db import Store
from warroom_tui.store.rows import AgentRow
from warroom_tui.store.study_json import export_run, import_study_run, import_study_runs, load_study_file


def study_run(series: str = "Z", text: str = "We should build the API first, @Agent-B.", rounds: int = 2) -> dict:
    """A small transcript in the study's shape: two agents, `rounds` rounds."""
    ranking = [{"position": 1, "key": "a", "name": "Model A", "nickname": "Agent-A", "model": "m-a"},
               {"position": 2, "key": "b", "name": "Model B", "nickname": "Agent-B", "model": "m-b"}]
    messages = [{"sender": "user", "time": "10:00", "text": "@all Plan an app."}]
    for r in range(rounds):
        messages.append({"sender": "system", "system": f"— Round {r + 1} —"})
        for a in ranking:
            messages.append({"sender": a["key"], "time": "10:01", "agent": a["name"], "agent_nickname": a["nickname"],
                             "model_id": a["model"], "round": r, "text": f"{text} ({a['key']} r{r})" if a["key"] == "a"
                             else "Great, thanks everyone!",
                             "isError": False, "language_detected": "en"})
    return {"condition": {"series": series, "temperature": 0.8}, "environment": {
        "id": f"run-{text[:10]}", "timestamp": "2026-03-04T00:44:47.211Z", "runNumber": 1, "agentRanking": ranking},
        "conversation": {"userPrompt": "@all Plan an app.", "messages": messages}, "stats": {}}


def write(path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def runs_in(db) -> int:
    if not Path(db).exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        con.close()


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def human_csv(path, rows: list[tuple[str, str, int]]) -> str:
    """rows: (file, nickname, round), every one coded META."""
    flags = ["phatic", "meta", "lead", "arch", "agree", "comp"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "file", "round"] + [f"human_{f}" for f in flags] + ["human_comp_level"])
        for file, nick, rnd in rows:
            w.writerow([f"Z-run01|{nick}|R{rnd}", file, rnd] + ["true" if f == "meta" else "" for f in flags] + [""])
    return str(path)


# 1. human labels never go into a judge's coder
def test_human_import_into_a_judge_coder_name_is_refused(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    assert main(["import", write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", study_run()), "--db", db]) == 0
    assert main(["judge", "--db", db]) == 0
    before = sqlite3.connect(db).execute("SELECT * FROM labels ORDER BY 1, 2, 3").fetchall()
    capsys.readouterr()
    h = human_csv(tmp_path / "h.csv", [("Z/warroom-Z-run01.json", "Agent-A", 0)])
    assert main(["import", "--human", h, "--coder", "builtin@v4", "--db", db]) == 2
    assert "builtin@v4" in one_line_error(capsys)
    con = sqlite3.connect(db)
    assert con.execute("SELECT * FROM labels ORDER BY 1, 2, 3").fetchall() == before
    assert con.execute("SELECT name, kind FROM coders").fetchall() == [("builtin@v4", "builtin")]


def test_judging_after_a_human_took_the_judges_name_is_one_line(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    assert main(["import", write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", study_run()), "--db", db]) == 0
    h = human_csv(tmp_path / "h.csv", [("Z/warroom-Z-run01.json", "Agent-A", 0)])
    assert main(["import", "--human", h, "--coder", "builtin@v4", "--db", db]) == 0
    capsys.readouterr()
    assert main(["judge", "--db", db]) == 2  # before: a CoderKindError traceback, exit 1
    assert "human" in one_line_error(capsys)
    con = sqlite3.connect(db)
    assert con.execute("SELECT name, kind FROM coders").fetchall() == [("builtin@v4", "human")]


async def test_a_judge_never_writes_into_a_human_coder(tmp_path):
    from warroom_tui.store.db import CoderKindError

    async with Store.open(tmp_path / "w.db") as store:
        await store.coder_id("builtin@v4", "human")
        try:
            await store.coder_id("builtin@v4", "builtin")
        except CoderKindError as exc:
            assert "human" in str(exc)
        else:
            raise AssertionError("a judge took over a human coder")


# 2. one file per coder, never overwritten in the same export
def test_coded_csv_file_names_are_unique_per_coder(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    assert main(["import", write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", study_run()), "--db", db]) == 0
    assert main(["judge", "--db", db]) == 0
    h = human_csv(tmp_path / "h.csv", [("Z/warroom-Z-run01.json", "Agent-A", 0)])
    assert main(["import", "--human", h, "--coder", "builtin_v4", "--db", db]) == 0
    out = tmp_path / "out" / "coded.csv"
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--db", db]) == 0
    files = {p.name: len(list(csv.DictReader(p.open()))) for p in out.parent.iterdir()}
    assert files == {"coded_builtin@v4.csv": 4, "coded_builtin_v4.csv": 1}


# 2b. an export never replaces a file already there unless --force, and refuses before writing any
def test_exports_refuse_to_replace_files_already_there(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    assert main(["import", write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", study_run()),
                 write(tmp_path / "in" / "Z" / "warroom-Z-run02.json", study_run(text="Other words.")),
                 "--db", db]) == 0
    assert main(["judge", "--db", db]) == 0
    out = tmp_path / "out"
    (out / "Z").mkdir(parents=True)
    mine = out / "Z" / "warroom-Z-run02.json"
    mine.write_text("a researcher's own file")
    capsys.readouterr()
    assert main(["export", "--out", str(out), "--db", db]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warroom-Z-run02.json: exists" in err and "--force" in err
    assert mine.read_text() == "a researcher's own file" and sorted(p.name for p in (out / "Z").iterdir()) == [
        "warroom-Z-run02.json"]  # nothing written, not even the run that was free
    assert main(["export", "--out", str(out), "--db", db, "--force"]) == 0
    assert json.loads(mine.read_text())["conversation"]["messages"]
    assert len(list((out / "Z").iterdir())) == 2 and not list(out.rglob(".*partial"))
    # the README a finetune export writes, and a coded CSV, likewise
    readme = tmp_path / "README.md"
    readme.write_text("# my project")
    csv_out = tmp_path / "README.md"
    assert main(["export", "--format", "coded-csv", "--out", str(csv_out), "--db", db]) == 2
    assert readme.read_text() == "# my project"
    assert "README.md: exists" in capsys.readouterr().err


def test_an_export_never_writes_through_a_link_or_onto_a_folder(tmp_path, capsys):
    """Its partial file had a fixed name: a link left there was followed, and wrote over a file outside --out."""
    db = str(tmp_path / "w.db")
    assert main(["import", write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", study_run()), "--db", db]) == 0
    out = tmp_path / "out"
    (out / "Z").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "Z" / ".warroom-Z-run01.json.partial").symlink_to(victim)
    assert main(["export", "--out", str(out), "--db", db]) == 0
    assert victim.read_text() == "precious" and not (out / "Z" / "warroom-Z-run01.json").is_symlink()
    assert (out / "Z" / "warroom-Z-run01.json").stat().st_mode & 0o044  # readable by others, as files usually are
    folder = tmp_path / "pq" / "messages.parquet"
    folder.mkdir(parents=True)
    capsys.readouterr()
    assert main(["export", "--format", "parquet", "--out", str(tmp_path / "pq"), "--db", db, "--force"]) == 2
    err = capsys.readouterr().err
    assert "messages.parquet: is a folder" in err and sorted(p.name for p in (tmp_path / "pq").iterdir()) == [
        "messages.parquet"]  # refused before anything was written, even with --force


def test_a_file_where_an_exports_folder_goes_is_refused_before_anything_is_written(tmp_path, capsys):
    """A file where a series' folder goes was found only when the export reached it: the series before it were
    written, then exit 2. And --force gave a file it replaced the umask's permissions instead of its own."""
    db = str(tmp_path / "w.db")
    assert main(["import", write(tmp_path / "in" / "A" / "warroom-A-run01.json", study_run("A")),
                 write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", study_run()), "--db", db]) == 0
    out = tmp_path / "out"
    out.mkdir()
    (out / "Z").write_text("a researcher's own file")
    capsys.readouterr()
    assert main(["export", "--out", str(out), "--db", db, "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Z: is not a folder; nothing written" in err
    assert sorted(p.name for p in out.iterdir()) == ["Z"]  # series A, first in order, not written either
    (out / "Z").unlink()
    assert main(["export", "--out", str(out), "--db", db]) == 0
    mine = out / "A" / "warroom-A-run01.json"
    mine.chmod(0o640)
    assert main(["export", "--out", str(out), "--db", db, "--force"]) == 0
    assert mine.stat().st_mode & 0o777 == 0o640


def test_force_replaces_only_a_file_and_a_long_name_still_exports(tmp_path, capsys):
    """--force replaced a device, a pipe or a link with a regular file; a partial file's name, longer than its
    file's, could be too long for the system."""
    import os

    db = str(tmp_path / "w.db")
    long = "warroom-Z-" + "x" * 230 + ".json"
    assert main(["import", write(tmp_path / "in" / "Z" / long, study_run()), "--db", db]) == 0
    assert main(["export", "--out", str(tmp_path / "out"), "--db", db]) == 0
    assert (tmp_path / "out" / "Z" / long).is_file()
    assert main(["judge", "--db", db]) == 0
    fifo, link = tmp_path / "fifo", tmp_path / "link"
    os.mkfifo(fifo)
    link.symlink_to(tmp_path / "elsewhere.csv")
    capsys.readouterr()
    for target in (fifo, link):
        assert main(["export", "--format", "coded-csv", "--out", str(target), "--db", db, "--force"]) == 2
        assert "is not a plain file" in capsys.readouterr().err
    assert fifo.is_fifo() and link.is_symlink() and not (tmp_path / "elsewhere.csv").exists()
    assert main(["import", "--human", str(tmp_path / "h.csv"), "--coder", "evil\tcoder", "--db", db]) == 2
    assert "--coder: must not contain U+0009" in capsys.readouterr().err


def test_human_labels_for_a_nickname_two_agents_wrote_as_are_refused(tmp_path, capsys):
    """A database from before the check may hold messages of two agents under one nickname in a round: a human
    label for it went on the first of them (and the other message's label was lost)."""
    db = tmp_path / "w.db"
    data = study_run()
    for m in data["conversation"]["messages"]:
        if m.get("sender") == "b":
            m["agent_nickname"] = "Agent-A"

    async def store() -> None:
        async with Store.open(db) as s:
            await import_study_run(s, data, "Z/warroom-Z-run01.json")

    asyncio.run(store())
    h = human_csv(tmp_path / "h.csv", [("Z/warroom-Z-run01.json", "Agent-A", 0)])
    assert main(["import", "--human", h, "--db", str(db)]) == 2
    assert "line 2: id: 2 agents wrote as 'Agent-A' in round 0 of that run; nothing stored" in one_line_error(capsys)


def test_human_labels_none_of_which_are_in_the_database_leave_no_coder(tmp_path, capsys):
    """They were '0 labels stored', exit 0, and left an empty human coder (a coded CSV of a header only after)."""
    db = str(tmp_path / "w.db")
    assert main(["import", write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", study_run()), "--db", db]) == 0
    h = human_csv(tmp_path / "h.csv", [("Q/warroom-Q-run09.json", "Agent-A", 0)])
    capsys.readouterr()
    assert main(["import", "--human", h, "--db", db]) == 2
    assert "not one of 1 labelled message is in the database (import their transcripts first); nothing stored" in \
        one_line_error(capsys)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM coders WHERE kind='human'").fetchone()[0] == 0


def test_two_agents_and_roles_never_share_a_finetune_file(tmp_path):
    """Agent 'Gen.critic' as generator and agent 'Gen' as 'critic.generator' were both written to one file: the
    second replaced the first's examples, and the README listed both."""
    from warroom_tui.store.finetune import FinetuneExport, Tally, write

    files = {("Gen.critic", "generator"): Tally("Gen.critic", "generator", [{"a": 1}, {"a": 2}, {"a": 3}]),
             ("Gen", "critic.generator"): Tally("Gen", "critic.generator", [{"b": 1}, {"b": 2}])}
    written = write(FinetuneExport(files, 1, 0, 0), tmp_path / "ft")
    paths = [p for _, p in written]
    assert len(set(paths)) == 2
    assert sorted(len(p.read_text().splitlines()) for p in paths) == [2, 3]
    readme = (tmp_path / "ft" / "README.md").read_text()
    assert all(p.name in readme for p in paths)


# 3. a run is identified by its content, not by series and file name
def test_two_runs_with_the_same_file_name_in_different_folders_both_import(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    one = write(tmp_path / "one" / "Z" / "warroom-Z-run01.json", study_run(text="First run, first words."))
    two = write(tmp_path / "two" / "Z" / "warroom-Z-run01.json", study_run(text="Second run, other words."))
    assert main(["import", one, two, "--db", db]) == 0
    assert "imported 2 runs (0 already stored)" in capsys.readouterr().out
    assert main(["import", two, "--db", db]) == 0
    assert "imported 0 runs (1 already stored)" in capsys.readouterr().out
    assert runs_in(db) == 2
    assert main(["judge", "--db", db]) == 0 and main(["report", "--db", db, "--include-simulated"]) == 0
    assert "2 runs\nlabels from" in capsys.readouterr().out
    lone = str(tmp_path / "lone.db")
    assert main(["import", one, "--db", lone]) == 0
    assert "imported 1 run (0 already stored)" in capsys.readouterr().out  # one run, not "1 runs"
    assert main(["judge", "--db", lone]) == 0 and main(["report", "--db", lone, "--include-simulated"]) == 0
    assert "1 run\nlabels from" in capsys.readouterr().out  # the coder named once
    # human labels naming that file cannot tell the runs apart: refused, nothing stored (all went on one run)
    h = human_csv(tmp_path / "h.csv", [("Z/warroom-Z-run01.json", "Agent-A", 0)])
    capsys.readouterr()
    assert main(["import", "--human", h, "--db", db]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 2: file: 'Z/warroom-Z-run01.json' is the file of 2 runs" in err
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM coders WHERE kind='human'").fetchone()[0] == 0
    assert main(["import", "--human", h, "--db", lone]) == 0  # one run of that file: placed
    # both export, neither over the other, and come back as two runs
    assert main(["export", "--out", str(tmp_path / "out"), "--db", db]) == 0
    assert sorted(p.name for p in (tmp_path / "out" / "Z").iterdir()) == ["warroom-Z-run01.json",
                                                                         "warroom-Z-run01~2.json"]
    assert main(["import", str(tmp_path / "out"), "--db", str(tmp_path / "again.db")]) == 0
    assert runs_in(str(tmp_path / "again.db")) == 2


# 4. a failed import stores nothing
def test_a_folder_with_one_bad_file_among_good_ones_stores_nothing(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    for i in range(3):
        write(tmp_path / "in" / "Z" / f"warroom-Z-run0{i}.json", study_run(text=f"Run {i} words."))
    bad = study_run(text="Bad run.")
    bad["conversation"]["messages"][2]["round"] = 10**30  # passed the old checks, then overflowed SQLite
    write(tmp_path / "in" / "Z" / "warroom-Z-run09.json", bad)
    assert main(["import", str(tmp_path / "in"), "--db", db]) == 2
    err = one_line_error(capsys)
    assert "warroom-Z-run09.json" in err and "conversation.messages[2].round" in err
    assert runs_in(db) == 0


async def test_a_failure_while_storing_rolls_every_run_back(tmp_path, monkeypatch):
    checked = [(f"Z/r{i}.json", study_run(text=f"Run {i} words.")) for i in range(3)]
    async with Store.open(tmp_path / "w.db") as store:
        calls = []
        real = store.add_messages

        async def failing(run_id, messages):
            calls.append(run_id)
            if len(calls) == 3:
                raise sqlite3.OperationalError("database or disk is full")
            await real(run_id, messages)

        monkeypatch.setattr(store, "add_messages", failing)
        try:
            await import_study_runs(store, checked)
        except sqlite3.OperationalError:
            pass
        assert await store.runs() == []


# 5. two concurrent imports of the same files
async def test_concurrent_imports_store_each_run_once(tmp_path):
    checked = [(f"Z/r{i}.json", study_run(text=f"Run {i} words.")) for i in range(5)]
    async def each(store):
        return [await import_study_run(store, data, source) is not None for source, data in checked]

    async with Store.open(tmp_path / "w.db") as one, Store.open(tmp_path / "w.db") as two:
        a, b = await asyncio.gather(each(one), each(two))
        assert [x + y for x, y in zip(a, b)] == [1] * 5  # each run stored by exactly one of them
        assert len(await one.runs()) == 5
        assert sorted(await asyncio.gather(import_study_runs(one, checked), import_study_runs(two, checked))) == [
            (0, 5), (0, 5)]


# 6. an export taken mid-run says so, and imports as partial
async def test_a_run_exported_while_running_imports_as_interrupted(tmp_path):
    async with Store.open(tmp_path / "live.db") as store:
        run_id = await store.create_run(uid="live-1", scenario="s", series="S", brief="b", agents=[
            AgentRow(idx=0, key="a0", name="Model A", nickname="Agent-A", model="m")])
        await store.add_messages(run_id, [Message(seq=0, sender="user", text="b"),
                                          Message(seq=1, sender="a0", text="hi", round=0, agent=0)])
        data = await export_run(store, (await store.runs())[0])
    assert data["warroom"]["status"] == "running"
    async with Store.open(tmp_path / "other.db") as store:
        await import_study_run(store, json.loads(json.dumps(data)), "S/live-1.json")
        [run] = await store.runs()
    assert run.status == RunStatus.INTERRUPTED and run.n_messages == 1


# 7. export then import into the same database changes nothing
def test_export_and_reimport_into_the_same_database_is_idempotent(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    assert main(["run", "sim-demo", "--backend", "sim", "--runs", "1", "--db", db, "--quiet"]) == 0
    assert main(["import", write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", study_run()), "--db", db]) == 0
    assert main(["export", "--out", str(tmp_path / "out"), "--db", db]) == 0
    assert main(["import", str(tmp_path / "out"), "--db", db]) == 0
    assert "imported 0 runs (2 already stored)" in capsys.readouterr().out
    assert runs_in(db) == 2
    # the export imported elsewhere and exported again is the same export
    other = str(tmp_path / "other.db")
    assert main(["import", str(tmp_path / "out"), "--db", other]) == 0
    assert main(["export", "--out", str(tmp_path / "again"), "--db", other]) == 0
    first = {p.relative_to(tmp_path / "out"): json.loads(p.read_text()) for p in (tmp_path / "out").rglob("*.json")}
    again = {p.relative_to(tmp_path / "again"): json.loads(p.read_text()) for p in (tmp_path / "again").rglob("*.json")}
    assert sorted(map(str, first)) and list(first.values()) != []
    assert sorted(first.values(), key=json.dumps) == sorted(again.values(), key=json.dumps)
    assert main(["import", str(tmp_path / "again"), "--db", db]) == 0
    assert runs_in(db) == 2


def test_a_simulated_run_stays_simulated_through_export_and_import(tmp_path, capsys):
    db, other = str(tmp_path / "w.db"), str(tmp_path / "other.db")
    assert main(["run", "sim-demo", "--backend", "sim", "--runs", "1", "--db", db, "--quiet"]) == 0
    assert main(["export", "--out", str(tmp_path / "out"), "--db", db]) == 0
    assert main(["import", str(tmp_path / "out"), "--db", other]) == 0
    assert sqlite3.connect(other).execute("SELECT simulated FROM runs").fetchall() == [(1,)]


# 8. integers SQLite cannot hold: one line, exit 2, nothing stored
def test_integers_out_of_range_are_refused_at_the_edges(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    data = study_run()
    data["environment"]["runNumber"] = 10**30
    assert main(["import", write(tmp_path / "a" / "Z" / "x.json", data), "--db", db]) == 2
    assert "environment.runNumber" in one_line_error(capsys)
    assert main(["import", write(tmp_path / "in" / "Z" / "warroom-Z-run01.json", study_run()), "--db", db]) == 0
    h = human_csv(tmp_path / "h.csv", [("Z/warroom-Z-run01.json", "Agent-A", 10**23)])
    capsys.readouterr()
    assert main(["import", "--human", h, "--db", db]) == 2
    assert "round" in one_line_error(capsys)
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM coders").fetchone()[0] == 0


def test_an_unknown_status_in_an_export_is_refused(tmp_path, capsys):
    data = study_run()
    data["warroom"] = {"status": "finished-ish"}
    assert main(["import", write(tmp_path / "a" / "Z" / "x.json", data), "--db", str(tmp_path / "w.db")]) == 2
    assert "warroom.status" in one_line_error(capsys)


async def test_a_database_imported_before_content_identity_does_not_double(tmp_path):
    """Runs imported under the old identity (series/file name) get their digest; a re-import finds them."""
    data = study_run()
    async with Store.open(tmp_path / "w.db") as store:
        await import_study_run(store, data, "Z/warroom-Z-run01.json")
        await store.db.execute("UPDATE runs SET digest=NULL, uid='study:Z/warroom-Z-run01.json'")
        assert await import_study_runs(store, [("Z/warroom-Z-run01.json", data)]) == (0, 1)
        assert len(await store.runs()) == 1
    path = tmp_path / "in" / "Z" / "warroom-Z-run01.json"
    write(path, data)
    assert load_study_file(path)[0] == "Z/warroom-Z-run01.json"


# issue 9: simulated runs never enter real statistics
def test_simulated_runs_stay_out_of_report_profiles_and_coded_csv(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    for i in range(3):
        write(tmp_path / "in" / "A" / f"warroom-A-run0{i}.json",
              study_run(series="A", text=f"Run {i}: we build it with Flutter, PostgreSQL, Redis and a REST API."))
    assert main(["import", str(tmp_path / "in"), "--db", db]) == 0
    assert main(["run", "study-A", "--backend", "sim", "--runs", "2", "--db", db, "--quiet"]) == 0
    assert main(["judge", "--db", db]) == 0
    capsys.readouterr()

    assert main(["report", "--json", "--db", db]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["runs"] == 3 and rep["simulated_left_out"] == 2
    assert {r["series"]: r["runs"] for r in rep["cosine"]} == {"A": 3}
    assert set(rep["profiles"]["A"]) == {"Model A", "Model B"}  # no simulated messages credited to real names
    assert main(["report", "--db", db]) == 0
    assert "2 simulated runs left out (--include-simulated to add them)" in " ".join(capsys.readouterr().out.split())

    assert main(["report", "--json", "--db", db, "--include-simulated"]) == 0
    with_sim = json.loads(capsys.readouterr().out)
    assert {r["series"]: r["runs"] for r in with_sim["cosine"]} == {"A": 3, "A (sim)": 2}
    assert with_sim["profiles"]["A"] == rep["profiles"]["A"]
    assert all(name.endswith(" (sim)") for name in with_sim["profiles"]["A (sim)"])
    assert with_sim["simulated_included"] == 2

    out = tmp_path / "coded.csv"
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--db", db]) == 0
    assert "2 simulated runs left out" in " ".join(capsys.readouterr().out.split())
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 12 and "simulated" not in rows[0]
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--db", db, "--include-simulated",
                 "--force"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["simulated"] for r in rows} == {"True", "False"} and sum(r["simulated"] == "False" for r in rows) == 12
