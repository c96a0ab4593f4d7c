"""The study's transcript JSON: import all 208 runs, export them back unchanged."""

import json

import pytest

from warroom_tui.cli import main
from warroom_tui.store.db import Store
from warroom_tui.store.study_json import (
    StudyFormatError, export_run, import_study_run, load_study_file, parse_study_run,
)

from conftest import TRANSCRIPTS, needs_data


@needs_data
async def test_all_runs_import_counts_match_and_export_round_trips(tmp_path):
    files = sorted(TRANSCRIPTS.glob("*/*.json"))
    assert len(files) == 208
    async with Store.open(tmp_path / "w.db") as store:
        for path in files:
            source, data = load_study_file(path)
            assert await import_study_run(store, data, source) is not None
        counts = await store.counts()
        expected = {d.name: len(list(d.glob("*.json"))) for d in TRANSCRIPTS.iterdir() if d.is_dir()}
        assert counts == expected
        again = load_study_file(files[0])
        assert await import_study_run(store, again[1], again[0]) is None  # idempotent
        runs = {r.source_file: r for r in await store.runs()}
        for path in files:
            original = json.loads(path.read_text(encoding="utf-8"))
            exported = await export_run(store, runs[f"{path.parent.name}/{path.name}"])
            assert exported == original, path.name
        errors = await store.db.execute_fetchall(
            "SELECT COUNT(*), SUM(error_kind='permanent') FROM messages WHERE is_error=1")
        assert errors[0][0] > 300 and errors[0][1] > 0  # errors kept as errors


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("condition"), "condition"),
    (lambda d: d["condition"].update(series=3), "condition.series"),
    (lambda d: d["environment"]["agentRanking"][0].pop("nickname"), "environment.agentRanking[0].nickname"),
    (lambda d: d["condition"].update(series="A\nB"), "condition.series"),  # a table row in two
    (lambda d: d["condition"].update(series="A\u200b"), "condition.series"),  # looks like A
    (lambda d: d["condition"].update(series="A "), "condition.series"),
    (lambda d: d["environment"]["agentRanking"][0].update(nickname="Ana\u202egnp.exe"),
     "environment.agentRanking[0].nickname"),  # a bidi override reverses what follows
    (lambda d: d["environment"]["agentRanking"][0].update(model="m\tx"), "environment.agentRanking[0].model"),
    (lambda d: d["condition"].update(series="S" * 41), "condition.series"),  # no file name could be made of it
    (lambda d: d["environment"]["agentRanking"][0].update(nickname="Agent|A"),  # a coded CSV's id split wrong
     "environment.agentRanking[0].nickname"),
    (lambda d: d["condition"].update(series="Z (sim)"), "condition.series"),  # pooled with simulated Z's runs
    (lambda d: d["environment"]["agentRanking"].append({"key": "b", "name": "B", "nickname": "Agent-B", "model": "m"})
     or d["conversation"]["messages"].append({"sender": "b", "text": "x", "round": 0, "agent_nickname": "agent-a"}),
     "conversation.messages[1].agent_nickname"),  # another agent's nickname: its human labels went astray
    (lambda d: d["environment"]["agentRanking"][0].update(nickname="Agent-A\u034f"),  # drawn as nothing
     "environment.agentRanking[0].nickname"),
    (lambda d: d["environment"]["agentRanking"][0].update(family="Lla\nma"), "environment.agentRanking[0].family"),
    (lambda d: d["environment"]["agentRanking"].append(  # the same name composed and decomposed
        {"key": "b", "name": "B", "nickname": "Agent-A\u0301", "model": "m"}) or
     d["environment"]["agentRanking"][0].update(nickname="Agent-\u00c1"), "environment.agentRanking[1].nickname"),
    (lambda d: d["environment"]["agentRanking"].append(  # a non-breaking hyphen (U+2011) looks like '-'
        {"key": "b", "name": "B", "nickname": "Agent\u2011A", "model": "m"}), "environment.agentRanking[1].nickname"),
    (lambda d: d["environment"]["agentRanking"].append(  # two spaces inside look like one
        {"key": "b", "name": "B", "nickname": "Agent  B", "model": "m"}) or
     d["environment"]["agentRanking"][0].update(nickname="Agent B"), "environment.agentRanking[1].nickname"),
    (lambda d: d["conversation"]["messages"].append({"sender": "a", "text": "x", "round": 0,
                                                     "agent_nickname": "Agent-A\nAgent-Z"}),
     "conversation.messages[1].agent_nickname"),  # a forged speaker line in the replay
    (lambda d: d["conversation"]["messages"].append({"sender": "ghost", "text": "x", "round": 0}),
     "conversation.messages[1].sender"),
    (lambda d: d["conversation"]["messages"].append({"sender": "a", "text": "x", "round": "one"}),
     "conversation.messages[1].round"),
])
def test_malformed_runs_name_the_field(mutate, field):
    data = {"condition": {"series": "A"}, "environment": {"agentRanking": [
        {"key": "a", "name": "A", "nickname": "Agent-A", "model": "m"}]},
        "conversation": {"messages": [{"sender": "user", "text": "brief"}]}}
    parse_study_run(json.loads(json.dumps(data)), "f.json")
    mutate(data)
    with pytest.raises(StudyFormatError) as info:
        parse_study_run(data, "f.json")
    assert str(info.value).startswith(f"f.json: {field}:")


def test_cli_import_of_a_bad_file_exits_2_and_stores_nothing(tmp_path, capsys):
    good = tmp_path / "in" / "good.json"
    good.parent.mkdir()
    good.write_text(json.dumps({"condition": {"series": "Z"}, "environment": {"agentRanking": [
        {"key": "a", "name": "A", "nickname": "Agent-A", "model": "m"}]},
        "conversation": {"messages": [{"sender": "user", "text": "b"}]}}))
    (tmp_path / "in" / "bad.json").write_text("{not json")
    db = tmp_path / "w.db"
    assert main(["import", str(tmp_path / "in"), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.json" in err and "invalid JSON" in err
    assert main(["import", str(good), "--db", str(db)]) == 0
    assert main(["export", "--out", str(tmp_path / "out"), "--db", str(db)]) == 0
    assert json.loads((tmp_path / "out" / "Z" / "good.json").read_text())["condition"] == {"series": "Z"}
