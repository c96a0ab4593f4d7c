"""The built-in coder's batch path: interrupted runs keep what they coded, the worker processes agree
with one process, and copied text is measured rather than coded."""

from __future__ import annotations

import functools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


from warroom_tui.cli import main
from warroom_tui.judge import service
from warroom_tui.judge.builtin import BuiltinCoder
from warroom_tui.engine.transcript import Message
from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.copying import copy_share, dump_spans, load_spans, measure_copying
from warroom_tui.judge.types import Roster
from warroom_tui.judge.service import BuiltinJudge, judge_store
from warroom_tui.store.db import Store

from tests.test_judge import sim_run

CB = load_codebook()


async def coded(path) -> tuple[int, int]:
    async with Store.open(path) as store:
        rows = await store.db.execute_fetchall("SELECT COUNT(*) FROM codings")
        total = await store.db.execute_fetchall(
            "SELECT COUNT(*) FROM messages WHERE agent_idx IS NOT NULL AND is_error=0")
    return rows[0][0], total[0][0]


async def test_interrupted_judge_keeps_the_chunks_it_finished(tmp_path, monkeypatch, capsys):
    db = tmp_path / "w.db"
    async with Store.open(db) as store:
        await sim_run(store, rounds=3)
    calls = {"n": 0}
    real = BuiltinCoder.code

    def code(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(service, "CHUNK", 3)
    monkeypatch.setattr(BuiltinCoder, "code", code)
    assert await _cli(["judge", "--db", str(db)]) == 130
    err = capsys.readouterr().err
    done, total = await coded(db)
    assert done == 3  # the first chunk, committed; nothing of the interrupted one
    assert f"builtin@v4 stored 3 of {total} codings; run it again to code the rest" in err  # what it stored, said
    monkeypatch.setattr(BuiltinCoder, "code", real)
    assert await _cli(["judge", "--db", str(db)]) == 0
    assert await coded(db) == (total, total)


async def _cli(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)  # main runs its own event loop


async def test_worker_processes_code_as_one_process_does(tmp_path, monkeypatch):
    monkeypatch.setattr(service, "POOL_MIN", 4)
    monkeypatch.setattr(service, "CHUNK", 4)
    async with Store.open(tmp_path / "w.db") as store:
        await sim_run(store, rounds=3)
        report = await judge_store(store, [BuiltinJudge(CB)], CB)
        cid = {c.name: c.id for c in await store.coders()}["builtin@v4"]
        labels = await store.labels(cid)
        todo = await store.uncoded_messages(cid + 1000)
        rosters = await service.RosterCache(store).load()
        coder = BuiltinCoder(CB)
        for m in todo:
            want = coder.code(m.text, rosters.roster(m.run_id, m.agent, m.copied))
            assert {f: v for f, (v, _) in labels[m.id].items()} == want.flags
    assert report.coded["builtin@v4"] == len(todo) >= 8


ERROR = ("The model `local/smollm2` has been decommissioned and is no longer supported. Please refer to the "
         "provider's documentation for a recommendation on which model to use instead of this one.")
REQUEST = ("Agent-C, can you take the backend API and write the database schema by Friday? I will handle the "
           "mobile screens and the design review with the client next week.")
ECHO_ROSTER = Roster(aliases=(("Agent-A", "Gemma 3 270M", "local/gemma3-270m"), ("Agent-B", "Qwen3 32B", "qwen3-32b"),
                              ("Agent-C", "Kimi K2", "kimi-k2"), ("Agent-D", "SmolLM2", "local/smollm2")),
                     speaker=0, crashed=frozenset({3}))


def echo_transcript() -> list[Message]:
    return [Message(seq=0, sender="user", text="Plan a food delivery app."),
            Message(seq=1, sender="agent-3", text=ERROR, round=0, agent=3, is_error=True, error_kind="permanent"),
            Message(seq=2, sender="agent-1", text=REQUEST, round=0, agent=1),
            Message(seq=3, sender="agent-0", text=f"{ERROR}\n\n{REQUEST}", round=1, agent=0, seen_upto=2)]


def test_an_echoed_error_and_an_echoed_peer_request_are_measured_not_coded():
    messages = echo_transcript()
    measure_copying(messages)
    echo = messages[3]
    assert echo.copy_share == 1.0 and messages[2].copy_share == 0.0
    coding = BuiltinCoder(CB).code(echo.text, ECHO_ROSTER._replace(copied=echo.copied))
    assert not coding.flags["comp"] and not coding.flags["lead"] and not coding.flags["has_xref"]
    blind = BuiltinCoder(CB).code(echo.text, ECHO_ROSTER)  # what the coder said before it knew
    assert blind.flags["comp"] and blind.flags["lead"]
    own = BuiltinCoder(CB).code(f"Agent-D is down. {REQUEST}", ECHO_ROSTER)  # the same words, its own: coded
    assert own.flags["comp"] and own.flags["lead"]


def test_naming_the_crashed_agent_in_its_own_words_while_quoting_its_error_is_comp():
    # the speaker addresses the crashed agent itself, then repeats the error text it had seen
    messages = echo_transcript()[:2] + [Message(seq=2, sender="agent-0", text=f"@Agent-D, I read this:\n{ERROR}",
                                                round=1, agent=0, seen_upto=1)]
    measure_copying(messages)
    reply = messages[2]
    assert reply.copy_share > 0.8
    coding = BuiltinCoder(CB).code(reply.text, ECHO_ROSTER._replace(copied=reply.copied))
    assert coding.flags["comp"] and coding.levels["comp"] == "L1"


def test_copying_counts_only_what_the_agent_had_seen():
    messages = echo_transcript()
    messages[3].seen_upto = 1  # its call started before the request arrived: that part is its own
    measure_copying(messages)
    assert 0.4 < messages[3].copy_share < 0.7
    assert copy_share("one two three four", ()) == 0.0 and load_spans(dump_spans(((0, 3), (9, 14)))) == ((0, 3), (9, 14))


async def test_copy_share_is_stored_at_import_and_read_back(tmp_path):
    from tests.conftest import TRANSCRIPTS

    if not TRANSCRIPTS.is_dir():
        pytest.skip("no study data")
    from warroom_tui.store.study_json import import_study_run, load_study_file

    source, run = load_study_file(TRANSCRIPTS / "B" / "warroom-B-run01.json")
    async with Store.open(tmp_path / "w.db") as store:
        run_id = await import_study_run(store, run, source)
        shares = [m.copy_share for m in await store.messages(run_id) if m.agent is not None and not m.is_error]
    assert all(s is not None and 0.0 <= s <= 1.0 for s in shares) and max(shares) > 0.5


async def _echo_run(store: Store, uid: str, simulated: bool) -> int:
    from warroom_tui.engine.status import RunStatus
    from warroom_tui.store.rows import AgentRow

    agents = [AgentRow(idx=i, key=f"agent-{i}", name=names[1], nickname=names[0], model=names[2])
              for i, names in enumerate(ECHO_ROSTER.aliases)]
    run_id = await store.create_run(uid=uid, scenario="echo", series="A", brief="", agents=agents,
                                    simulated=simulated, status=RunStatus.DONE)
    messages = echo_transcript()
    measure_copying(messages)
    await store.add_messages(run_id, messages)
    return run_id


async def test_copy_shares_leave_simulated_runs_out_unless_asked_and_never_pool_them(tmp_path):
    from warroom_tui.commands import copying_rows

    async with Store.open(tmp_path / "w.db") as store:
        await _echo_run(store, "real", simulated=False)
        await _echo_run(store, "sim", simulated=True)
        real = await store.copy_shares()
        both = await store.copy_shares(include_simulated=True)
    assert [(s, a, sim) for s, a, sim, _, _ in real] == [("A", "Gemma 3 270M", False), ("A", "Qwen3 32B", False)]
    assert {a: v for _, a, _, v, _ in real} == {"Gemma 3 270M": 1.0, "Qwen3 32B": 0.0}  # the error is not counted
    rows = copying_rows(both)
    assert len(rows) == 4 and {r["series"] for r in rows} == {"A", "A (sim)"}
    assert {r["agent"] for r in rows if r["series"] == "A (sim)"} == {"Gemma 3 270M (sim)", "Qwen3 32B (sim)"}


def test_the_message_details_show_the_copy_share():
    from warroom_tui.tui.detail import copied_fact, facts
    from rich.console import Console

    messages = echo_transcript()
    measure_copying(messages)
    console = Console(width=120, record=True)
    console.print(facts(messages[3]))
    text = console.export_text()
    assert "copied" in text and "100% of its words repeat what it had seen (runs of 5+ words, 2 passages)" in text
    assert copied_fact(messages[2]).startswith("0% ") and copied_fact(echo_transcript()[3]) == "not measured"


def test_a_calibration_decides_its_flag_from_the_coders_readings():
    from warroom_tui.judge.codebook import Calibration

    flip = Calibration(features=["rule:meta", "log_chars"], mean=[0.0, 0.0], scale=[1.0, 1.0], weights=[-2.0, 0.0],
                       bias=1.0)
    cb = CB.model_copy(update={"calibration": {"meta": flip}})
    plain = BuiltinCoder(CB.model_copy(update={"calibration": {}}))
    summary, other = "To summarize the discussion so far: we ship on Friday.", "We ship on Friday, with the API."
    assert plain.code(summary, ECHO_ROSTER).flags["meta"] and not plain.code(other, ECHO_ROSTER).flags["meta"]
    coder = BuiltinCoder(cb)
    assert not coder.code(summary, ECHO_ROSTER).flags["meta"] and coder.code(other, ECHO_ROSTER).flags["meta"]
    assert "meta" in CB.calibration  # the shipped codebook calibrates META (bench/coder_eval.py --fit)



async def test_a_copied_codebook_without_its_calibration_file_says_the_shipped_one_is_used(tmp_path, capsys):
    """A shipped codebook copied elsewhere (to edit its patterns) names a calibration file it does not have beside
    it: the shipped one is used, fitted to the shipped patterns. That was silent; it is a note now, and none once
    a file of that name is beside the copy (which is then the one used)."""
    import json

    from warroom_tui.judge.codebook import DEFAULT_CODEBOOK

    cb = tmp_path / "copy.toml"
    cb.write_text(DEFAULT_CODEBOOK.read_text())
    db = tmp_path / "w.db"
    async with Store.open(db) as store:
        await sim_run(store, rounds=1)
    assert await _cli(["judge", "--db", str(db), "--codebook", str(cb)]) == 0
    err = capsys.readouterr().err
    assert f"{cb}: calibration: calibration_v4.json is not beside it; the shipped calibration_v4.json is used" in err
    mine = json.loads(DEFAULT_CODEBOOK.with_name("calibration_v4.json").read_text())
    mine["meta"]["bias"] = -50.0  # another calibration, beside the copy: used, and nothing to say
    (tmp_path / "calibration_v4.json").write_text(json.dumps(mine))
    assert load_codebook(cb).calibration["meta"].bias == -50.0
    assert await _cli(["judge", "--db", str(db), "--codebook", str(cb), "--recode"]) == 0
    assert "calibration" not in capsys.readouterr().err
    from warroom_tui.judge.codebook import shipped_calibration_note

    assert shipped_calibration_note(None) is None and shipped_calibration_note("v4") is None  # the shipped ones
    shipped = DEFAULT_CODEBOOK.with_name("calibration_v4.json")
    cb.write_text(DEFAULT_CODEBOOK.read_text().replace('"calibration_v4.json"', f'"{shipped}"'))
    assert shipped_calibration_note(cb) is None  # the shipped file named by its path: what it asks for


def test_a_name_too_long_or_with_a_nul_is_one_line_naming_the_file_and_field(tmp_path, capsys):
    """A codebook, calibration or database name longer than the file system takes, or with a NUL in it, gave a
    traceback (OSError, ValueError) instead of one line and exit 2."""
    from warroom_tui.judge.codebook import DEFAULT_CODEBOOK

    long = "x" * 300
    db = tmp_path / "w.db"
    db.touch()
    for argv, said in [(["report", "--codebook", str(tmp_path / f"{long}.toml"), "--db", str(db)], "cannot read"),
                       (["report", "--db", str(tmp_path / f"{long}.db")], "cannot open"),
                       (["judge", "--db", str(tmp_path / f"{long}.db")], "cannot open")]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err and "file name too long" in err, err
    for name, why in [(f"{long}.json", "file name too long"), ("a\\u0000b.json", "embedded null byte")]:
        cb = tmp_path / "cb.toml"
        cb.write_text(DEFAULT_CODEBOOK.read_text().replace('"calibration_v4.json"', f'"{name}"'))
        assert main(["judge", "--db", str(db), "--codebook", str(cb)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{cb}: calibration: not a usable file name: {why}" in err, err
    assert db.stat().st_size == 0  # nothing written

def test_a_bad_calibration_file_is_one_line_naming_it(tmp_path, capsys):
    import json

    from warroom_tui.judge.codebook import DEFAULT_CODEBOOK

    cb = tmp_path / "mine.toml"
    cb.write_text(DEFAULT_CODEBOOK.read_text().replace('"calibration_v4.json"', '"mine.json"'))
    shipped = json.loads(DEFAULT_CODEBOOK.with_name("calibration_v4.json").read_text())
    shipped["meta"]["weights"] = shipped["meta"]["weights"][:-1]
    (tmp_path / "mine.json").write_text(json.dumps(shipped))
    db = tmp_path / "w.db"
    db.touch()
    assert main(["judge", "--db", str(db), "--codebook", str(cb)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "mine.json: meta: " in err and "one value each" in err
    good = json.loads(DEFAULT_CODEBOOK.with_name("calibration_v4.json").read_text())["meta"]
    for bad, field in [({"nosuch": good}, "mine.json: nosuch: no flag"),
                       ({"meta": {**good, "features": [*good["features"][:-1], "hits:nosuch"]}},
                        "mine.json: meta.features.8: 'hits:nosuch' names no flag")]:
        (tmp_path / "mine.json").write_text(json.dumps(bad))  # the cross-checks name the file and field too
        assert main(["judge", "--db", str(db), "--codebook", str(cb)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and field in err, err
    (tmp_path / "mine.json").write_text("{not json")
    assert main(["judge", "--db", str(db), "--codebook", str(cb)]) == 2
    assert "mine.json: not a calibration (UTF-8 JSON)" in capsys.readouterr().err
    (tmp_path / "mine.json").write_text("[" * 100_000 + "]" * 100_000)  # too deep for the JSON reader
    assert main(["judge", "--db", str(db), "--codebook", str(cb)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "mine.json: not a calibration (UTF-8 JSON)" in err
    for content, why in [(json.dumps({"meta": {**good, "bias": True}}).encode(), "mine.json: meta.bias: must be numbers"),
                         (json.dumps({"meta": {**good, "note": "é"}}, ensure_ascii=False).encode("latin-1"),
                          "mine.json: not a calibration (UTF-8 JSON)"),
                         (b"[1]", "mine.json: Input should be a valid dictionary")]:
        (tmp_path / "mine.json").write_bytes(content)
        assert main(["judge", "--db", str(db), "--codebook", str(cb)]) == 2
        assert why in capsys.readouterr().err
    (tmp_path / "mine.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"meta": good}).encode())  # a byte-order mark
    assert load_codebook(cb).calibration["meta"].weights == good["weights"]
    cb.write_text(DEFAULT_CODEBOOK.read_text().replace('"calibration_v4.json"', '""'))
    assert main(["judge", "--db", str(db), "--codebook", str(cb)]) == 2
    assert "mine.toml: calibration: must name a JSON file" in capsys.readouterr().err
    cb.write_text(DEFAULT_CODEBOOK.read_text().replace('"calibration_v4.json"', '"mine.json"'))
    (tmp_path / "mine.json").unlink()  # the TOML names a file that is not there: the TOML's field is wrong
    assert main(["judge", "--db", str(db), "--codebook", str(cb)]) == 2
    assert "mine.toml: calibration: cannot read mine.json" in capsys.readouterr().err
    assert db.stat().st_size == 0  # nothing written


@pytest.mark.parametrize("n,most,workers", [(14427, 2000, 2), (8, 4, 2), (9, 4, 2), (10, 3, 4), (1, 2000, 2), (0, 5, 2)])
def test_chunks_cover_every_job_once_in_order_and_shrink_towards_the_end(n, most, workers):
    bounds = service.chunks(n, most, workers)
    assert [i for a, b in bounds for i in range(a, b)] == list(range(n))
    sizes = [b - a for a, b in bounds]
    assert all(0 < size <= most for size in sizes) and sizes == sorted(sizes, reverse=True)
    if n > 4 * most:
        assert sizes[0] == most and sizes[-1] <= most // 4


async def test_jobs_are_made_when_read_as_the_list_they_stand_for(tmp_path):
    async with Store.open(tmp_path / "w.db") as store:
        await sim_run(store, rounds=2)
        todo = await store.uncoded_messages(1)
        rosters = await service.RosterCache(store).load()
    want = [(m.text, rosters.roster(m.run_id, m.agent, m.copied)) for m in todo]
    jobs = service.Jobs(todo, rosters)
    assert len(jobs) == len(want) > 2 and list(jobs) == want and jobs[1] == want[1] and jobs[1:3] == want[1:3]


def test_a_job_met_again_in_a_batch_gets_the_same_verdict_as_alone():
    coder = BuiltinCoder(CB)
    jobs = [("Got it.", ECHO_ROSTER), (REQUEST, ECHO_ROSTER), ("Got it.", ECHO_ROSTER), ("", ECHO_ROSTER),
            (REQUEST, ECHO_ROSTER._replace(speaker=2)), ("", ECHO_ROSTER)]
    assert service._code_all(coder, jobs) == [coder.code(text, roster) for text, roster in jobs]


async def test_texts_are_read_by_id_in_the_order_asked(tmp_path):
    from warroom_tui.store.texts import close_texts, message_texts

    async with Store.open(tmp_path / "w.db") as store:
        await sim_run(store, rounds=2)
        todo = await store.uncoded_messages(1)
        bare = await store.uncoded_messages(1, texts=False)
    ids = [m.id for m in reversed(todo)]
    assert message_texts(tmp_path / "w.db", [*ids, 10**9]) == [(m.text, m.copied) for m in reversed(todo)] + [("", "")]
    assert [m.id for m in bare] == [m.id for m in todo] and {(m.text, m.copied) for m in bare} == {("", "")}
    assert any(m.copied for m in todo)
    close_texts(tmp_path / "w.db")


async def test_a_batch_inside_a_transaction_codes_the_texts_it_sees(tmp_path, monkeypatch):
    """Texts written but not yet committed are not read on another connection: the batch reads them itself."""
    monkeypatch.setattr(service, "POOL_MIN", 4)
    monkeypatch.setattr(service, "CHUNK", 4)
    async with Store.open(tmp_path / "w.db") as store:
        await sim_run(store, rounds=3)
        async with store.transaction():
            await store.db.execute("UPDATE messages SET text=? WHERE agent_idx IS NOT NULL", (REQUEST,))
            await judge_store(store, [BuiltinJudge(CB)], CB)
        labels = await store.labels({c.name: c.id for c in await store.coders()}["builtin@v4"])
        todo = await store.uncoded_messages(10**6)
        rosters = await service.RosterCache(store).load()
    want = BuiltinCoder(CB)
    assert len(todo) >= 8 and all(m.text == REQUEST for m in todo)
    for m in todo:
        assert {f: v for f, (v, _) in labels[m.id].items()} == want.code(REQUEST, rosters.roster(m.run_id, m.agent,
                                                                                                m.copied)).flags


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.sampled_from("ab é_1 .,\n-"), max_size=60), words=st.integers(1, 6),
       a=st.integers(0, 70), b=st.integers(0, 70))
def test_the_echo_pattern_counts_a_spans_words_as_word_does(text, words, a, b):
    from warroom_tui.judge.builtin import WORD, echo_pattern

    assert (echo_pattern(words).match(text, a, b) is not None) == (len(WORD.findall(text, a, b)) >= words)


LEXICON_WORDS = ["fin", "final", "**", "# ", "thread", "agree", "down", "model", "à ", "demain", "pl", "plaisir de",
                 "merci", "pour", "la confirmation", "\x9f", "|", " owner ", "\n", "- ", ": ", "it seems", "x"]


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(LEXICON_WORDS), max_size=14))
def test_a_lexicons_cheap_tests_never_change_which_patterns_match(parts):
    """The gates (a literal each pattern needs, the boundaries around it, entries grouped by gate) only skip
    work: search and hits answer as every pattern tried alone does."""
    from warroom_tui.judge.builtin import NAME, lexicon

    text = "".join(parts)
    for flag in CB.flags:
        patterns = tuple(flag.substance if flag.kind == "short" else flag.patterns if flag.kind == "keywords"
                         else flag.cues)
        if not patterns:
            continue
        lex = lexicon(patterns)
        alone = [lexicon((p,)).entries[0][3] for p in patterns]
        matching = sum(rx.search(text) is not None for rx in alone)
        assert lex.search(text) == (matching > 0), (flag.id, text)
        assert lex.hits(text, 3) == min(matching, 3), (flag.id, text)
    assert lexicon((r"(?:^|\*\*|#\s)\W*fin\b",)).entries[0][2] is not None  # gated on 'fin\b', not on 'fin'
    assert NAME == "\x9f"


@settings(max_examples=300, deadline=None)
@given(flags=st.dictionaries(st.text(max_size=8), st.tuples(st.booleans(), st.one_of(st.none(), st.text(max_size=8)))))
def test_labels_are_stored_as_json_would_write_them(flags):
    import json

    from warroom_tui.store.labels import encode_codings
    from warroom_tui.store.rows import CodingRow

    [(_, _, _, stored)] = encode_codings([CodingRow(1, "coded", "", flags)])
    assert json.loads(stored) == {f: [int(v), lvl or ""] for f, (v, lvl) in flags.items()}
    assert stored == json.dumps({f: [int(v), lvl or ""] for f, (v, lvl) in flags.items()}, ensure_ascii=False,
                                separators=(",", ":"))


NAME_PARTS = ["agent-a", "agent-ab", "agent", "-", "x", " ", "]", "@", "[", "llama", "llama 3", "llama 3.3 70b", "meta-",
              "meta-llama/llama-4", "gp", "gpt", "ag", "é", "\n", "a"]
NAME_ALIASES = (("Agent-A", "Llama 3.3 70B", "gp"), ("Agent-AB", "meta-llama/llama-4", "ag"), ("llama", "LLAMA 3"))


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(NAME_PARTS), max_size=16))
def test_names_are_found_where_a_head_is_as_the_whole_pattern_finds_them(parts):
    """The run's aliases are tried only where one of their first letters is, as strings: they find the same
    mentions (where, and which alias), each from where the last ended, as the pattern of them all searching the
    whole text does."""
    from warroom_tui.judge.builtin import names_index

    names = names_index(NAME_ALIASES)
    low = "".join(parts)
    assert list(names.finditer(low)) == [(m.start(), m.end(), m.group(1)) for m in names.rx.finditer(low)]
    assert set(names.heads) == {"ag", "gp", "lla", "met"}


def _pattern_literals() -> list[str]:
    from warroom_tui.judge.builtin import NAME, _literals
    from warroom_tui.judge.codebook import load_codebook

    words = set()
    for cb in (CB, load_codebook("interaction")):
        for f in cb.flags:
            for p in (*f.patterns, *f.cues, *f.substance, *(p for _, p in f.levels)):
                words.update(w for w in _literals(p.replace("{name}", NAME)) if w)
    return sorted(words)


@functools.lru_cache(maxsize=1)
def _both_compiled() -> list:
    from warroom_tui.judge.builtin import NAME, lowered
    from warroom_tui.judge.codebook import load_codebook

    out = []
    for cb in (CB, load_codebook("interaction")):
        for f in cb.flags:
            for p in (*f.patterns, *f.cues, *f.substance, *(p for _, p in f.levels)):
                p = p.replace("{name}", NAME)
                out.append((p, re.compile(p, re.IGNORECASE | re.MULTILINE), lowered(p)))
    return out


CASE_PIECES = ["ſ", "ς", "σ", "ı", "İ", "k", "K", "ß", "é", "É", "ﬀ", "µ", "\x9f", "\ue000", "\n", " ", "*", "#", ":", "-", "1"]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(_pattern_literals() + CASE_PIECES), max_size=12))
def test_a_pattern_lowered_matches_lower_cased_text_as_ignoring_case_does(parts):
    """The coder's patterns read lower-cased text: compiled without IGNORECASE (their literals lower-cased, with
    the characters the engine's IGNORECASE equates with them) they find the same matches, on every pattern of
    the shipped codebooks, characters with several cases (ſ, ς, ı, K) included."""
    text = "".join(parts).lower()
    for p, ignoring, lowered in _both_compiled():
        assert [m.span() for m in lowered.finditer(text)] == [m.span() for m in ignoring.finditer(text)], (p, text)


TERM_PIECES = ["React", "React Native", "Node", "Go", "AWS", "iOS", "k8s", "é", "_", ".", "-", " ", "\n", "x", "1", "("]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(TERM_PIECES), max_size=12))
def test_a_term_of_plain_text_is_found_as_its_pattern_finds_it(parts):
    """A technology term that is plain text is looked for as a string, not compiled: it is found where its
    pattern (not followed by a word character) is, not after a word character or a dot."""
    from warroom_tui.judge.builtin import _term_in
    from warroom_tui.judge.patterns import plain_text

    text = "".join(parts)
    for term in ("React", "React Native", "AWS", "iOS", "k8s", "é", "Go"):
        assert plain_text(term) == term
        assert _term_in(term, text) == _term_in(re.compile(r"(?:" + term + r")(?!\w)"), text), (term, text)
    assert plain_text(r"Node\.?js") is None and plain_text("(?i)aws") is None and plain_text("a)|(b") is None


