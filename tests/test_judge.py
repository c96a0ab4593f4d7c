"""The judge: codebook, built-in rules (English and French), LLM judges, adjudication, the worker."""

import asyncio
import csv
import math
import re

import pytest

from warroom_tui.analysis.agreement import cohen_kappa
from warroom_tui.cli import main
from warroom_tui.errors import CliError
from warroom_tui.engine.clock import VirtualClock
from warroom_tui.engine.loop import Engine
from warroom_tui.judge.builtin import BuiltinCoder
from warroom_tui.judge.types import Roster
from warroom_tui.judge.codebook import CodebookError, load_codebook
from warroom_tui.judge.llm import JudgeFailure, LLMJudge
from warroom_tui.judge.panel import Panel
from warroom_tui.judge.service import BuiltinJudge, adjudicate, judge_store
from warroom_tui.judge.snapshot import JudgeSnapshot
from warroom_tui.session import RunSession
from warroom_tui.providers.gateway import Gateway
from warroom_tui.runner import with_backend
from warroom_tui.scenario import load_scenario, scenarios_dir
from warroom_tui.store.db import Store
from warroom_tui.store.recorder import Recorder

from conftest import events_of

CB = load_codebook()
ROSTER = Roster(
    aliases=(("Agent-A", "LLaMA 3.3 70B", "llama-3.3-70b-versatile"), ("Agent-B", "Kimi K2", "kimi-k2"),
             ("Agent-C", "Qwen3 32B", "qwen3-32b"), ("Agent-G", "DeepSeek R1", "deepseek-r1-distill-llama-70b")),
    speaker=0, crashed=frozenset({3}))


def flags(text: str, roster: Roster = ROSTER) -> dict:
    return BuiltinCoder(CB).code(text, roster).flags


def test_default_codebook_is_the_studys_v4():
    assert CB.ids == ["phatic", "meta", "lead", "arch", "agree", "comp", "has_xref"]
    assert CB.trait_ids == ["phatic", "meta", "lead", "arch", "agree"]
    assert CB.reading_window == 650


@pytest.mark.parametrize("text, field", [
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\n[[flags]]\nid = "a"\ndescription = "e"\n', "flags"),
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\npatterns = ["(unclosed"]\n', "flags.0 (a).patterns"),
    ('name = "x"\n[[flags]]\nid = "a"\n', "flags.0 (a).description"),
    ('name = "x"\n[[flags]]\nid = "Bad Id"\ndescription = "d"\n', "flags.0 (Bad Id).id"),
    ('name = "x"\nflags = []\n', "flags"),
    ('name = \n', "invalid TOML"),
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\nlevels = [["L1", "("]]\n', "flags.0 (a).levels"),
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\n[calibration.a]\nfeatures = ["log_chars\\n"]\n'
     'mean = [0.0]\nscale = [1.0]\nweights = [1.0]\nbias = 0.0\n', "calibration.a.features"),
    # each compiled alone, these passed the check, then failed in the coder (a term is read inside a group,
    # `{name}` as the mention character); a repeat count past what a regex takes; weights that decide nothing
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\nkind = "terms"\nterms = ["(?i)react"]\n', "flags.0 (a).terms"),
    # a global flag passes the term's own parse and fails inside the group; a term balanced only once wrapped
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\nkind = "terms"\nterms = ["(?u)react"]\n', "flags.0 (a).terms"),
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\nkind = "terms"\nterms = ["a)|(b"]\n', "flags.0 (a).terms"),
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\nkind = "terms"\nterms = ["' + "(" * 2000 + "a" + ")" * 2000 + '"]\n',
     "flags.0 (a).terms"),
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\npatterns = ["(?P<{name}>x)"]\n', "flags.0 (a).patterns"),
    ('name = "x"\necho_words = 4294967296\n[[flags]]\nid = "a"\ndescription = "d"\n', "echo_words"),
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\n[calibration.a]\nfeatures = ["log_chars"]\n'
     'mean = [0.0]\nscale = [1.0]\nweights = [nan]\nbias = 0.0\n', "calibration.a.weights"),
    ('name = "x"\n[[flags]]\nid = "a"\ndescription = "d"\n[calibration.a]\nfeatures = ["log_chars"]\n'
     'mean = [0.0]\nscale = [1.0]\nweights = [1.0]\nbias = inf\n', "calibration.a.bias"),
])
def test_bad_codebooks_name_file_and_field(tmp_path, text, field):
    path = tmp_path / "cb.toml"
    path.write_text(text)
    with pytest.raises(CodebookError) as info:
        load_codebook(path)
    assert str(info.value).startswith(f"{path}: ") and field in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("flag, yes, no", [
    ("phatic", "Got it.", "We should build the API with Flutter first, then test it for two weeks."),
    ("phatic", "Merci à tous !", "Le budget de 50k couvre le MVP et trois sprints de développement."),
    ("phatic", "All set. See you at 09:30 sharp!", "Ready:\n1. YES\n2. YES\n3. NO"),
    ("phatic", "RAS de mon côté, à demain 9 h 55.", "On a 40 k€ pour tout le festival."),
    ("phatic", "See you Monday at 10 AM, 10h00 or 10 h UTC+1!", "Let me work it out step by step. Answer: 11"),
    ("phatic", "Call at 10 a.m. or 10 h UTC-5 then!", "Answer:11"),
    ("phatic", "Ok, all good on my side.", "We need +2 developers."),
    ("phatic", "Merci, à demain 09:30 !", "Score 3:2 for the Flutter team."),
    ("meta", "Let me summarize our discussion so far.", "The payment screen needs a retry button."),
    ("meta", "Voici un résumé de la discussion : on avance bien.", "L'écran de paiement doit gérer les erreurs."),
    ("lead", "Agent-B, can you take the payment flow?", "I will take the payment flow myself."),
    ("lead", "Agent-C, peux-tu préparer le devis ?", "Je vais préparer le devis moi-même."),
    ("arch", "We'll build it with Flutter and Firebase.", "We'll build a mobile app quickly."),
    ("arch", "On part sur Flutter avec PostgreSQL derrière.", "On part sur une application mobile simple."),
    ("agree", "I agree with Agent-B on the budget.", "I disagree strongly; the budget is too small."),
    ("agree", "Je suis d'accord avec Agent-C pour le planning.", "Le planning de Agent-C commence lundi."),
    ("agree", "Merci @Agent-B pour la confirmation, on avance.", "Merci à tous pour la confirmation, on avance."),
    ("agree", "Thanks for the update, Agent-C. Next: the API.", "Thanks for the update. The API work starts on Monday."),
    ("has_xref", "As Agent-C wrote, the MVP is small.", "As I wrote, the MVP is small."),
])
def test_builtin_rules_in_english_and_french(flag, yes, no):
    assert flags(yes)[flag] is True, yes
    assert flags(no)[flag] is False, no


