"""Issue 10, items 11 and 14: out-of-range numbers and absurd sizes are refused at the edges, in one line."""

import csv

import pytest

from warroom_tui.cli import main
from warroom_tui.engine.clock import VirtualClock
from warroom_tui.engine.loop import HARD_REPLY_CAP, Engine, reply_cap
from warroom_tui.judge.human import HumanCsvError, read_human_csv
from warroom_tui.scenario import MAX_AGENTS, ScenarioError, parse_scenario

from conftest import SMALL, FakeProvider, scenario_dict


def refused(data: dict, field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="s.toml")
    text = str(info.value)
    assert text.startswith("s.toml: ") and field in text and "\n" not in text, text


def test_seeds_must_fit_the_store(tmp_path, capsys):
    refused(scenario_dict(seed=10**30), "seed")  # before: an OverflowError traceback at the first insert
    refused(scenario_dict(seed=-(10**30)), "seed")
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    for argv in (["--seed", str(10**30)], ["--seed", str(2**63 - 1), "--runs", "2"], ["--runs", str(10**23)],
                 ["--runs", "0"]):
        assert main(["run", str(scenario), *argv, "--db", str(tmp_path / "w.db"), "--quiet"]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("--seed" in err or "--runs" in err), err
    assert not (tmp_path / "w.db").exists()


def test_absurd_sizes_and_duplicates_are_refused():
    refused(scenario_dict(n=MAX_AGENTS + 1), "agents")  # before: 10,000 agents ran
    refused(scenario_dict(n=2, agents=[{"name": "Alpha", "model": "m"}, {"name": "alpha", "model": "m"}]),
            "display names must be unique")
    refused(scenario_dict(n=2, conditions={"naming": ["X", "x"]}), "conditions.naming")
    refused(scenario_dict(n=2, conditions={"naming": ["X", " "]}), "conditions.naming")
    refused(scenario_dict(conditions={"temperature": True}), "conditions.temperature")  # before: taken as 1.0
    refused(scenario_dict(n=1, agents=[{"name": "A", "model": "m", "temperature": "hot"}]), "temperature")
    refused(scenario_dict(rounds=True), "rounds")
    assert parse_scenario(scenario_dict(n=2, conditions={"temperature": 1})).conditions.temperature == 1.0


def test_a_level_the_codebook_does_not_have_is_refused(tmp_path):
    path = tmp_path / "h.csv"
    flags = ["phatic", "meta", "lead", "arch", "agree", "comp"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "file", "round", *[f"human_{f}" for f in flags], "human_comp_level"])
        w.writerow(["A-run01|Agent-A|R1", "A/warroom-A-run01.json", "1", "", "", "", "", "", "true", "L9"])
    with pytest.raises(HumanCsvError, match=r"line 2: human_comp_level: 'L9' is not one of"):
        read_human_csv(path)  # before: stored as L9


async def test_a_reply_far_past_max_tokens_is_cut_and_says_so():
    huge = "word " * 2_000_000  # 10 MB: a provider that ignores max_tokens
    data = scenario_dict(n=1, rounds=0, max_tokens=100)
    engine = Engine(parse_scenario(data), FakeProvider(lambda call: huge), clock=VirtualClock())
    await engine.run()
    [reply] = [m for m in engine.transcript if m.agent is not None]
    assert len(reply.text) <= reply_cap(100) + 40 < len(huge)  # before: stored whole (8.7M characters)
    assert reply.text.endswith(f"[cut at {reply_cap(100):,} characters]")
    assert reply_cap(10**6) == HARD_REPLY_CAP


def test_an_imported_transcript_with_duplicate_nicknames_is_refused(tmp_path, capsys):
    from test_hostile_store import study_run, write

    data = study_run()
    data["environment"]["agentRanking"][1]["nickname"] = "agent-a"  # the same agent-name, another case
    path = write(tmp_path / "Z" / "warroom-Z-run01.json", data)
    assert main(["import", path, "--db", str(tmp_path / "w.db")]) == 2  # before: stored as it was
    err = capsys.readouterr().err
    assert "agentRanking[1].nickname" in err and err.count("\n") == 1
    assert not (tmp_path / "w.db").exists()
