"""Agent tags (family, base, recipe) and who each stored message replies to."""

from __future__ import annotations

import json

import pytest

from warroom_tui.engine.transcript import Message
from warroom_tui.judge.partners import measure_partners, partners_of
from warroom_tui.scenario import ScenarioError, parse_scenario
from warroom_tui.store.db import Store
from tests.conftest import scenario_dict

ALIASES = (("Agent-A", "Alpha"), ("Agent-B", "Bravo"), ("Agent-C", "Charlie"))


def msg(seq: int, agent: int | None, text: str, seen_upto: int = -1, error: bool = False) -> Message:
    return Message(seq=seq, sender=f"agent{(agent or 0) + 1}" if agent is not None else "user", text=text,
                   agent=agent, seen_upto=seen_upto, is_error=error)


def test_tags_are_validated_and_stored(tmp_path):
    data = scenario_dict(2)
    data["agents"][0].update(family="Llama", base="Llama-3.1-8B", recipe="sft")
    sc = parse_scenario(data)
    assert sc.roster()[0].base == "Llama-3.1-8B"
    data["agents"][1]["recipe"] = "dpo\x1b[31m"
    with pytest.raises(ScenarioError, match=r"agents\.1\.recipe"):
        parse_scenario(data, source="x.toml")


def test_partner_is_the_named_agent_else_the_last_seen_peer():
    t = [msg(0, None, "brief"), msg(1, 0, "first", 0), msg(2, 1, "second", 1), msg(3, 0, "error", 2, error=True)]
    # names nobody: the last message from another agent it had seen (errors are never partners)
    assert partners_of(msg(4, 2, "plain reply", 3), t, ALIASES) == ((1,), "seen")
    # had seen only up to seq 1: its partner is agent 0
    assert partners_of(msg(4, 2, "plain reply", 1), t, ALIASES) == ((0,), "seen")
    # names Agent-A (or @-mentions it): that is the partner, not the last one seen
    assert partners_of(msg(4, 2, "@Agent-A can you take it?", 3), t, ALIASES) == ((0,), "named")
    # names everyone else: a broadcast, so the last seen
    assert partners_of(msg(4, 2, "Agent-A and Agent-B, thanks", 3), t, ALIASES) == ((1,), "seen")
    # its own name is not a partner; nobody seen yet: none
    assert partners_of(msg(1, 2, "I am Agent-C", 0), t[:1], ALIASES) == ((), "")



def test_an_agent_named_before_it_said_anything_seen_is_no_partner():
    """A crashed agent (its every message an error) named in a task list or an @-list was counted as the
    partner: on the study's corpus 1,396 messages had the crashed DeepSeek R1 as theirs, and the largest partner
    shift of the report was its recipe's. Nothing of it reached the speaker: such a name is passed over."""
    t = [msg(0, None, "brief"), msg(1, 2, "error", 0, error=True), msg(2, 1, "second", 1), msg(3, 0, "third", 2)]
    # names only Agent-C, which has said nothing but errors: the last one seen instead
    assert partners_of(msg(4, 0, "@Agent-C please take the backend", 3), t, ALIASES) == ((1,), "seen")
    # names Agent-B (heard) and Agent-C (never heard), in a run of four: Agent-B alone
    four = (*ALIASES, ("Agent-D", "Delta"))
    assert partners_of(msg(4, 0, "Bravo and Charlie, thanks", 3), t, four) == ((1,), "named")
    # Agent-B spoke, but after what the speaker had seen: not heard yet either
    assert partners_of(msg(4, 0, "@Agent-B over to you", 1), t, ALIASES) == ((), "")
    # once Agent-C says something seen, it is a partner when named
    heard = [*t, msg(4, 2, "back online", 3)]
    assert partners_of(msg(5, 0, "@Agent-C welcome back", 4), heard, ALIASES) == ((2,), "named")

async def test_partners_at_commit_and_import_and_backfill(tmp_path):
    from warroom_tui.providers.gateway import Gateway
    from warroom_tui.runner import Batch
    from warroom_tui.scenario import load_scenario, scenarios_dir
    from warroom_tui.store.recorder import backfill_partners
    from warroom_tui.store.study_json import export_run, import_study_runs, load_study_file

    sc = load_scenario(scenarios_dir() / "sim-demo.toml").model_copy(update={"rounds": 2})
    db = tmp_path / "p.db"
    async with Store.open(db) as store:
        await Batch(sc, store, Gateway(), runs=1).run()
        run = (await store.runs())[0]
        msgs = [m for m in await store.messages(run.id) if m.agent is not None]
        assert all(m.partners is not None for m in msgs)
        assert all(m.partner_how in ("named", "seen") for m in msgs if not m.is_error and m.round)
        # an export imported elsewhere gets its partners at import; a study transcript records no seen_upto,
        # so everything earlier counts as seen (as for the copy share)
        from dataclasses import replace
        from warroom_tui.judge.roster import run_aliases

        whole = [replace(m, seen_upto=-1) for m in await store.messages(run.id)]
        measure_partners(whole, run_aliases(await store.agents(run.id), whole))
        expected = [(m.partners, m.partner_how) for m in whole if m.agent is not None]
        assert [p for p in expected if p[1] == "named"] == [(m.partners, m.partner_how) for m in msgs
                                                          if m.partner_how == "named"]
        out = tmp_path / "run.json"
        out.write_text(json.dumps(await export_run(store, run)))
    async with Store.open(tmp_path / "q.db") as other:
        await import_study_runs(other, [load_study_file(out)])
        imported = [m for m in await other.messages((await other.runs())[0].id) if m.agent is not None]
        assert [(m.partners, m.partner_how) for m in imported] == expected
        assert [a.recipe for a in await other.agents(1)] == [a.recipe for a in sc.roster()]
        # rows stored before partners existed are filled in
        await other.db.execute("UPDATE messages SET partners=NULL")
        assert await backfill_partners(other) == 1
        again = [m for m in await other.messages(1) if m.agent is not None]
        assert [(m.partners, m.partner_how) for m in again] == expected