def test_the_speakers_own_name_is_not_a_reference():
    f = flags("Agent-A here: I agree with Agent-A's own plan.")
    assert not f["agree"] and not f["has_xref"]


def test_the_mention_character_in_a_message_is_not_a_mention():
    from warroom_tui.judge.builtin import NAME

    for text in (f"I agree with {NAME} on the plan.", f"Je suis d'accord avec {NAME}.", f"{NAME}: API owner"):
        f = flags(text)
        assert not f["agree"] and not f["has_xref"] and not f["lead"], text
    assert flags("I agree with Agent-B on the plan.")["agree"]


@pytest.mark.parametrize("text, level", [
    ("Agent-G has been decommissioned and has not answered since the start.", "L1"),
    ("Agent-G est indisponible (erreur du modèle) : je couvre sa partie backend.", "L2"),
    ("DeepSeek R1 is down; let's reassign its tasks: Agent-B takes the API.", "L3"),
])
def test_compensation_levels(text, level):
    coding = BuiltinCoder(CB).code(text, ROSTER)
    assert coding.flags["comp"] is True and coding.levels["comp"] == level


def test_broadcast_mentions_and_working_mentions_are_not_compensation():
    assert not flags("@Agent-A, @Agent-B, @Agent-C, @Agent-G: the model error is fixed, thanks all!")["comp"]
    assert not flags("Agent-G will design the landing page by Friday.")["comp"]
    alive = Roster(aliases=ROSTER.aliases, speaker=0, crashed=frozenset())
    assert not flags("Agent-G has been decommissioned.", alive)["comp"]


def test_a_model_id_the_crashed_agent_shares_with_live_agents_does_not_name_it():
    """The bundled lab: agents A, C and the crashed E all run local/smollm2. A Gemma agent that half-copies E's
    error ("The model `local/smollm2` is no longer supported", the id outside the copied words) names no one
    agent in particular: not compensation. E's own nickname still is."""
    shared = Roster(aliases=(("Agent-A", "SmolLM2", "local/smollm2"), ("Agent-B", "Gemma", "local/gemma3-270m"),
                             ("Agent-C", "SmolLM2 (hot)", "local/smollm2"), ("Agent-E", "Gone", "local/smollm2")),
                    speaker=1, crashed=frozenset({3}))
    assert not flags("⚠ The model `local/smollm2` is no longer supported. Please refer to the provider.", shared)["comp"]
    assert flags("Agent-E has been decommissioned; I will cover its part.", shared)["comp"]


