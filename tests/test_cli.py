"""Headless runs through the CLI."""

import sqlite3

from warroom_tui.cli import main


def test_run_sim_backend_stores_every_message(tmp_path, capsys):
    db = tmp_path / "w.db"
    assert main(["run", "study-A", "--backend", "sim", "--runs", "2", "--seed", "3", "--db", str(db), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and "done" in out
    con = sqlite3.connect(db)
    runs = con.execute("SELECT series, status, simulated FROM runs").fetchall()
    assert runs == [("A", "done", 1), ("A", "done", 1)]
    n = con.execute("SELECT COUNT(*) FROM messages WHERE agent_idx IS NOT NULL").fetchone()[0]
    # 7 live agents x 11 rounds + DeepSeek's two errors, per run
    assert n == 2 * (7 * 11 + 2)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_help_lists_every_command(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for command in ("run", "import", "export"):
        assert command in out


def test_run_summary_and_study_export_use_their_round_numbering(tmp_path, capsys):
    import json

    db = tmp_path / "b.db"
    assert main(["run", "sim-demo", "--backend", "sim", "--runs", "1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "sim-demo-" in line)
    assert [c.strip() for c in row.split("│")][3] == "10"  # the scenario's 10 rounds (before: 11)
    bar = next(line for line in out.splitlines() if "run 1: round" in line)
    assert "10/10" in bar and "11" not in bar  # the progress bar too (before: "rounds 11/11")
    con = sqlite3.connect(db)
    assert con.execute("SELECT text FROM messages WHERE sender='system' ORDER BY seq").fetchone()[0] == "— Round 1 —"
    assert main(["export", "--out", str(tmp_path / "out"), "--db", str(db)]) == 0
    data = json.loads(next((tmp_path / "out").rglob("*.json")).read_text())
    markers = [m["system"] for m in data["conversation"]["messages"] if m["sender"] == "system"]
    assert markers[0] == "— Round 2 —"  # the study JSON keeps the study tool's own numbering


def test_the_lab_is_the_default_command(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr("warroom_tui.tui.launch.lab_command", lambda args: seen.append(args) or 0)
    assert main(["--db", str(tmp_path / "x.db")]) == 0
    assert main(["sim-demo", "--backend", "sim"]) == 0
    assert main([]) == 0
    assert [a.command for a in seen] == ["lab"] * 3
    assert seen[0].db == tmp_path / "x.db" and seen[1].scenario == "sim-demo" and seen[1].backend == "sim"


def test_a_mistyped_scenario_suggests_shipped_ones(capsys):
    assert main(["run", "local-hetro", "--backend", "sim"]) == 2
    err = capsys.readouterr().err
    assert "did you mean local-hetero" in err and err.count("\n") == 1


def test_a_scenario_typed_in_another_case_suggests_it(capsys):
    assert main(["run", "study-a", "--backend", "sim"]) == 2
    err = capsys.readouterr().err
    assert "did you mean study-A" in err and err.count("\n") == 1
