"""Scenario files: every shipped one loads; bad ones fail in one line naming file and field."""

import pytest

from warroom_tui.cli import main
from warroom_tui.scenario import ScenarioError, load_scenario, scenarios_dir

SHIPPED = sorted(scenarios_dir().glob("*.toml"))
STUDY = ["A", "B", "C", "E", "F", "G", "H", "I", "J", "K1", "K2", "K3"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_load(path):
    assert load_scenario(path).roster()


def test_one_scenario_per_study_series_and_local_panels():
    names = {p.stem for p in SHIPPED}
    assert {f"study-{s}" for s in STUDY} <= names
    hetero, clones = load_scenario(scenarios_dir() / "local-hetero.toml"), load_scenario(
        scenarios_dir() / "local-clones.toml")
    assert {a.model for a in hetero.roster()} == {"local/smollm2", "local/gemma3-270m"}
    assert len({a.model for a in clones.roster()}) == 1 and clones.nicknames()[:2] == ["Alpha", "Bravo"]
    b = load_scenario(scenarios_dir() / "study-B.toml")
    assert len(b.roster()) == 8 and not b.conditions.crashes
    assert load_scenario(scenarios_dir() / "study-K3.toml").conditions.scaffolding == "empty"
    assert load_scenario(scenarios_dir() / "study-F.toml").rounds == 0


BAD = [
    ('name = "x"\nbrief = "b"\nrounds = -1\n[[agents]]\nname="a"\nmodel="m"\n', "rounds"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\n', "agents.0.model"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\ncolour="red"\n', "agents.0.colour"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\n[conditions]\nscaffolding="loud"\n',
     "conditions.scaffolding"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\n[[conditions.crashes]]\nagent="zed"\n',
     "conditions.crashes.agent"),
    ('name = "x"\nbrief = "b"\n', "agents"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\n[conditions]\nnaming=["one","two"]\n',
     "conditions.naming"),
    ('name = "x\nbrief', "invalid TOML"),
    ('name = "x"\nseries = "A\\tB"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\n', "series"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="Ana\\u202Egnp"\nmodel="m"\n', "agents.0.name"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\n[conditions]\nnaming=["A\\u200B"]\n',
     "conditions.naming"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="Al\\u00e9x"\nmodel="m"\n[[agents]]\nname="Ale\\u0301x"\nmodel="m"\n',
     "display names must be unique"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="Agent\u2011A"\nmodel="m"\n[[agents]]\nname="agent-a"\nmodel="m"\n',
     "display names must be unique"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\nfamily="Qw\\u202eEN"\n', "agents.0.family"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\n[conditions]\nnaming=["A|B"]\n', "conditions.naming"),
    ('name = "%s"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\n' % ("n" * 41), "series"),  # then the series
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\n[conditions]\nnaming=["%s"]\n' % ("N" * 81),
     "conditions.naming"),
    ('name = "x"\nbrief = "b"\n[[agents]]\nname="a"\nmodel="m"\n[role_prompts."gen\\nerator"]\nprompt="p"\n',
     "role_prompts"),
]


@pytest.mark.parametrize("text, field", BAD)
def test_bad_scenarios_name_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and field in msg and "\n" not in msg


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nbrief = "b"\nrounds = "many"\n[[agents]]\nname="a"\nmodel="m"\n')
    assert main(["run", str(path), "--db", str(tmp_path / "w.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.toml" in err and "rounds" in err and "Traceback" not in err


def test_missing_scenario_exits_2(tmp_path, capsys):
    assert main(["run", "no-such-scenario", "--db", str(tmp_path / "w.db")]) == 2
    assert "no-such-scenario" in capsys.readouterr().err