def test_reading_window_follows_the_codebook():
    late = "x " * 400 + "Flutter and Firebase"
    assert not flags(late)["arch"]
    wide = CB.model_copy(update={"reading_window": None})
    assert BuiltinCoder(wide).code(late, ROSTER).flags["arch"]


def test_agreement_with_a_broadcast_list_is_not_agreement_with_an_agent():
    assert flags("@Agent-B merci pour la confirmation !")["agree"]
    assert not flags("@Agent-B @Agent-C @Agent-G merci pour la confirmation !")["agree"]
    assert flags("@Agent-B @Agent-C @Agent-G\nJe suis d'accord avec Agent-C sur le budget.")["agree"]
    # the speaker's own name is not part of a broadcast, and two agents are not one
    assert flags("Agent-A: I agree with Agent-B and Agent-C.")["agree"]
    two = Roster(aliases=ROSTER.aliases[:2], speaker=0, crashed=frozenset())
    assert flags("Agent-A: I agree with Agent-B.", two)["agree"]
    assert not flags("Thanks, I still need the update from Agent-B before we decide.")["agree"]


def test_a_term_that_can_match_empty_text_ends():
    from warroom_tui.judge.builtin import _term_in

    rx = re.compile(r"(?:(?:Redis)?)(?!\w)")  # as the coder wraps a term
    assert not _term_in(rx, "ab")  # its only match is empty, at the end, after a letter


def test_one_technology_in_the_window_and_many_past_it_is_arch():
    many = "We build it with Flutter. " + "x " * 400 + "Then Firebase, Stripe, Mapbox, Sentry and Docker."
    few = "We build it with Flutter. " + "x " * 400 + "Then Firebase and Stripe."
    assert CB.flag("arch").whole_count == 6
    assert flags(many)["arch"] and not flags(few)["arch"]
    assert not flags("x " * 400 + "Flutter, Firebase, Stripe, Mapbox, Sentry and Docker.")["arch"]  # none in the window
    unset = CB.model_copy(update={"flags": [f.model_copy(update={"whole_count": None}) if f.id == "arch" else f
                                            for f in CB.flags]})
    assert not BuiltinCoder(unset).code(many, ROSTER).flags["arch"]


def test_kappa_against_hand_computed_values():
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(0.5)
    assert cohen_kappa([1, 0, 1, 0, 1, 0], [1, 0, 1, 0, 1, 0]) == 1.0
    # po = 0.5, pe = 0.5 -> 0
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.0)
    assert math.isnan(cohen_kappa([], []))


# -- LLM judges against the simulator (no network) -------------------------------
async def llm(model: str, timeout: float = 5.0, retries: int = 2):
    return LLMJudge(model, CB, Gateway(), timeout=timeout, retries=retries)


async def test_llm_judge_valid_json_is_validated():
    coding = await (await llm("sim/judge")).code("Got it.", ROSTER)
    assert set(coding.flags) == set(CB.ids) and coding.flags["phatic"] is True


@pytest.mark.parametrize("model, reason", [
    ("sim/judge-malformed", "malformed JSON"),
    ("sim/judge-refuse", "refused"),
])
async def test_llm_judge_failures_become_reasons(model, reason):
    with pytest.raises(JudgeFailure, match=reason):
        await (await llm(model)).code("Agent-B, can you take the API?", ROSTER)


async def test_llm_judge_timeout():
    with pytest.raises(JudgeFailure, match="timeout"):
        await (await llm("sim/judge-slow", timeout=0.2, retries=0)).code("hello", ROSTER)


async def test_llm_judge_retries_a_bad_answer():
    coding = await (await llm("sim/judge-flaky")).code("Got it.", ROSTER)
    assert coding.flags["phatic"] is True


async def test_llm_judge_comp_broadcast_filter():
    judge = await llm("sim/judge")
    text = "@Agent-A, @Agent-B, @Agent-C, @Agent-G hello"
    from warroom_tui.judge.llm import broadcast_only

    assert broadcast_only(judge._filter, CB.flag("comp"), text, ROSTER)
    assert not broadcast_only(judge._filter, CB.flag("comp"), "Agent-G is down", ROSTER)


