"""The recipe-versus-family report recovers the simulator's ground truth, and finds none where there is none."""

from __future__ import annotations

import numpy as np
import pytest

from warroom_tui.analysis.factors import factor_report, permanova
from warroom_tui.store.db import Store


def test_permanova_separates_groups_and_not_noise():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, (20, 3)), rng.normal(1, 0.1, (20, 3))])
    labels = ["a"] * 20 + ["b"] * 20
    res = permanova(x, labels, permutations=199)
    assert res["r2"] > 0.9 and res["p"] == pytest.approx(1 / 200)
    noise = permanova(rng.normal(0, 1, (40, 3)), labels, permutations=199)
    assert noise["r2"] < 0.1 and noise["p"] > 0.05
    # R^2 equals the textbook one-way ANOVA share for one dimension
    y = rng.normal(0, 1, (12, 1))
    g = ["a", "b", "c"] * 4
    ss_t = ((y - y.mean()) ** 2).sum()
    ss_w = sum(((y[[i for i in range(12) if g[i] == k]] - y[[i for i in range(12) if g[i] == k]].mean()) ** 2).sum()
               for k in "abc")
    assert permanova(y, g, permutations=9)["r2"] == pytest.approx(1 - ss_w / ss_t)


async def _sweep_report(tmp_path, recipes: dict[str, str] | None, runs: int) -> dict:
    from warroom_tui.judge.codebook import load_codebook
    from warroom_tui.judge.service import judge_store, make_judges
    from warroom_tui.report import factor_observations
    from warroom_tui.executors import LocalExecutor
    from warroom_tui.sweep import cells, find_design, load_design, run_specs

    path = find_design("recipe-sim")
    design = load_design(path)
    if recipes is not None:  # relabel the recipes with names the simulator does not know: no recipe effect
        design = design.model_copy(update={"agents": {k: a.model_copy(update={"recipe": recipes[a.recipe]})
                                                      for k, a in design.agents.items()}})
    specs = run_specs(design, cells(design, path, backend="sim"), runs)
    codebook = load_codebook("interaction")
    async with Store.open(":memory:") as store:  # commits to a file would make this test slow
        await LocalExecutor(store).run(specs)
        judges = make_judges(["builtin"], codebook)
        await judge_store(store, judges, codebook)
        obs, _, unknown = await factor_observations(store, "builtin@interaction", include_simulated=True)
    assert unknown == 0
    return factor_report(obs, "hedge", codebook.trait_ids, ["family", "recipe", "partner"], resamples=500,
                         permutations=199)


def _pooled(rep: dict, responder_recipe: str | None, partner: str = "rlhf") -> float:
    """Hedge rate with an rlhf partner minus with any other, pooled over responders of a recipe."""
    k = {True: 0.0, False: 0.0}
    n = {True: 0, False: 0}
    for row in rep["partner"]["recipe"]:
        if responder_recipe is not None and (row["recipe"] == responder_recipe) is not True:
            continue
        for lv in row["levels"]:
            side = lv["partner"] == partner
            k[side] += lv["rate"] * lv["n"]
            n[side] += lv["n"]
    return k[True] / n[True] - k[False] / n[False]


async def test_simulated_sweep_recovers_recipe_over_family_and_the_partner_shift(tmp_path):
    rep = await _sweep_report(tmp_path, None, runs=12)
    shares = {r["factor"]: r for r in rep["decomposition"]["factors"]}
    assert shares["recipe"]["r2"] > 3 * shares["family"]["r2"]
    assert shares["recipe"]["p"] < 0.01
    # the simulator adds 0.18 to a reasoning-distilled responder's hedging when its partner is rlhf (a little
    # less reaches the coder's rate, which also counts hedges the partner did not cause)
    shift = _pooled(rep, "reasoning-distilled")
    assert 0.05 < shift < 0.30
    rows = {r["responder"]: r for r in rep["partner"]["recipe"]}
    assert rows["llama-r1"]["high"] == "rlhf" and rows["qwen-r1"]["high"] == "rlhf"
    # nobody else has a partner effect: each of their rlhf-versus-rest differences is smaller
    others = [r for r in rep["partner"]["recipe"] if r["recipe"] != "reasoning-distilled"]
    assert all(abs(_pooled({"partner": {"recipe": [r]}}, None)) < shift for r in others)


async def test_a_design_without_recipe_effect_shows_none(tmp_path):
    placebo = {"sft": "recipe-x", "rlhf": "recipe-y", "reasoning-distilled": "recipe-z"}
    rep = await _sweep_report(tmp_path, placebo, runs=5)
    shares = {r["factor"]: r for r in rep["decomposition"]["factors"]}
    assert shares["recipe"]["p"] > 0.05 and shares["recipe"]["r2"] < 0.05
    assert abs(_pooled(rep, None, partner="recipe-y")) < 0.05


@pytest.fixture
def tagged_db(tmp_path):
    """A small simulated sweep of tagged agents, coded with the interaction codebook."""
    from tests.test_sweep import DESIGN
    from warroom_tui.cli import main

    db = tmp_path / "lab.db"
    design = tmp_path / "tiny.toml"
    design.write_text(DESIGN)
    assert main(["sweep", str(design), "--backend", "sim", "--db", str(db), "--quiet"]) == 0
    assert main(["judge", "--codebook", "interaction", "--db", str(db)]) == 0
    return db


async def test_statistics_screen_shows_the_factor_report(tmp_path, tagged_db):
    """The lab's statistics screen adds the recipe-versus-family tables once a coder has HEDGE labels."""
    from tests.conftest import sim_lab, wait_until
    from warroom_tui.settings import Settings
    from warroom_tui.tui.lab import LabScreen
    from warroom_tui.tui.stats import StatsScreen

    app = sim_lab(tmp_path, pause_after=0, settings=Settings(judges=[]))
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen), "the lab")
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, StatsScreen), "stats")
        await pilot.press("i")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.factors is not None, "the factor report")
        assert {r["factor"] for r in screen.factors["decomposition"]["factors"]} == {"family", "recipe"}
        assert screen.factors["coder"] == "builtin@interaction"
