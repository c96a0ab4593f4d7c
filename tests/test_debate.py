"""Assigned roles and debate: answers, scores, a simulated debate end to end, the finetuning export."""

import json
import re
import sqlite3
from collections import Counter

import pytest

from warroom_tui.analysis.debate import majority, score_rounds
from warroom_tui.cli import main
from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import VirtualClock
from warroom_tui.engine.debate import DebateSnapshot
from warroom_tui.engine.loop import Engine
from warroom_tui.engine.prompts import system_prompt
from warroom_tui.protocol import TaskSpec, extract_answer
from warroom_tui.providers.gateway import Gateway
from warroom_tui.runner import Batch
from warroom_tui.scenario import ScenarioError, load_scenario, parse_scenario
from warroom_tui.session import RunSession
from warroom_tui.store.db import Store
from warroom_tui.store.finetune import collect, write

from conftest import FakeProvider, events_of, scenario_dict

DEBATE = """
name = "sim-debate"
series = "debate"
mode = "debate"
rounds = 3
stagger = 1.0
replicates = 6
seed = 3
[[agents]]
name = "Sure"
model = "sim/analyst@1.0"
[[agents]]
name = "Unsure"
model = "sim/lurker@0"
[[agents]]
name = "Half"
model = "sim/supporter@0.5"
[[agents]]
name = "Critic"
model = "sim/skeptic@0.4"
[conditions]
roles = "generator-critic"
generators = 3
"""
ANSWER = re.compile(r"Answer: (\S+)$")


def test_answers_are_read_from_message_text():
    n = TaskSpec(question="7+5?", answer="12")
    assert extract_answer("7 plus 5 makes 12.\nAnswer: 12", n) == "12"
    assert extract_answer("Answer: 11. No wait.\nAnswer: 12.0", n) == "12"  # the last answer line
    assert extract_answer("I think the answer is 13", n) == "13"
    assert extract_answer("The answer is 7 + 5 = 12. Next, I'll", n) == "12"  # after the line's last =
    assert extract_answer("Answer: 12 (7 + 5)", n) == "12"
    assert extract_answer("Agent-A says 11 but it is 12", n) == "12"  # no answer line: the last number
    assert extract_answer("no idea", n) is None
    w = TaskSpec(question="capital of France?", answer="Paris", aliases=["Paname"])
    assert extract_answer("Answer: the city of Paris.", w) == "paris"
    assert extract_answer("answer: Paname", w) == "paris"
    assert extract_answer("Answer: Lyon, surely", w) == "lyon surely"
    assert extract_answer("Paris", w) is None  # a word task needs an answer line


def test_round_scores_vote_accuracy_distinct_and_conformity():
    assert majority(["3", "4", "4", None]) == ("4", False)
    assert majority(["5", "3", "3", "5"]) == ("5", True)  # a tie goes to the answer given first
    assert majority([None]) == (None, False)
    rounds = score_rounds([(0, 0, "12"), (0, 1, "11"), (0, 2, None), (1, 0, "12"), (1, 1, "12"), (1, 2, "12")],
                          "12")
    assert [(r.vote, r.correct, r.distinct) for r in rounds] == [("12", True, 2), ("12", True, 1)]
    assert rounds[0].accuracy == pytest.approx(1 / 3) and rounds[1].accuracy == 1.0  # no answer counts as wrong
    assert rounds[0].changed is None and rounds[1].changed == 0.5  # agent 2 had no answer before: not counted


def independent_scores(con, run_id):
    """Vote and accuracy per round straight from the stored text, with a parser of the test's own."""
    rows = con.execute("SELECT round, agent_idx, text FROM messages WHERE run_id=? AND agent_idx IS NOT NULL"
                       " AND is_error=0 ORDER BY seq", (run_id,)).fetchall()
    by_round = {}
    for r, a, text in rows:
        found = ANSWER.search(text)
        by_round.setdefault(r, {})[a] = found.group(1) if found else None
    return by_round