# -- one Judge protocol: built-in, LLM, panel ---------------------------------
async def test_every_judge_codes_one_or_many_the_same_way_and_closes():
    texts = ["Got it.", "Agent-B, can you take the API? We use Flutter and PostgreSQL.", "Agent-G is down, I take it."]
    jobs = [(t, ROSTER) for t in texts]
    builtin, judge = BuiltinJudge(CB), await llm("sim/judge")
    panel = Panel([builtin, judge], "intersection", CB)
    for j in (builtin, judge, panel):
        one = [await j.code(t, r) for t, r in jobs]
        many = [v async for part in j.code_many(jobs) for v in part]
        assert many == one, j.name
        await j.aclose()
    for t, r in jobs:  # the panel is the intersection of its members
        b, l, p = builtin.coder.code(t, r), await judge.code(t, r), await panel.code(t, r)
        assert p.flags == {f: b.flags[f] and l.flags[f] for f in CB.ids}
    refusing = Panel([builtin, await llm("sim/judge-refuse")], "union", CB)
    [verdicts] = [part async for part in refusing.code_many(jobs[:1])]
    assert isinstance(verdicts[0], JudgeFailure)  # a panel codes a message only when every member did
    with pytest.raises(JudgeFailure):
        await refusing.code(texts[0], ROSTER)


# -- the store: judging, adjudication, coded CSV -------------------------------
async def sim_run(store: Store, rounds: int = 2) -> Engine:
    scenario = with_backend(load_scenario(scenarios_dir() / "sim-demo.toml"), "sim").model_copy(
        update={"rounds": rounds})
    engine = Engine(scenario, Gateway(), clock=VirtualClock())
    engine.subscribe(Recorder(store))
    await engine.run()
    return engine


async def test_judge_store_panel_adjudication_and_uncoded(tmp_path):
    async with Store.open(tmp_path / "w.db") as store:
        engine = await sim_run(store)
        n = sum(1 for m in engine.transcript if m.is_agent and not m.is_error)
        judges = [BuiltinJudge(CB), await llm("sim/judge"), await llm("sim/judge-refuse")]
        report = await judge_store(store, judges, CB)
        assert report.coded == {"builtin@v4": n, "sim/judge@v4": n, "sim/judge-refuse@v4": 0}
        assert report.uncoded["sim/judge-refuse@v4"] == n
        rows = await store.db.execute_fetchall("SELECT reason FROM codings WHERE status='uncoded' LIMIT 1")
        assert rows[0][0].startswith("refused")
        again = await judge_store(store, judges[:1], CB)
        assert again.coded == {"builtin@v4": 0}  # nothing left to code
        kap = await adjudicate(store, ["builtin@v4", "sim/judge@v4"], CB)
        coders = {c.name: c.id for c in await store.coders()}
        a, b = await store.labels(coders["builtin@v4"]), await store.labels(coders["sim/judge@v4"])
        inter = await store.labels(coders["panel-intersection@v4"])
        union = await store.labels(coders["panel-union@v4"])
        for mid in a:
            for f in CB.ids:
                assert inter[mid][f][0] == (a[mid][f][0] and b[mid][f][0])
                assert union[mid][f][0] == (a[mid][f][0] or b[mid][f][0])
        ids = sorted(a)
        for f in CB.ids:
            assert kap[("builtin@v4", "sim/judge@v4")][f] == pytest.approx(
                cohen_kappa([a[m][f][0] for m in ids], [b[m][f][0] for m in ids]), nan_ok=True)


def test_cli_judge_and_coded_csv_export(tmp_path, capsys):
    db = str(tmp_path / "w.db")
    assert main(["run", "sim-demo", "--runs", "1", "--db", db, "--quiet"]) == 0
    assert main(["judge", "--db", db]) == 0
    out = tmp_path / "coded.csv"
    capsys.readouterr()  # only simulated runs, left out: nothing to export, and no file of a header in the way
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--db", db]) == 2
    assert "no labelled messages to export (1 simulated run left out: --include-simulated adds them)" in \
        capsys.readouterr().err and not out.exists()
    assert main(["report", "--db", db]) == 0  # nothing but simulated runs, left out: one line, no empty tables
    assert capsys.readouterr().out.strip() == "0 runs; 1 simulated run left out (--include-simulated to add them)"
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--db", db, "--include-simulated"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["id", "series", "file", "nickname", "agent", "round", "is_phatic", "is_meta", "is_lead",
                             "is_arch", "is_agree", "is_comp", "comp_level", "has_xref", "lang", "text", "simulated"]
    assert {r["simulated"] for r in rows} == {"True"}
    assert all(r["is_meta"] in ("True", "False") for r in rows)
    assert rows[0]["id"].startswith("sim-demo-") and "|Agent-A|R0" in rows[0]["id"]
    assert main(["judge", "--db", db, "--judge", "builtin", "--judge", "sim/judge"]) == 0
    assert "Cohen's kappa" in capsys.readouterr().out
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--db", db, "--include-simulated"]) == 0
    names = sorted(p.name for p in tmp_path.glob("coded_*.csv"))
    assert names == ["coded_builtin@v4.csv", "coded_panel-intersection@v4.csv", "coded_panel-union@v4.csv",
                     "coded_sim%2Fjudge@v4.csv"]


