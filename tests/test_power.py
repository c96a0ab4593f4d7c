"""`warroom power`: runs per cell needed, by resampling pilot runs."""

from __future__ import annotations

import numpy as np

from warroom_tui.analysis.power import power_curve


def test_power_grows_with_runs_and_holds_alpha_without_an_effect():
    rng = np.random.default_rng(1)
    x, y = list(rng.normal(0.5, 0.1, 20)), list(rng.normal(0.5, 0.1, 20))
    rep = power_curve(x, y, delta=0.1, grid=(3, 10, 20, 40), sims=300)
    powers = [c["power"] for c in rep["curve"]]
    assert powers == sorted(powers) and powers[-1] > 0.9
    # a 0.1 shift on a spread of 0.1 is one standard deviation: about 17 runs a side for 80% (t-test figure)
    assert rep["needed"] == 20
    null = power_curve(x, y, delta=1e-9, grid=(20,), sims=400)
    assert null["curve"][0]["power"] < 0.1
    assert power_curve(x, y, delta=0.5, grid=(3, 5, 8), sims=200)["needed"] == 5


async def test_power_cli_on_a_pilot_sweep(tmp_path, capsys):
    from tests.test_sweep import DESIGN
    from warroom_tui.cli import main
    from warroom_tui.judge.codebook import load_codebook
    from warroom_tui.judge.service import judge_store, make_judges
    from warroom_tui.store.db import Store
    from warroom_tui.executors import LocalExecutor
    from warroom_tui.sweep import cells, load_design, run_specs

    path = tmp_path / "tiny.toml"
    path.write_text(DESIGN)
    design = load_design(path)
    db = tmp_path / "pilot.db"
    codebook = load_codebook("interaction")
    async with Store.open(db) as store:
        await LocalExecutor(store).run(run_specs(design, cells(design, path, backend="sim"), 3))
        await judge_store(store, make_judges(["builtin"], codebook), codebook)
    import asyncio

    def run(*argv):
        return asyncio.get_running_loop().run_in_executor(None, main, list(argv))

    assert await run("power", "--compare", "naming=neutral:naming=real", "--flag", "HEDGE", "--include-simulated",
                     "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert "runs per cell needed for power 0.8" in out and "Mann-Whitney" in out
    assert await run("power", "--compare", "naming=neutral", "--db", str(db)) == 2
    assert "--compare: expected X:Y" in capsys.readouterr().err
    assert await run("power", "--compare", "naming=neutral:naming=real", "--flag", "HEDGE", "--db", str(db)) == 2
    assert "--include-simulated" in capsys.readouterr().err  # simulated pilot runs are left out by default


def test_a_side_compared_with_itself_is_refused(tmp_path, capsys):
    from warroom_tui.cli import main

    db = tmp_path / "w.db"
    db.touch()
    assert main(["power", "--compare", "A:A", "--db", str(db)]) == 2
    assert "'A' against itself" in capsys.readouterr().err