@pytest.mark.parametrize("pattern", [r"(?i)abc", r"(a)\1", r"[\u0100-\uffff]x", r"(?-i:A)b"])
def test_what_lowered_cannot_be_sure_of_is_left_to_ignorecase(pattern):
    from warroom_tui.judge.builtin import lowered

    assert lowered(pattern).flags & re.IGNORECASE
    assert lowered("Straße[A-Z]s").search("strasse") is None and lowered("STRAßE ſ").search("straße s")


def test_an_interrupted_batch_stops_its_workers_at_once(tmp_path):
    """Ctrl+C during a batch in worker processes: the chunks being coded are lost anyway, so the workers are
    stopped, not waited for (waiting, a second Ctrl+C left the command hanging at exit). Here the chunks never
    end: waited for, the batch would never stop."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import asyncio, multiprocessing, threading
        from warroom_tui.judge import service
        from warroom_tui.judge.codebook import load_codebook
        from warroom_tui.judge.types import Roster

        def stuck(coder, jobs, start, end):
            threading.Event().wait()

        async def main():
            judge = service.BuiltinJudge(load_codebook())
            parts = judge._chunks([("hello", Roster(aliases=(("A",),)))] * 5000, stuck)
            task = asyncio.ensure_future(parts.__anext__())
            await asyncio.sleep(0)  # one turn of the loop: the chunks are submitted
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            print("stopped", len(multiprocessing.active_children()))

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.stdout.split() == ["stopped", "0"], out.stderr
    assert "Error" not in out.stderr and "never retrieved" not in out.stderr



def test_an_interrupted_batch_stops_while_a_worker_sends_its_chunk(tmp_path):
    """Ctrl+C while a worker sends a large chunk back: stopped then, it left part of the chunk in the pipe, and
    the pool's reader waited for the rest of it: the command hung at exit (2 of 70 interruptions of the corpus on a
    loaded machine; here, with chunks of 20 MB always on their way, every time)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import asyncio, multiprocessing
        from warroom_tui.judge import service
        from warroom_tui.judge.codebook import load_codebook
        from warroom_tui.judge.types import Roster

        def big(coder, jobs, start, end):
            return [b"x" * 20_000_000]

        async def main():
            judge = service.BuiltinJudge(load_codebook())
            parts = judge._chunks([("hello", Roster(aliases=(("A",),)))] * 5000, big)
            await parts.__anext__()
            task = asyncio.ensure_future(parts.__anext__())
            await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            await parts.aclose()
            print("stopped", len(multiprocessing.active_children()))

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.stdout.split() == ["stopped", "0"], out.stderr
    assert "Error" not in out.stderr and "never retrieved" not in out.stderr