def test_a_changed_codebook_keeping_its_name_never_adds_to_its_old_labels(tmp_path, capsys):
    """Labels made with two versions of a codebook under one coder would mix two coders in every number: a
    changed codebook that keeps its name is refused (one line, exit 2, nothing written) until it is renamed
    or every message is coded again with it (--recode)."""
    from warroom_tui.judge.codebook import DEFAULT_CODEBOOK
    from warroom_tui.tui.launch import _check_writable

    db = str(tmp_path / "w.db")
    assert main(["run", "sim-demo", "--runs", "1", "--db", db, "--quiet"]) == 0
    assert main(["judge", "--db", db]) == 0
    changed = tmp_path / "v4.toml"  # the shipped codebook, its name kept, one rule changed
    text = DEFAULT_CODEBOOK.read_text().replace('"calibration_v4.json"', f'"{DEFAULT_CODEBOOK.with_name("calibration_v4.json")}"')
    changed.write_text(text.replace("max_words = 15", "max_words = 2", 1))
    assert load_codebook(changed).digest() != CB.digest()
    same = tmp_path / "same.toml"
    same.write_text(text)  # another file, the same content: the same codebook
    assert load_codebook(same).digest() == CB.digest()

    async def labels() -> dict:
        async with Store.open(db) as store:
            return await store.labels((await store.coder("builtin@v4")).id)

    before = asyncio.run(labels())
    capsys.readouterr()
    assert main(["run", "sim-demo", "--runs", "1", "--fresh", "--db", db, "--quiet", "--seed", "9"]) == 0
    assert main(["judge", "--db", db, "--codebook", str(changed)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{changed}: coder 'builtin@v4' coded messages" in err
    assert f"(warroom judge --codebook {changed} --recode --db {db})" in err  # the command, to copy as printed
    assert asyncio.run(labels()) == before  # nothing written
    with pytest.raises(CliError, match=f"{DEFAULT_CODEBOOK}: coder 'builtin@v4'") as refused:
        _check_writable(db, ["builtin"], load_codebook(changed), None)  # no --codebook: the shipped file named
    assert f"(warroom judge --codebook {DEFAULT_CODEBOOK} --recode --db {db})" in str(refused.value)  # this file
    with pytest.raises(CliError, match="another version of codebook 'v4'"):
        _check_writable(db, ["builtin"], load_codebook(changed), str(changed))  # the lab refuses it before it opens
    assert main(["judge", "--db", db, "--codebook", str(same)]) == 0  # the new run coded, as the shipped one would
    coded = asyncio.run(labels())
    assert len(coded) > len(before) and {k: coded[k] for k in before} == before
    assert main(["judge", "--db", db, "--codebook", str(changed), "--recode"]) == 0
    recoded = asyncio.run(labels())
    assert recoded.keys() == coded.keys() and recoded != coded  # every message again, with the changed rule
    assert main(["judge", "--db", db]) == 2  # and now the shipped codebook is the other version
    capsys.readouterr()
    assert main(["report", "--include-simulated", "--db", db]) == 0  # read with the shipped one: said
    assert "labels were made with another version of codebook v4" in " ".join(capsys.readouterr().out.split())
    assert main(["report", "--include-simulated", "--db", db, "--codebook", str(changed)]) == 0
    assert "another version" not in capsys.readouterr().out
    out = tmp_path / "coded.csv"  # the export writes the labels under the codebook's flags: it says so too
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--coder", "builtin@v4",
                 "--include-simulated", "--db", db]) == 0
    assert "builtin@v4's labels were made with another version of codebook v4 than the shipped one" in \
        " ".join(capsys.readouterr().out.split())
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--coder", "builtin@v4",
                 "--include-simulated", "--db", db, "--codebook", str(changed), "--force"]) == 0
    assert "another version" not in capsys.readouterr().out


