"""`warroom sweep`: factors into cells, replicates per cell, each run labelled, resumed after a kill."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from warroom_tui.store.db import Store
from warroom_tui.sweep import DesignError, cells, find_design, load_design, run_specs

DESIGN = """
name = "tiny"
scenario = "sim-demo"
rounds = 2
runs_per_cell = 2
[agents.a]
model = "sim/tagged"
family = "F1"
recipe = "sft"
[agents.b]
model = "sim/tagged"
family = "F2"
base = "B2"
recipe = "rlhf"
[factors]
panel = [["a", "b"], ["b", "a"]]
naming = ["neutral", "real"]
crash = ["none", "permanent@2"]
"""


def test_factors_expand_into_cells(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(DESIGN)
    design = load_design(path)
    got = cells(design, path, backend="sim")
    assert len(got) == 8
    first = got[0]
    assert first.levels == {"panel": "a+b", "naming": "neutral", "crash": "none"}
    assert [a.name for a in first.scenario.roster()] == ["a", "b"]
    assert first.scenario.roster()[1].base == "B2" and first.scenario.cell == first.levels
    crashed = next(c for c in got if c.levels["crash"] != "none")
    assert crashed.scenario.conditions.crashes[0].agent == "2"
    specs = run_specs(design, got, 3)
    assert len(specs) == 24 and {s.seed for s in specs} == {0, 1, 2}
    assert specs[0].cell == first.label and specs[0].key != specs[3].key  # the cell is in the identity
    assert len({s.scenario.name for s in specs}) == 8


@pytest.mark.parametrize("edit, field", [
    (("panel = [[\"a\", \"b\"], [\"b\", \"a\"]]", "panel = [[\"a\", \"zz\"]]"), "factors.panel.0"),
    (("naming = [\"neutral\", \"real\"]", "naming = [\"loud\"]"), "factors.naming.0"),
    (("runs_per_cell = 2", "runs_per_cell = 0"), "runs_per_cell"),
    (("runs_per_cell = 2", "runs_per_cell = true"), "runs_per_cell"),
    (("name = \"tiny\"", "name = \"..\""), "name"),  # names become run ids and export paths  # strict numbers, as in scenarios
    (("runs_per_cell = 2", "runs_per_cell = 2\nseed = 4611686018427387905"), "seed"),  # within ±2**62
    (("naming = [\"neutral\", \"real\"]", "temperature = [true]"), "factors.temperature.0"),
    (("crash = [\"none\", \"permanent@2\"]", "crash = [\"permanent@5\"]"), "factors.crash"),
    (("recipe = \"sft\"", "recipe = 1"), "agents.a.recipe"),
    (("scenario = \"sim-demo\"", "scenario = \"nope\""), "scenario"),
])
def test_bad_designs_name_file_and_field(tmp_path, edit, field):
    path = tmp_path / "bad.toml"
    path.write_text(DESIGN.replace(*edit))
    with pytest.raises(DesignError) as exc:
        cells(load_design(path), path)
    line = str(exc.value)
    assert line.startswith(str(path)) and field in line and "\n" not in line


def test_bad_design_cli_exit_2_stores_nothing(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(DESIGN.replace("model = \"sim/tagged\"\nfamily = \"F1\"", "model = \"sim/tagged\"\nfamily = 3"))
    db = tmp_path / "x.db"
    out = subprocess.run([sys.executable, "-m", "warroom_tui", "sweep", str(path), "--db", str(db)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "agents.a.family" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not db.exists()


def test_sweep_address_without_ray_executor_exit_2(tmp_path):
    from warroom_tui.cli import main

    db = tmp_path / "x.db"
    assert main(["sweep", "recipe-sim", "--backend", "sim", "--address", "auto", "--db", str(db)]) == 2
    assert main(["sweep", "recipe-sim", "--backend", "sim", "--runs-per-cell", "0", "--db", str(db)]) == 2
    assert not db.exists()


def test_sweep_resumes_after_a_kill(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(DESIGN)
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "warroom_tui", "sweep", str(path), "--backend", "sim", "--db", str(db), "--quiet"]
    env = dict(os.environ, WARROOM_KILL_AT="commit:40")  # mid-way through a run
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert killed.returncode == -9
    env.pop("WARROOM_KILL_AT")
    again = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "16 of 16 runs finished" in again.stdout

    async def check():
        async with Store.open(db, read_only=True) as store:
            runs = await store.runs()
            assert len(runs) == 16  # the interrupted run was taken up, not started again
            assert {r.status.value for r in runs} == {"done"}
            labels = sorted((tuple(sorted(r.cell.items())), r.replicate) for r in runs)
            assert len(set(labels)) == 16
            for r in runs:
                msgs = [m for m in await store.messages(r.id) if m.agent is not None]
                assert len({(m.agent, m.round) for m in msgs}) == len(msgs)  # nothing repeated
                if r.cell["crash"] == "none":
                    assert len(msgs) == 2 * 3  # two agents, rounds 0..2
    import asyncio
    asyncio.run(check())


def test_shipped_designs_expand():
    for name, n in (("recipe-sim", 15), ("recipe-factorial", 18)):
        path = find_design(name)
        got = cells(load_design(path), path, backend="sim")
        assert len(got) == n
        assert all(a.model == "sim/tagged" and a.recipe and a.family and a.base
                   for c in got for a in c.scenario.roster())


def test_design_loader_fuzzed(tmp_path_factory):
    """A malformed design ends in one line naming the file, never a traceback."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.test_fuzz import json_values, toml_doc

    keys = st.sampled_from(["name", "scenario", "runs_per_cell", "seed", "rounds", "agents", "factors", "panel",
                            "naming", "crash", "order", "temperature", "model", "recipe", "family", "base", "x"])

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(doc=st.dictionaries(keys, json_values, max_size=8))
    def check(doc):
        path = tmp_path_factory.mktemp("d") / "fuzz.toml"
        path.write_text(toml_doc(doc), encoding="utf-8")
        try:
            cells(load_design(path), path)
        except DesignError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)

    check()