class Recording(Gateway):
    def __init__(self):
        super().__init__()
        self.calls = []

    def stream(self, call):
        self.calls.append(call)
        return super().stream(call)


async def test_simulated_debate_end_to_end(tmp_path):
    path = tmp_path / "debate.toml"
    path.write_text(DEBATE)
    scenario = load_scenario(path)
    gateway = Recording()
    async with Store.open(tmp_path / "d.db") as store:
        results = await Batch(scenario, store, gateway).run()
        assert [r.status for r in results] == ["done"] * 6 and all(r.messages == 16 for r in results)
        export = await collect(store, include_simulated=True)
        written = write(export, tmp_path / "ft")
    con = sqlite3.connect(tmp_path / "d.db")
    tasks = scenario.debate.task_list()
    kept = Counter()
    right = 0
    for run_id, replicate, meta in con.execute("SELECT id, replicate, meta FROM runs ORDER BY id").fetchall():
        task = tasks[replicate]  # replicate i debates task i
        assert json.loads(meta)["scenario"]["debate"]["task"] == replicate
        truth = task.answer.casefold()
        rounds = independent_scores(con, run_id)
        assert sorted(rounds) == [0, 1, 2, 3]
        assert all(rounds[r][0] == truth for r in rounds)  # propensity 1.0: always right
        assert rounds[0][1] != truth  # propensity 0: wrong on its own
        final = Counter(v for v in rounds[3].values() if v).most_common(1)[0][0]  # ties: the first given
        right += final == truth
        for r in rounds:
            assert sum(a == truth for a in rounds[r].values()) >= 1
        for a in (0, 1, 2):  # generators: first-round answers that match the final vote
            kept[("Sure", "Unsure", "Half")[a], "generator"] += rounds[0][a] == final
        for r in (1, 2, 3):  # the critic: moved to the final vote
            kept["Critic", "critic"] += rounds[r][3] == final and rounds[r - 1][3] != final
        # the engine's scorer agrees with the stored text
        from warroom_tui.engine.debate import scored
        async with Store.open(tmp_path / "d.db", read_only=True) as store:
            msgs = await store.messages(run_id)
        scores = scored(msgs, task)
        for s in scores:
            answers = rounds[s.round]
            assert dict(s.answers) == answers
            assert s.vote == Counter(v for v in answers.values() if v).most_common(1)[0][0]
            assert s.correct == (s.vote == truth)
            assert s.accuracy == pytest.approx(sum(v == truth for v in answers.values()) / len(answers))
            assert s.distinct == len(set(answers.values()))
    assert 0 < right < 6  # a wrong critic can carry the vote
    assert kept["Unsure", "generator"] == 0 and kept["Sure", "generator"] == right
    assert kept["Critic", "critic"] > 0  # the seed was chosen so that the critic moves at least once
    files = {(t.agent, t.role): (t, p) for t, p in written}
    for (agent, role), n in kept.items():
        tally, p = files[agent + " (sim)", role]  # simulated debates: their agents marked, never pooled
        lines = [json.loads(line) for line in p.read_text().splitlines()]
        assert len(tally.examples) == len(lines) == n
    # each example's prompt is what the agent was sent, its reply the stored message
    sent = {json.dumps(c.messages): c for c in gateway.calls}
    stored = {t for (t,) in con.execute("SELECT text FROM messages WHERE agent_idx IS NOT NULL")}
    for tally, p in written:
        for line in p.read_text().splitlines():
            msgs = json.loads(line)["messages"]
            assert json.dumps(msgs[:-1]) in sent and msgs[-1]["content"] in stored
    assert f"| Sure (sim) | generator | Sure%20%28sim%29.generator.jsonl | {right} | 6 | {right} |" in \
        (tmp_path / "ft" / "README.md").read_text()