def test_a_refused_panel_writes_nothing_and_an_interrupted_recode_goes_on_without_it(tmp_path, capsys, monkeypatch):
    """Every judge of a panel (and the panel's coders) is checked before any is written to; --recode deletes
    every one's labels first, so when it is interrupted, running the command again (as it says) codes the rest."""
    from warroom_tui.judge import service
    from warroom_tui.judge.codebook import DEFAULT_CODEBOOK

    db = str(tmp_path / "w.db")
    assert main(["run", "sim-demo", "--runs", "1", "--db", db, "--quiet"]) == 0
    assert main(["judge", "--db", db]) == 0  # builtin@v4, with the shipped codebook
    changed = tmp_path / "v4.toml"
    text = DEFAULT_CODEBOOK.read_text().replace('"calibration_v4.json"', f'"{DEFAULT_CODEBOOK.with_name("calibration_v4.json")}"')
    changed.write_text(text.replace("max_words = 15", "max_words = 2", 1))

    async def coders() -> dict:
        async with Store.open(db) as store:
            return {c.name: await store.coded_count(c.id) for c in await store.coders()}

    before = asyncio.run(coders())
    panel = ["--judge", "sim/judge", "--judge", "builtin"]
    assert main(["judge", "--db", db, *panel, "--codebook", str(changed)]) == 2  # builtin@v4 is the other version
    assert asyncio.run(coders()) == before  # sim/judge, first, was not coded (nor made)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # after both judges coded, before the panel's coders

    monkeypatch.setattr(Store, "forget_codings", interrupted)  # before --recode deleted anything: it said
    assert main(["judge", "--db", db, "--codebook", str(changed), "--recode"]) == 130  # "without --recode",
    assert "nothing was deleted or coded yet; run it again (with --recode)" in capsys.readouterr().err  # refused then
    assert asyncio.run(coders()) == before
    monkeypatch.undo()
    monkeypatch.setattr(service, "adjudicate", interrupted)
    assert main(["judge", "--db", db, *panel, "--codebook", str(changed), "--recode"]) == 130
    assert "run it again without --recode to code the rest" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["judge", "--db", db, *panel, "--codebook", str(changed)]) == 0  # as "interrupted" says: again
    counts = asyncio.run(coders())
    assert counts["builtin@v4"] == counts["sim/judge@v4"] == counts["panel-intersection@v4"] == before["builtin@v4"]
    capsys.readouterr()
    assert main(["judge", "--db", db, *panel, "--codebook", str(changed)]) == 0
    assert "nothing left to code" in capsys.readouterr().out
    assert main(["judge", "--db", db, "--codebook", str(changed), "--recode"]) == 0  # builtin alone: its panels too
    assert f"--recode: {3 * before['builtin@v4']} earlier codings deleted first" in capsys.readouterr().out
    counts = asyncio.run(coders())
    assert counts["panel-intersection@v4"] == counts["panel-union@v4"] == 0 and counts["sim/judge@v4"] > 0


def test_what_no_label_depends_on_leaves_the_digest_alone():
    from dataclasses import replace

    cal = CB.calibration["meta"]
    noted = replace(CB, calibration={**CB.calibration, "meta": replace(cal, note="refit on Tuesday")})
    described = replace(CB, flags=[replace(f, description=f.description + " More.") for f in CB.flags])
    named = replace(CB, flags=[replace(f, label=f.name) for f in CB.flags])  # the default, written out
    for kind in ("builtin", "llm", "adjudicated"):
        assert noted.digest(kind) == named.digest(kind) == CB.digest(kind)
    assert described.digest("builtin") == CB.digest("builtin")  # the built-in coder never reads descriptions
    assert described.digest("llm") != CB.digest("llm")  # an LLM judge does
    relabelled = replace(CB, flags=[replace(CB.flags[0], label="Small talk"), *CB.flags[1:]])
    assert relabelled.digest("llm") != CB.digest("llm")  # the name it is shown
    assert CB.digest("builtin") != CB.digest("llm")


async def test_a_coder_keeps_the_digest_of_its_first_codebook(tmp_path):
    from warroom_tui.store.labels import CodebookChangedError
    from warroom_tui.store.rows import CodingRow

    async with Store.open(tmp_path / "w.db") as store:
        await store.save_codings(await store.coder_id("legacy", "builtin", "v4"), [])  # from before digests
        assert await store.coder_id("legacy", "builtin", "v4", digest="aaaa") == 1  # its first digest is kept
        assert (await store.coder("legacy")).config["codebook_digest"] == "aaaa"
        assert await store.coder_id("legacy", "builtin", "v4", digest="bbbb") == 1  # no labels yet: nothing to mix
        await sim_run(store, rounds=1)
        mid = (await store.uncoded_messages(1))[0].id
        await store.save_codings(1, [CodingRow(mid, "coded", "", {"meta": (True, "")})])
        with pytest.raises(CodebookChangedError):
            await store.coder_id("legacy", "builtin", "v4", digest="cccc")
        assert await store.coder_id("legacy", "builtin", "v4", digest="bbbb") == 1
        assert await store.coder_id("legacy", "builtin", "v4") == 1  # no digest asked: a reader


def test_a_codebook_has_one_digest_however_it_was_checked():
    from warroom_tui.judge.codebook import _codebook, DEFAULT_CODEBOOK, SHIPPED, shipped_codebook
    from warroom_tui.judge.codebook_schema import validate
    from warroom_tui.tomlfile import read_toml
    import json

    for name in SHIPPED:
        path = shipped_codebook(name)
        data = read_toml(path, CodebookError)
        if isinstance(data.get("calibration"), str):
            data["calibration"] = json.loads((path.parent / data["calibration"]).read_text())
        assert _codebook(validate(data)).digest() == load_codebook(path).digest()  # pydantic's path and the quick one


