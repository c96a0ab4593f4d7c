"""Analysis-ready data: the Parquet export round-trips, DuckDB reads it, the DataFrames match the store."""

from __future__ import annotations

import asyncio
import sys

import pytest

from warroom_tui.cli import main
from warroom_tui.store.db import Store
from warroom_tui.store.tables import TABLE_NAMES

pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")
duckdb = pytest.importorskip("duckdb")

from warroom_tui import data  # noqa: E402  (after the skips: it needs the data extra)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Two simulated runs (virtual time), judged by the built-in coder, plus one real (imported) run."""
    path = tmp_path_factory.mktemp("data") / "w.db"
    assert main(["run", "sim-demo", "--backend", "sim", "--runs", "2", "--db", str(path), "--quiet"]) == 0
    assert main(["judge", "--db", str(path)]) == 0

    async def add_real_run() -> None:
        async with Store.open(path) as store:
            from warroom_tui.store.rows import AgentRow
            from warroom_tui.engine.transcript import Message

            run_id = await store.create_run(uid="real-1", scenario="x", series="R", brief="hi", agents=[
                AgentRow(idx=0, key="agent1", name="Llama", nickname="Agent-A", model="groq/llama")])
            await store.add_messages(run_id, [Message(seq=0, sender="agent1", text="hello", round=0, agent=0)])

    asyncio.run(add_real_run())
    return path


def sizes(path) -> dict[str, int]:
    async def go():
        async with Store.open(path) as store:
            return await store.table_sizes()
    return asyncio.run(go())


def test_parquet_export_round_trips_every_table(db, tmp_path):
    out = tmp_path / "pq"
    assert main(["export", "--format", "parquet", "--out", str(out), "--db", str(db)]) == 0
    stored = sizes(db)
    assert set(stored) == set(TABLE_NAMES)
    assert all(stored[t] for t in ("runs", "agents", "messages", "events", "coders", "codings", "labels"))
    for name in TABLE_NAMES:
        assert pq.read_table(out / f"{name}.parquet").num_rows == stored[name], name
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in TABLE_NAMES)  # no partials
    # DuckDB reads the files directly; simulated runs are labelled in every table about a run's content
    con = duckdb.connect()
    try:
        check_with_duckdb(con, out, stored)
    finally:
        con.close()


def check_with_duckdb(con, out, stored) -> None:
    got = con.execute(f"SELECT simulated, COUNT(*) FROM '{out}/messages.parquet' GROUP BY simulated ORDER BY 1").fetchall()
    assert got == [(False, 1), (True, stored["messages"] - 1)]
    joined = con.execute(f"SELECT COUNT(*) FROM '{out}/labels.parquet' l JOIN '{out}/messages.parquet' m"
                     " USING (message_id) WHERE m.agent_idx IS NOT NULL").fetchall()
    assert joined == [(stored["labels"],)]
    text = con.execute(f"SELECT text FROM '{out}/messages.parquet' WHERE run_id = (SELECT run_id FROM"
                   f" '{out}/runs.parquet' WHERE uid = 'real-1')").fetchall()
    assert text == [("hello",)]
    measured = con.execute(f"SELECT COUNT(copy_share) FROM '{out}/messages.parquet'").fetchall()[0][0]
    assert measured > 0  # the copy share travels with the messages


def test_parquet_export_without_pyarrow_is_one_line_and_writes_nothing(db, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert main(["export", "--format", "parquet", "--out", str(tmp_path / "pq"), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "warroom-tui[data]" in err
    assert not (tmp_path / "pq").exists() or not any((tmp_path / "pq").iterdir())


def test_frames_match_the_store(db):
    stored = sizes(db)
    runs = data.runs(db)
    assert len(runs) == stored["runs"]
    assert runs.set_index("uid").simulated.to_dict()["real-1"] == False  # noqa: E712
    assert runs.simulated.sum() == 2
    msgs = data.messages(db)
    assert len(msgs) == stored["messages"]
    assert msgs["round"].dtype == "Int64" and msgs.agent_idx.isna().any()  # markers keep a null agent
    labels = data.labels(db)
    assert set(labels.coder) == {"builtin@v4"}
    assert len(labels) == stored["codings"]
    assert {"phatic", "meta", "lead", "arch", "agree", "comp", "comp_level"} <= set(labels.columns)
    assert data.table("labels", db).value.sum() == labels[["phatic", "meta", "lead", "arch", "agree", "comp",
                                                            "has_xref"]].sum().sum()
    with pytest.raises(LookupError):
        data.labels(db, coder="nobody")


def test_profiles_are_the_rates_the_report_uses(db):
    from warroom_tui.analysis.stats import run_profiles
    from warroom_tui.judge.codebook import load_codebook
    from warroom_tui.report import load_runs

    traits = ["phatic", "meta", "lead", "arch", "agree"]
    prof = data.profiles(db, flags=traits)

    async def report_rates():
        async with Store.open(db) as store:
            loaded = await load_runs(store, "builtin@v4", load_codebook(), include_simulated=True)
            return {(r.run_id, a): list(v) for r in loaded.runs for a, v in run_profiles(r, traits).items()}

    expected = asyncio.run(report_rates())
    got = {(row.run_id, row.agent_idx): [getattr(row, f) for f in traits] for row in prof.itertuples()}
    assert got.keys() == expected.keys()
    for key, rates in expected.items():
        assert got[key] == pytest.approx(rates), key
    assert prof.simulated.all() and prof.n.min() > 0


async def test_frames_from_inside_a_running_event_loop(db):
    """A notebook has a running loop: the API must still work there."""
    assert len(data.runs(db)) == 3


def test_missing_database_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.db"):
        data.runs(tmp_path / "nope.db")


def test_reading_never_writes_the_database(db, tmp_path, capsys):
    """The export and the DataFrames open the store read-only: no missing file is created, nothing changes."""
    missing = tmp_path / "nope.db"
    assert main(["export", "--format", "parquet", "--out", str(tmp_path / "pq"), "--db", str(missing)]) == 2
    assert "nope.db: no such database" in capsys.readouterr().err
    assert not missing.exists() and not (tmp_path / "pq").exists()
    before = db.read_bytes()
    db.chmod(0o444)  # a database the user may only read
    try:
        assert len(data.runs(db)) == 3
        assert main(["export", "--format", "parquet", "--out", str(tmp_path / "pq2"), "--db", str(db)]) == 0
    finally:
        db.chmod(0o644)
    assert db.read_bytes() == before