def test_finetune_export_cli(tmp_path, capsys):
    path = tmp_path / "debate.toml"
    path.write_text(DEBATE.replace("replicates = 6", "replicates = 2"))
    db = str(tmp_path / "d.db")
    assert main(["export", "--format", "finetune", "--out", str(tmp_path / "x"), "--db", db]) == 2  # no database
    assert main(["run", str(path), "--db", db, "--quiet"]) == 0
    assert main(["export", "--format", "finetune", "--out", str(tmp_path / "ft"), "--db", db]) == 2
    assert "2 simulated left out" in capsys.readouterr().err
    assert main(["export", "--format", "finetune", "--out", str(tmp_path / "ft"), "--db", db,
                 "--include-simulated"]) == 0
    out = capsys.readouterr().out
    # simulated agents' files are theirs, marked, never pooled with a real model of that name, and the README says so
    assert "Sure (sim)" in out and not (tmp_path / "ft" / "Sure.generator.jsonl").exists()
    assert any(p.name.startswith("Sure") and "sim" in p.name for p in (tmp_path / "ft").iterdir())
    assert "2 finished debates (2 of them SIMULATED" in (tmp_path / "ft" / "README.md").read_text()
    assert "`none`" in (tmp_path / "ft" / "README.md").read_text()


async def test_roles_change_mid_run_as_a_condition_event():
    provider = FakeProvider()
    engine = Engine(parse_scenario(scenario_dict(3, rounds=2)), provider, clock=VirtualClock())
    changes = []

    async def on_event(event):
        if isinstance(event, ev.RoundDone) and event.round == 0:
            await engine.change("roles", "generator-critic")
        if isinstance(event, ev.ConditionChanged):
            changes.append(event)

    engine.subscribe(on_event)
    await engine.run()
    assert [(c.field, c.old, c.new, c.round) for c in changes] == [("roles", "none", "generator-critic", 1)]
    systems = [(c.context.round, c.context.me, c.messages[0]["content"]) for c in provider.calls]
    for r, me, system in systems:
        study = system_prompt("full", me, [n for n in ("Agent-A", "Agent-B", "Agent-C") if n != me])
        if r == 0:
            assert system == study  # roles = none: the study's prompt, unchanged
        else:
            role = "generator" if me in ("Agent-A", "Agent-B") else "critic"  # the first half, rounded up
            assert system.startswith(study + "\nYour role: " + role)
    assert {c.context.role for c in provider.calls if c.context.round > 0} == {"generator", "critic"}


async def test_the_session_publishes_live_debate_scores(tmp_path):
    scenario = parse_scenario({**_toml(DEBATE), "rounds": 1})
    async with Store.open(tmp_path / "w.db") as store:
        session = RunSession(scenario, store=store, gateway=Gateway(), virtual=True)
        seen = events_of(session, DebateSnapshot)
        await session.run()
        await session.close()
    assert len(seen) == 8 and seen[-1].answer == "12"
    assert [r.round for r in seen[-1].rounds] == [0, 1]
    assert seen[-1].rounds[0].answer_of(0) == "12"


def _toml(text):
    import tomllib
    return tomllib.loads(text)