def test_a_user_added_flag_flows_through_the_pipeline(tmp_path):
    text = (scenarios_dir().parent / "judge" / "codebook_v4.toml").read_text()
    text = text.replace('name = "v4"', 'name = "v4-hedge"') + (
        '\n[[flags]]\nid = "hedge"\nlabel = "HEDGE"\ndescription = "Hedged certainty."\n'
        "patterns = ['\\bmight\\b', 'probably', 'not fully certain', 'pas certain']\n")
    cb_path = tmp_path / "hedge.toml"
    cb_path.write_text(text)
    db = str(tmp_path / "w.db")
    assert main(["run", "sim-demo", "--runs", "1", "--db", db, "--quiet"]) == 0
    assert main(["judge", "--db", db, "--codebook", str(cb_path)]) == 0
    out = tmp_path / "coded.csv"
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--db", db, "--codebook", str(cb_path),
                 "--include-simulated"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert "is_hedge" in rows[0]
    assert any(r["is_hedge"] == "True" for r in rows) and any(r["is_hedge"] == "False" for r in rows)
    assert "hedge" in load_codebook(cb_path).trait_ids


async def test_worker_keeps_up_with_a_fast_simulated_run(tmp_path):
    async with Store.open(tmp_path / "w.db") as store:
        scenario = with_backend(load_scenario(scenarios_dir() / "sim-demo.toml"), "sim")
        session = RunSession(scenario, store=store, gateway=Gateway(), judges=[BuiltinJudge(CB)], codebook=CB,
                             virtual=True)
        snapshots = events_of(session, JudgeSnapshot)
        await session.run()
        worker = session.judge
        await worker.drain()
        await session.close()
        engine = session.engine
        n = sum(1 for m in engine.transcript if m.is_agent and not m.is_error)
        coded = await store.db.execute_fetchall("SELECT COUNT(*) FROM codings WHERE status='coded'")
        assert coded[0][0] == n
        state = worker.runs[engine.run_uid]
        assert sum(worker.tally(state, i)[0] for i in range(8)) == n
        assert [r for r, _ in state.group] == list(range(11))  # one similarity point a round
        assert 0 < state.group[-1][1] <= 1
        assert sum(t.coded for t in snapshots[-1].tallies) == n  # the last snapshot has it all
        with pytest.raises(AttributeError):
            snapshots[-1].uncoded = 3  # snapshots are immutable


def test_a_second_ctrl_c_of_warroom_judge_ends_it_there_and_then(monkeypatch, capfd):
    """The first Ctrl+C is asyncio's (the command is cancelled: it stores what it finished, stops its workers);
    a second, raised as a KeyboardInterrupt wherever the command was, could land inside a lock's acquisition in
    that cleanup and leave the process waiting for good. It ends the process at once, its workers stopped."""
    import multiprocessing
    import os
    import threading

    from warroom_tui import cli

    calls = []

    class Runner:
        _interrupt_count = 0

    runner = Runner()
    from functools import partial

    handler = partial(cli._second_ctrl_c_quits, runner, lambda *a: calls.append(a))
    handler(2, None, "task")
    assert calls == [(2, None, "task")]  # the first: asyncio's own handling
    gone = threading.Event()
    child = multiprocessing.get_context("fork").Process(target=gone.wait)
    child.start()

    def exit_now(code):
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", exit_now)
    monkeypatch.setattr(multiprocessing, "active_children", lambda: [child])  # none of another test's
    runner._interrupt_count = 1
    with pytest.raises(SystemExit) as ended:
        handler(2, None, "task")
    child.join(10)
    assert ended.value.code == 130 and child.exitcode is not None and child.exitcode < 0  # stopped, not waited for
    assert "interrupted again: stopped at once" in capfd.readouterr().err
    assert len(calls) == 1


def test_a_workers_rows_are_the_codings_encoded_one_by_one():
    """The worker encodes the labels of verdicts alike once (by their content): the rows must be what encoding each
    coding on its own gives, whatever verdicts share."""
    from warroom_tui.judge import service
    from warroom_tui.judge.types import Coding
    from warroom_tui.store.labels import encode_codings
    from warroom_tui.store.rows import UncodedMessage

    verdicts = [Coding({"meta": True, "comp": True}, {"comp": "L1"}), Coding({"meta": True, "comp": True}),
                Coding({"meta": True, "comp": True}, {"comp": "L2"}), Coding({"comp": True, "meta": True}),
                Coding({"meta": True, "comp": True}, {"comp": "L1"}), JudgeFailure("no answer")]
    todo = [UncodedMessage(10 + i, 1, 0, "", "") for i in range(len(verdicts))]

    class Jobs:
        pass

    jobs = Jobs()
    jobs.todo = todo  # type: ignore[attr-defined]
    real = service._code_slice
    service._code_slice = lambda coder, jobs, start, end: verdicts[start:end]
    try:
        rows = service._rows_slice(None, jobs, 0, len(verdicts))  # type: ignore[arg-type]
    finally:
        service._code_slice = real
    assert rows == encode_codings(service._row(m.id, v) for m, v in zip(todo, verdicts))
    assert rows[0][3] != rows[1][3] != rows[2][3] and rows[1][3] != rows[3][3]  # order and levels kept apart