def test_measure_partners_whole_transcript():
    t = [msg(0, None, "brief"), msg(1, 0, "hi"), msg(2, 1, "Charlie, please"), msg(3, 2, "ok"),
         msg(4, 1, "Charlie, thanks")]
    measure_partners(t, ALIASES)
    # Charlie named before it had said anything: the last one heard; named once it has spoken
    assert [m.partners for m in t] == [None, (), (0,), (1,), (2,)]


def test_study_agents_get_the_shipped_scenarios_tags():
    from warroom_tui.scenario import shipped_tags
    from warroom_tui.store.study_json import _tags

    known = shipped_tags()
    assert known["llama-3.3-70b-versatile"] == known["groq/llama-3.3-70b-versatile"]
    assert known["openai/gpt-oss-20b"]["family"] == "GPT-OSS"
    # a file's own tags (a warroom export) win; the study's files have none
    assert _tags({"recipe": "sft"}, known["openai/gpt-oss-20b"]) == {"family": "", "base": "", "recipe": "sft"}
    assert _tags({}, known["openai/gpt-oss-20b"])["recipe"] == known["openai/gpt-oss-20b"]["recipe"]


async def test_imported_study_runs_are_tagged(tmp_path):
    from tests.conftest import TRANSCRIPTS

    if not TRANSCRIPTS.is_dir():
        pytest.skip("../shared/warroom-data is not here")
    from warroom_tui.store.study_json import import_study_runs, load_study_file, study_files

    path = study_files([TRANSCRIPTS])[0]
    async with Store.open(tmp_path / "s.db") as store:
        await import_study_runs(store, [load_study_file(path)])
        agents = await store.agents((await store.runs())[0].id)
        assert all(a.family and a.recipe for a in agents), agents
        assert not await store.has_untagged_imports()
        # a database imported before agents had tags is filled in by `warroom judge`
        await store.db.execute("UPDATE agents SET family='', recipe=''")
        assert await store.has_untagged_imports()
        from warroom_tui.scenario import shipped_tags

        assert await store.fill_imported_tags(shipped_tags()) == len(agents)
        assert all(a.family for a in await store.agents(1))
        assert not await store.has_untagged_imports()


async def test_judge_fills_in_the_partners_and_tags_an_older_import_lacks(tmp_path):
    import asyncio

    from tests.conftest import TRANSCRIPTS

    if not TRANSCRIPTS.is_dir():
        pytest.skip("../shared/warroom-data is not here")
    from warroom_tui.cli import main
    from warroom_tui.store.study_json import import_study_runs, load_study_file, study_files

    db = tmp_path / "s.db"
    async with Store.open(db) as store:
        await import_study_runs(store, [load_study_file(study_files([TRANSCRIPTS])[0])])
        want = [(a.family, a.recipe) for a in await store.agents(1)]
        partners = [(m.partners, m.partner_how) for m in await store.messages(1)]
        await store.db.execute("UPDATE agents SET family='', recipe=''")
        await store.db.execute("UPDATE messages SET partners=NULL")
    assert await asyncio.to_thread(main, ["judge", "--db", str(db)]) == 0  # main runs its own event loop
    async with Store.open(db) as store:
        assert [(a.family, a.recipe) for a in await store.agents(1)] == want
        assert [(m.partners, m.partner_how) for m in await store.messages(1)] == partners
        assert not await store.runs_without_partners() and not await store.has_untagged_imports()



async def test_a_version_10_database_computes_its_named_partners_again(tmp_path):
    """Partners found by name were stored by the rule that counted an agent never heard: upgraded, they wait to be
    computed again (the report says how many), and `warroom judge` fills them in by the present rule."""
    import asyncio
    import sqlite3

    from warroom_tui.cli import main
    from warroom_tui.store.db import MIGRATIONS

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript("".join(MIGRATIONS[:10]) + "PRAGMA user_version=10;")
    con.execute("INSERT INTO runs (id, uid, source, status) VALUES (1, 'r', 'live', 'done')")
    con.executemany("INSERT INTO agents (run_id, idx, key, name, nickname, model) VALUES (1,?,?,?,?,'m')",
                    [(i, k, n, k) for i, (k, n) in enumerate([("Agent-A", "Alpha"), ("Agent-B", "Bravo"),
                                                               ("Agent-C", "Charlie")])])
    con.executemany("INSERT INTO messages (run_id, seq, round, agent_idx, sender, text, is_error, partners,"
                    " partner_how) VALUES (1,?,0,?,?,?,?,?,?)",
                    [(0, None, "user", "brief", 0, None, ""), (1, 2, "agent3", "error", 1, "", ""),
                     (2, 1, "agent2", "hello", 0, "", ""), (3, 0, "agent1", "@Agent-C take it", 0, "2", "named")])
    con.commit()
    con.close()
    async with Store.open(path) as store:
        assert await store.runs_without_partners() == [1]
        assert [(m.partners, m.partner_how) for m in await store.messages(1) if m.agent is not None][-1] == (None, "")
    assert await asyncio.to_thread(main, ["judge", "--db", str(path)]) == 0
    async with Store.open(path) as store:
        assert [(m.partners, m.partner_how) for m in await store.messages(1)][-1] == ((1,), "seen")