def test_bad_roles_and_tasks_name_the_field_exit_2(tmp_path, capsys):
    cases = [
        ("conditions]\nroles = [\"generator\", \"critic\"]", "conditions.roles: a list needs 4 roles, got 2"),
        ("conditions]\nroles = [\"generator\", \"critic\", \"boss\", \"none\"]",
         "conditions.roles: no role called 'boss'"),
        ("conditions]\nroles = \"everyone\"", "conditions.roles"),
        ("conditions]\nroles = \"generator-critic\"\ngenerators = 9", "conditions.generators"),
        ("debate]\ntasks = \"no-such-set\"", "debate.tasks: no-such-set: no such task file"),
        ("debate]\nsummary = \"agent\"", "debate.summariser: summary = \"agent\" needs the agent who writes it"),
        ("debate]\nsummary = \"agent\"\nsummariser = \"Nobody\"", "debate.summariser"),
        ("role_prompts.judge]\nkind = \"boss\"\nprompt = \"x\"", "role_prompts.judge.kind"),
    ]
    base = DEBATE.split("[conditions]")[0]
    for i, (table, field) in enumerate(cases):
        path = tmp_path / f"bad{i}.toml"
        path.write_text(base + "[" + table + "\n")
        db = tmp_path / f"bad{i}.db"
        assert main(["run", str(path), "--db", str(db), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and field in err and len(err.strip().splitlines()) == 1
        assert not db.exists()  # nothing stored
    tasks = tmp_path / "mine.toml"
    tasks.write_text('[[tasks]]\nquestion = "2+2?"\n')
    path = tmp_path / "own.toml"
    path.write_text(base + '[debate]\ntasks = "mine.toml"\n')  # relative to the scenario's folder
    with pytest.raises(ScenarioError, match=r"mine.toml: tasks.0.answer: Field required"):
        load_scenario(path)
    tasks.write_text('[[tasks]]\nquestion = "2+2?"\nanswer = "4"\n')
    assert load_scenario(path).debate.task_list()[0].answer == "4"


PANEL = """
name = "{name}"
series = "P"
brief = "@all Plan a food delivery app."
rounds = 4
stagger = 1.0
replicates = 3
seed = 1
[[agents]]
name = "One"
model = "sim/coordinator"
[[agents]]
name = "Two"
model = "sim/coordinator"
[[agents]]
name = "Three"
model = "sim/coordinator"
[[agents]]
name = "Four"
model = "sim/coordinator"
[conditions]
roles = "{roles}"
"""


def test_report_compares_roles_none_with_assigned_roles(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    for name, roles in (("clones-none", "none"), ("clones-gc", "generator-critic")):
        path = tmp_path / f"{name}.toml"
        path.write_text(PANEL.format(name=name, roles=roles))
        assert main(["run", str(path), "--db", db, "--quiet"]) == 0
    assert main(["judge", "--db", db]) == 0
    capsys.readouterr()
    assert main(["report", "--db", db, "--include-simulated", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    [row] = rep["roles"]["comparisons"]
    assert row["question"] == "P (sim): roles none vs generator-critic"
    assert (row["n1"], row["n2"]) == (3, 3) and row["p"] is not None
    cos = {r["series"]: r for r in rep["roles"]["cosine"]}
    assert cos["P (sim) · roles=none"]["runs"] == 3
    assert main(["report", "--db", db, "--include-simulated"]) == 0
    assert "roles = none vs assigned roles" in capsys.readouterr().out


def test_runs_whose_roles_changed_are_left_out_of_the_comparison():
    from warroom_tui.analysis.roles import roles_comparison
    from warroom_tui.analysis.stats import RunData

    def run(i, flags):
        return RunData(run_id=i, series="S", crashed=False, agents={0: "a", 1: "b"},
                       labels={0: [{"x": True, "y": False}], 1: [flags]})

    runs = [run(1, {"x": True, "y": False}), run(2, {"x": False, "y": True}), run(3, {"x": True, "y": True})]
    out = roles_comparison(runs, {1: "none", 2: "generator-critic", 3: "mixed"}, ["x", "y"])
    assert out["mixed"] == 1
    assert {r["series"]: r["mean"] for r in out["cosine"]} == {"S · roles=none": 1.0, "S · roles=generator-critic": 0.0}
    assert roles_comparison(runs[:1], {1: "none"}, ["x", "y"]) == {}  # nothing assigned: no comparison


async def test_a_summariser_agent_writes_the_summary_between_rounds(tmp_path):
    text = DEBATE.replace("replicates = 6", "replicates = 2") + '[debate]\nsummary = "agent"\nsummariser = "Critic"\n'
    path = tmp_path / "s.toml"
    path.write_text(text)
    gateway = Recording()
    async with Store.open(tmp_path / "s.db") as store:
        await Batch(load_scenario(path), store, gateway).run()
        export = await collect(store, include_simulated=True)
        run = (await store.runs())[0]
        msgs = await store.messages(run.id)
    summaries = [m for m in msgs if m.sender == "summary"]
    assert [(m.round, m.agent, m.nickname) for m in summaries] == [(1, None, "Agent-D"), (2, None, "Agent-D"),
                                                                   (3, None, "Agent-D")]
    for s in summaries:  # every answer of the round before, under its agent's name
        before = {m.nickname: ANSWER.search(m.text).group(1) for m in msgs if m.agent is not None
                  and m.round == s.round - 1}
        assert s.text == " ".join(f"{n}: {a}." for n, a in sorted(before.items()))
        later = [c for c in gateway.calls if c.context.round == s.round and not c.context.debate.summarise
                 and c.context.debate.task.endswith(":0")]
        assert later and all(s.text in c.messages[-1]["content"] for c in later)
    sent = {json.dumps(c.messages) for c in gateway.calls}
    for tally in export.files.values():
        for e in tally.examples:
            assert json.dumps(e["messages"][:-1]) in sent


def test_a_summary_survives_the_study_json_round_trip(tmp_path):
    """A summary is nobody's answer: the study's JSON keeps it as a system line, and imports again."""
    path = tmp_path / "s.toml"
    path.write_text(DEBATE.replace("replicates = 6", "replicates = 1")
                    + '[debate]\nsummary = "agent"\nsummariser = "Critic"\n')
    db = str(tmp_path / "s.db")
    assert main(["run", str(path), "--db", db, "--quiet"]) == 0
    assert main(["export", "--out", str(tmp_path / "json"), "--db", db]) == 0
    [exported] = list((tmp_path / "json").rglob("*.json"))
    lines = [m for m in json.loads(exported.read_text())["conversation"]["messages"] if m["sender"] == "system"]
    assert sum(m["system"].startswith("Summary by Agent-D: ") for m in lines) == 3
    assert main(["import", str(tmp_path / "json"), "--db", str(tmp_path / "again.db")]) == 0


async def test_a_crashed_summariser_leaves_the_plain_concatenation():
    text = DEBATE + '[debate]\nsummary = "agent"\nsummariser = "Critic"\n[[conditions.crashes]]\nagent = "Critic"\n'
    scenario = parse_scenario(_toml(text))
    gateway = Recording()
    engine = Engine(scenario, gateway, clock=VirtualClock())
    await engine.run()
    assert not [m for m in engine.transcript if m.sender == "summary"]
    r1 = [c for c in gateway.calls if c.context.round == 1]
    assert r1 and all("[Agent-A]:" in c.messages[-1]["content"] or c.context.me == "Agent-A" for c in r1)


async def test_a_resumed_debate_scores_its_stored_rounds_too(tmp_path):
    scenario = parse_scenario(_toml(DEBATE))
    async with Store.open(tmp_path / "r.db") as store:
        first = RunSession(scenario, store=store, gateway=Gateway(), virtual=True)

        async def stop_after_round_1(event):
            if isinstance(event, ev.RoundDone) and event.round == 1:
                first.interrupt()

        first.subscribe(stop_after_round_1)
        await first.run()
        await first.close()
        [run] = await store.runs()
        assert run.status == "interrupted"
        again = RunSession(scenario, store=store, gateway=Gateway(), virtual=True, resume=run)
        snaps = events_of(again, DebateSnapshot)
        await again.run()
        await again.close()
        msgs = await store.messages(run.id)
    from warroom_tui.engine.debate import scored
    task = scenario.debate.task_list()[0]
    assert [r.round for r in snaps[-1].rounds] == [0, 1, 2, 3]
    assert list(snaps[-1].rounds) == scored(msgs, task)  # the same as scoring the whole stored run
