"""A run's identity is the hash of its spec (scenario content, seed, replicate): the same command finds the
runs it made, a changed scenario makes new ones; executors are chosen and checked before anything is stored."""

from __future__ import annotations

import sqlite3
import sys

from warroom_tui.cli import main
from warroom_tui.runner import with_backend
from warroom_tui.runspec import batch_specs, models_needed
from warroom_tui.scenario import parse_scenario

SMALL = """
name = "spec-small"
brief = "@all Plan a food delivery app."
rounds = 1
stagger = 1.0
replicates = 2
[[agents]]
name = "Architect"
model = "sim/architect"
[[agents]]
name = "Analyst"
model = "sim/analyst"
"""


def have_ray() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def run(db, scenario, *extra) -> int:
    return main(["run", str(scenario), "--db", str(db), "--quiet", *extra])


def runs(db) -> list[tuple]:
    con = sqlite3.connect(db)
    rows = con.execute("SELECT replicate, seed, status, brief FROM runs ORDER BY id").fetchall()
    con.close()
    return rows


def test_spec_keys_follow_the_run_not_the_batch():
    s = parse_scenario({"name": "x", "brief": "hi", "agents": [{"name": "A", "model": "sim/architect"}]})
    keys = [x.key for x in batch_specs(s, 3, 7)]
    assert len(set(keys)) == 3
    bigger = s.model_copy(update={"replicates": 9, "seed": 100})  # batch size and base seed: not the run
    assert [x.key for x in batch_specs(bigger, 3, 7)] == keys
    assert batch_specs(s.model_copy(update={"brief": "other"}), 1, 7)[0].key != keys[0]
    assert batch_specs(s, 1, 8)[0].key != keys[0]
    real = parse_scenario({"name": "x", "brief": "hi", "agents": [{"name": "A", "model": "groq/llama"}]})
    assert batch_specs(with_backend(real, "sim"), 1, 7)[0].key != batch_specs(real, 1, 7)[0].key
    two = parse_scenario({"name": "y", "brief": "hi", "agents": [{"name": n, "model": "local/smollm2"}
                                                                 for n in "AB"]})
    assert models_needed(batch_specs(s, 2) + batch_specs(two, 2)) == ["local/smollm2", "local/smollm2",
                                                                      "sim/architect"]


def test_a_changed_scenario_makes_new_runs_instead_of_taking_up_old_ones(tmp_path):
    """Before specs, runs were found by scenario name: an edited scenario 'resumed' runs of the old one."""
    db, scenario = tmp_path / "w.db", tmp_path / "spec-small.toml"
    scenario.write_text(SMALL)
    assert run(db, scenario) == 0 and len(runs(db)) == 2
    assert run(db, scenario, "--runs", "3") == 0  # replicates 0 and 1 are stored; one more
    assert len(runs(db)) == 3
    scenario.write_text(SMALL.replace("Plan a food delivery app.", "Plan a ride-sharing app."))
    assert run(db, scenario) == 0
    assert [r[3] for r in runs(db)].count("@all Plan a ride-sharing app.") == 2 and len(runs(db)) == 5


def test_runs_stored_before_specs_are_still_found_by_name(tmp_path):
    db, scenario = tmp_path / "w.db", tmp_path / "spec-small.toml"
    scenario.write_text(SMALL)
    assert run(db, scenario) == 0
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET spec=NULL")
    con.commit()
    con.close()
    assert run(db, scenario) == 0 and len(runs(db)) == 2


def test_executor_arguments_are_checked_before_anything_is_stored(tmp_path, capsys, monkeypatch):
    db = tmp_path / "w.db"
    assert run(db, "sim-demo", "--backend", "sim", "--address", "auto") == 2
    assert "--address: only with --executor ray" in capsys.readouterr().err
    assert run(db, "sim-demo", "--backend", "sim", "--executor", "ray", "--address", "127.0.0.1:9") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    if have_ray():
        assert err.startswith("warroom: --address 127.0.0.1:9: cannot reach the Ray cluster")
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    monkeypatch.delitem(sys.modules, "warroom_tui.executors.ray_executor", raising=False)
    monkeypatch.delitem(sys.modules, "warroom_tui.executors.ray_task", raising=False)
    assert run(db, "sim-demo", "--backend", "sim", "--executor", "ray") == 2
    err = capsys.readouterr().err.strip()
    assert "warroom-tui[ray]" in err and "\n" not in err
    assert not db.exists()
