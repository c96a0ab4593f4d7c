"""The report names who coded the flags and how well that coder agrees with a human (issue 11)."""

import asyncio
import json
import math

import pytest

from warroom_tui.analysis.agreement import cohen_kappa, kappa_with_ci
from warroom_tui.cli import main
from warroom_tui.store.db import Store
from warroom_tui.store.rows import CodingRow

from test_analysis_lab import judged_db  # noqa: F401 (a fixture)


def test_kappa_with_ci_is_seeded_and_brackets_the_kappa():
    a = {i: {"x": i % 3 == 0} for i in range(40)}
    b = {i: {"x": (i % 3 == 0) != (i % 7 == 0)} for i in range(40)}
    got = kappa_with_ci(a, b, ["x"])
    k = got["flags"]["x"]
    assert got["n"] == 40 and k["kappa"] == pytest.approx(cohen_kappa([a[i]["x"] for i in a], [b[i]["x"] for i in a]))
    assert k["ci_low"] <= k["kappa"] <= k["ci_high"] and k == kappa_with_ci(a, b, ["x"])["flags"]["x"]
    few = kappa_with_ci({i: a[i] for i in range(5)}, b, ["x"])["flags"]["x"]
    assert math.isnan(few["ci_low"])  # 5 items: no interval



def test_the_kappa_interval_resamples_whole_runs_when_it_knows_them():
    """The messages of one run are not independent: resampled one by one, the report's interval was narrower than
    the README's (which resamples runs) for the same kappa. With each message's run it resamples runs."""
    # 20 runs of 6 messages; the coders disagree on whole runs (every message of runs 0, 5, 10, 15)
    a = {i: {"x": i % 2 == 0} for i in range(120)}
    b = {i: {"x": (i % 2 == 0) != (i // 6 % 5 == 0)} for i in range(120)}
    runs = {i: i // 6 for i in range(120)}
    by_item = kappa_with_ci(a, b, ["x"])
    by_run = kappa_with_ci(a, b, ["x"], groups=runs)
    wide = lambda k: k["flags"]["x"]["ci_high"] - k["flags"]["x"]["ci_low"]  # noqa: E731
    assert by_run["flags"]["x"]["kappa"] == by_item["flags"]["x"]["kappa"]
    assert wide(by_run) > 1.3 * wide(by_item)
    assert (by_run["resampled"], by_run["groups"], by_item["resampled"]) == ("groups", 20, "items")
    assert by_run == kappa_with_ci(a, b, ["x"], groups=runs)  # seeded

async def add_human(db, n: int = 30) -> None:
    async with Store.open(db) as store:
        builtin = next(c for c in await store.coders() if c.name.startswith("builtin"))
        labels = await store.labels(builtin.id)
        human = await store.coder_id("alice", "human", "v4")
        rows = []
        for k, (mid, flags) in enumerate(sorted(labels.items())[:n]):
            flags = dict(flags)
            if k % 5 == 0:  # alice disagrees on META now and then
                flags["meta"] = (not flags["meta"][0], "")
            rows.append(CodingRow(mid, "coded", "", flags))
        await store.save_codings(human, rows)


def test_report_names_the_coder_and_its_kappa_against_the_human(tmp_path, judged_db, capsys):
    asyncio.run(add_human(judged_db))
    capsys.readouterr()
    assert main(["report", "--json", "--include-simulated", "--db", str(judged_db)]) == 0
    rep = json.loads(capsys.readouterr().out)
    src = rep["labels_from"]
    assert src["coder"] == "builtin@v4" and src["kind"] == "builtin"
    [alice] = src["humans"]
    assert alice["human"] == "alice" and alice["n"] == 30
    assert alice["resampled"] == "groups" and 1 <= alice["groups"] <= 4  # whole runs resampled (of the 4 coded)
    assert alice["flags"]["arch"]["kappa"] == 1.0 and alice["flags"]["meta"]["kappa"] < 1.0
    meta = alice["flags"]["meta"]
    assert meta["ci_low"] <= meta["kappa"] <= meta["ci_high"]
    assert main(["report", "--include-simulated", "--db", str(judged_db)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "builtin@v4 against human coder alice" in out and "95% bootstrap CI" in out


def test_without_human_labels_the_report_says_so(judged_db, capsys):
    capsys.readouterr()
    assert main(["report", "--include-simulated", "--db", str(judged_db)]) == 0
    assert "no human labels in the store" in capsys.readouterr().out



def test_a_series_the_options_name_that_is_not_reported_is_one_line_and_exit_2(judged_db, capsys):
    """A typo in --compare left that comparison out of its family of tests (the correction of the others changed
    with it), and --rq1-series or --profiles showed nothing: all without a word, exit 0."""
    capsys.readouterr()
    db = str(judged_db)
    series = main(["report", "--include-simulated", "--db", db, "--json"]) == 0 and \
        sorted(json.loads(capsys.readouterr().out)["profiles"])
    assert series == ["A (sim)", "B (sim)"]
    for option in (["--compare", "A (sim):Z"], ["--rq1-series", "ZZ"], ["--profiles", "ZZ"]):
        assert main(["report", "--include-simulated", "--db", db, *option]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no series 'Z" in err and "(series: A (sim), B (sim))" in err, err
    assert main(["report", "--db", db, "--profiles", "A (sim)"]) == 2  # simulated runs left out: says so
    assert "left out without --include-simulated" in capsys.readouterr().err
    assert main(["report", "--include-simulated", "--db", db, "--compare", "A (sim):A (sim)"]) == 2
    assert "compares a series with itself" in capsys.readouterr().err
    twice = ["--compare", "A (sim):B (sim)", "--compare", "A (sim):B (sim)"]
    assert main(["report", "--include-simulated", "--db", db, "--json", *twice]) == 0
    assert len(json.loads(capsys.readouterr().out)["comparisons"]) == 1  # one test, corrected as one

def test_kappa_is_undefined_when_neither_coder_varies():
    assert math.isnan(cohen_kappa([0, 0, 0, 0], [0, 0, 0, 0]))  # not "perfect agreement"
    assert math.isnan(cohen_kappa([1, 1], [1, 1]))
    assert cohen_kappa([1, 1, 1], [0, 0, 0]) == 0.0
    never = {i: {"x": False} for i in range(30)}
    k = kappa_with_ci(never, never, ["x"])["flags"]["x"]
    assert math.isnan(k["kappa"]) and math.isnan(k["ci_low"])


def test_report_json_is_strict_and_an_unset_flag_has_no_kappa(tmp_path, judged_db, capsys):
    asyncio.run(add_human(judged_db, n=12))

    def no_nan(token):
        raise AssertionError(f"{token} in the JSON")

    capsys.readouterr()
    assert main(["report", "--json", "--include-simulated", "--db", str(judged_db)]) == 0
    rep = json.loads(capsys.readouterr().out, parse_constant=no_nan)
    [alice] = rep["labels_from"]["humans"]
    unset = [f for f, k in alice["flags"].items() if k["kappa"] is None]
    assert unset  # some flag nobody set in 12 messages: undefined, not 1.0
    assert all(k["kappa"] is None or -1 <= k["kappa"] <= 1 for k in alice["flags"].values())
    assert main(["report", "--include-simulated", "--db", str(judged_db)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "undefined" in out and "only 12 messages coded by both" in out


def test_rq1_tests_agents_within_one_series_by_default():
    from warroom_tui.report import rq1_default

    assert rq1_default(["B", "A", "A"]) == "A"
    assert rq1_default(["B (sim)", "A (sim)"]) == "A (sim)"  # simulated runs included: their A
    assert rq1_default(["C", "B", "B"]) == "B"  # no A: the series with the most runs, never all pooled
    assert rq1_default([]) is None


def test_a_partly_coded_store_is_reported_with_a_warning(tmp_path, capsys):
    """Runs added after the last `warroom judge`, or messages a judge failed on, are not in the numbers: the
    report says how many of the messages its coder coded, and what to run (text and JSON)."""
    db = str(tmp_path / "w.db")
    for seed in ("1", "2"):
        assert main(["run", "sim-demo", "--runs", "1", "--seed", seed, "--db", db, "--quiet"]) == 0
    assert main(["judge", "--db", db]) == 0
    assert main(["report", "--include-simulated", "--db", db]) == 0
    assert "partly coded" not in capsys.readouterr().out  # every message coded: no warning
    assert main(["run", "sim-demo", "--runs", "1", "--seed", "3", "--db", db, "--quiet"]) == 0

    async def fail_one() -> tuple[int, int]:
        async with Store.open(db) as store:
            cid = (await store.coder("builtin@v4")).id
            coded = await store.labels(cid)
            await store.save_codings(cid, [CodingRow(min(coded), "uncoded", "refused: no answer")])
            return len(coded), len(await store.uncoded_messages(cid))

    coded, new = asyncio.run(fail_one())
    capsys.readouterr()
    assert main(["report", "--include-simulated", "--db", db]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (f"warning: partly coded: builtin@v4 coded {coded - 1} of the {coded + new} messages of the 3 finished runs"
            f" (1 could not be coded; {new} not coded yet: `warroom judge --db {db}` codes them). The numbers read only"
            " the coded ones; 1 run without any label is left out.") in out
    assert main(["report", "--include-simulated", "--json", "--db", db]) == 0
    got = json.loads(capsys.readouterr().out)["coverage"]
    assert got == {"messages": coded + new, "coded": coded - 1, "uncoded": 1, "not_coded_yet": new, "runs": 3,
                   "runs_without_labels": 1, "kind": "builtin"}


def test_the_coverage_warning_says_what_to_run_for_each_kind_of_coder_and_counts_only_the_runs_asked_about():
    from warroom_tui.analysis.stats import RunData
    from warroom_tui.report import LoadedRuns, coverage_note, coverage_of

    runs = [RunData(run_id=1, series="A", crashed=False, agents={0: "a"}, labels={0: [{"meta": True}]})]
    counts = {1: (10, 8, 0), 2: (5, 0, 0)}  # run 2: no labels
    panel = LoadedRuns(runs, 0, 0, counts=counts, coder={"kind": "adjudicated", "judges": ["builtin", "sim/judge"]})
    note = coverage_note({"coder": "panel-intersection@v4", "coverage": coverage_of(panel)})
    assert "8 of the 15 messages of the 2 finished runs" in note and "7 not coded by every judge of the panel" in note
    assert "`warroom judge --judge builtin --judge sim/judge`" in note and "1 run without any label is left out" in note
    llm = LoadedRuns(runs, 0, 0, counts=counts, coder={"kind": "llm", "judge": "groq/llama"})
    assert "`warroom judge --judge groq/llama` codes them" in coverage_note({"coder": "x", "coverage": coverage_of(llm)})
    assert coverage_of(panel, [1])["runs_without_labels"] == 0 and coverage_of(panel, [1])["messages"] == 10
    assert coverage_note({"coder": "x", "coverage": coverage_of(panel, [])}) == ""  # nothing asked about