async def test_an_llm_judges_batch_is_stored_with_each_messages_own_labels(tmp_path):
    """Labels were encoded once per flags object, found by its id: a judge's batch made its rows as it stored them,
    a later row's flags took a freed row's id, and the message was stored with that row's labels."""
    from warroom_tui.judge.types import Coding

    class Alternating:
        name, kind = "alternating@v4", "llm"

        def __init__(self) -> None:
            self.made: list[Coding] = []

        async def code_many(self, jobs):
            self.made = [Coding({f: (i >> k) % 2 == 0 for k, f in enumerate(CB.ids)},
                                {"comp": "L2"} if i % 3 == 0 else {}) for i in range(len(jobs))]
            yield list(self.made)

        async def aclose(self) -> None:
            pass

    async with Store.open(tmp_path / "w.db") as store:
        await sim_run(store, rounds=3)
        judge = Alternating()
        await judge_store(store, [judge], CB)  # type: ignore[list-item]
        ids = [r[0] for r in await store.db.execute_fetchall(
            "SELECT m.id FROM messages m WHERE m.agent_idx IS NOT NULL AND m.is_error=0 ORDER BY m.run_id, m.seq")]
        assert len(ids) == len(judge.made) >= 6
        coder = {c.name: c.id for c in await store.coders()}["alternating@v4"]
        got = await store.labels(coder)
        for mid, verdict in zip(ids, judge.made):
            assert {f: v for f, (v, _) in got[mid].items()} == verdict.flags, mid
            assert got[mid]["comp"][1] == verdict.levels.get("comp", "")


def test_a_simulated_judges_labels_are_never_taken_for_a_report_unless_asked_and_then_marked(tmp_path, capsys):
    """sim/judge's labels are scripted, yet `judge` said nothing of it, and a report on them (or on a panel with it,
    which became the default coder) read like a model's: RQ tables with p-values, no warning."""
    db = str(tmp_path / "w.db")
    assert main(["run", "sim-demo", "--runs", "1", "--db", db, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["judge", "--judge", "builtin", "--judge", "sim/judge", "--db", db]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "SIMULATED judge: sim/judge@v4's labels are scripted" in said and "SIMULATED judge: builtin" not in said
    assert main(["report", "--include-simulated", "--db", db]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "labels from builtin@v4 (builtin)" in out and "SIMULATED judge" not in out  # not the panel with sim/judge
    for coder in ("sim/judge@v4", "panel-intersection@v4"):
        assert main(["report", "--include-simulated", "--db", db, "--coder", coder]) == 0
        assert f"SIMULATED judge: {coder}'s labels are scripted" in " ".join(capsys.readouterr().out.split())
    assert main(["report", "--include-simulated", "--db", db, "--coder", "sim/judge@v4", "--json"]) == 0
    assert '"coder_simulated": true' in capsys.readouterr().out


def test_a_coded_csv_of_a_run_made_here_comes_back_as_human_labels(tmp_path, capsys):
    """Human labels were looked up by the file a run was imported from: a run made by `warroom run` has none, and a
    coded CSV names files escaped, so such labels were 'not in the database' (0 stored, exit 0)."""
    db = str(tmp_path / "w.db")
    assert main(["run", "sim-demo", "--runs", "1", "--db", db, "--quiet"]) == 0
    assert main(["judge", "--db", db]) == 0
    out = tmp_path / "coded.csv"
    assert main(["export", "--format", "coded-csv", "--out", str(out), "--db", db, "--include-simulated"]) == 0
    rows = list(csv.DictReader(out.open()))
    human = tmp_path / "human.csv"
    with human.open("w", newline="") as fh:
        names = [c.replace("is_", "human_", 1) if c.startswith("is_") else
                 "human_comp_level" if c == "comp_level" else c for c in rows[0]]
        w = csv.DictWriter(fh, fieldnames=names)
        w.writeheader()
        for r in rows:
            w.writerow(dict(zip(names, r.values())))
    capsys.readouterr()
    assert main(["import", "--human", str(human), "--db", db]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f"{len(rows)} labels stored as human" in said and "not in the database" not in said