async def test_a_batch_interrupted_while_it_stores_a_chunk_stops_its_workers_at_once(tmp_path, monkeypatch):
    """Ctrl+C cancels the command while it stores a chunk: the workers were stopped only when asyncio finalized
    the batch's generator, later, and a second Ctrl+C before then left them coding (the command took seconds to
    end) or waiting for work (it never ended: 2 of 67 double presses). They stop as the cancellation goes by."""
    import asyncio
    import multiprocessing

    monkeypatch.setattr(service, "POOL_MIN", 4)
    monkeypatch.setattr(service, "CHUNK", 4)
    before = set(multiprocessing.active_children())  # any other test's: not this one's to judge
    async with Store.open(tmp_path / "w.db") as store:
        await sim_run(store, rounds=3)

        async def cancelled(*args, **kwargs):
            raise asyncio.CancelledError  # as Ctrl+C cancels the command's task where it waits

        monkeypatch.setattr(Store, "save_encoded", cancelled)
        with pytest.raises(asyncio.CancelledError):
            await judge_store(store, [BuiltinJudge(CB)], CB)
        assert not set(multiprocessing.active_children()) - before  # now: stopped, not left to finalizers


def test_a_lone_surrogate_in_a_message_does_not_stop_the_coder():
    """The technology words were found in the message's UTF-8, which a lone surrogate (valid in a Python string,
    as JSON decodes "\\ud800") cannot be encoded to: the coder raised. They are found in its Latin-1 bytes, any
    other character a separator, as before."""
    roster = Roster(aliases=(("Agent-A",), ("Agent-B",)), speaker=0)
    coding = BuiltinCoder(CB).code("We use Stripe, Firebase and Supabase \ud800 here", roster)
    assert coding.flags["arch"] == BuiltinCoder(CB).code("We use Stripe, Firebase and Supabase here", roster).flags["arch"]
