"""Fuzzing the loaders: every malformed document ends in one line naming the file, never a traceback,
and a failed import changes nothing already stored."""

import json
import sqlite3
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warroom_tui.cli import main
from warroom_tui.judge.builtin import BuiltinCoder
from warroom_tui.judge.types import Roster
from warroom_tui.judge.codebook import CodebookError, load_codebook
from warroom_tui.judge.human import HumanCsvError, read_human_csv
from warroom_tui.scenario import ScenarioError, load_scenario
from warroom_tui.store.study_json import StudyFormatError, load_study_file

FUZZ = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "120")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
keys = st.sampled_from(["name", "brief", "rounds", "agents", "model", "conditions", "naming", "scaffolding",
                        "crashes", "agent", "kind", "temperature", "seed", "clones", "count", "flags", "id",
                        "description", "patterns", "terms", "cues", "levels", "reading_window", "series", "x"])
hostile_text = st.one_of(
    st.text(st.characters(blacklist_categories=()), max_size=30),  # lone surrogates, C0 and C1 controls too
    st.sampled_from(["..", ".", "../x", "a\\b", "\x1b[31mred", "\x1b]52;c;ZXZpbA==\x07", "\x9b31m", "\x9d52;c;x\x9c",
                     "bare\rcr", "\ud800", "x\udfffy", "\x00", "\x85"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=30), hostile_text)
DEEP = "__deep__"
deep_levels = st.integers(min_value=60, max_value=100_000)
"""Nesting: a placeholder value replaced by lists nested this deep once the document is text."""
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(keys, c, max_size=5),
                           max_leaves=25)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if v == v and abs(v) != float("inf") else "nan"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v if x is not None and not isinstance(x, dict)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    return '""'


def toml_doc(d: dict) -> str:
    return "\n".join(f"{k} = {toml_value(v)}" for k, v in d.items() if v is not None) + "\n"


one_line = lambda msg, path: msg.startswith(str(path)) and "\n" not in msg and "Traceback" not in msg  # noqa: E731


def deep_toml(key: str, n: int) -> str:
    return f"{key} = " + "[" * n + "]" * n + "\n"


@FUZZ
@given(doc=st.dictionaries(keys, json_values, max_size=8) | st.text(max_size=200).map(lambda t: {"raw": t}),
       deep=st.none() | st.tuples(keys, deep_levels))
def test_scenario_loader(tmp_path_factory, doc, deep):
    path = tmp_path_factory.mktemp("s") / "fuzz.toml"
    text = doc["raw"] if set(doc) == {"raw"} else toml_doc(doc)
    if deep is not None:
        text = deep_toml(*deep) + text
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_scenario(path)
    except ScenarioError as exc:
        assert one_line(str(exc), path), str(exc)


@FUZZ
@given(doc=st.dictionaries(keys, json_values, max_size=8) | st.text(max_size=200).map(lambda t: {"raw": t}),
       deep=st.none() | st.tuples(keys, deep_levels))
def test_codebook_loader(tmp_path_factory, doc, deep):
    path = tmp_path_factory.mktemp("c") / "fuzz.toml"
    text = doc["raw"] if set(doc) == {"raw"} else toml_doc(doc)
    if deep is not None:
        text = deep_toml(*deep) + text
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        cb = load_codebook(path)
    except CodebookError as exc:
        assert one_line(str(exc), path), str(exc)
        return
    BuiltinCoder(cb).code("Agent-B, can you take Flutter and Stripe?", Roster((("Agent-A",), ("Agent-B",)), 0))


VALID_RUN = {
    "condition": {"series": "Z", "temperature": 0.8},
    "environment": {"agentRanking": [{"key": "a", "name": "A", "nickname": "Agent-A", "model": "m"},
                                     {"key": "b", "name": "B", "nickname": "Agent-B", "model": "m"}],
                    "runNumber": 1},
    "conversation": {"userPrompt": "brief", "messages": [
        {"sender": "user", "text": "brief"},
        {"sender": "a", "round": 0, "text": "hello", "isError": False},
        {"sender": "system", "system": "— Round 2 —"},
        {"sender": "b", "round": 1, "text": "⚠ gone", "isError": True}]},
    "stats": {"agentsWhoErrored": {"permanent": ["B"], "transient": []}},
}
paths = st.lists(st.sampled_from(["condition", "environment", "conversation", "stats", "series", "agentRanking",
                                  "messages", 0, 1, 2, 3, "sender", "round", "text", "isError", "key", "nickname",
                                  "runNumber", "agentsWhoErrored", "permanent", "system", "temperature"]),
                 min_size=1, max_size=4)


def mutate(doc, path, value):
    node = doc
    for p in path[:-1]:
        if isinstance(node, dict) and p in node:
            node = node[p]
        elif isinstance(node, list) and isinstance(p, int) and p < len(node):
            node = node[p]
        else:
            return doc
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
    return doc


@FUZZ
@given(path=paths, value=json_values | deep_levels.map(lambda n: (DEEP, n)))
def test_transcript_importer(tmp_path_factory, path, value):
    folder = tmp_path_factory.mktemp("t")
    deep = value[1] if isinstance(value, tuple) else None
    doc = mutate(json.loads(json.dumps(VALID_RUN)), path, DEEP if deep else value)
    f = folder / "run.json"
    text = json.dumps(doc)  # ASCII: lone surrogates travel as \u escapes, as in a hand-edited file
    f.write_text(text.replace(json.dumps(DEEP), "[" * deep + "]" * deep) if deep else text, encoding="utf-8")
    try:
        load_study_file(f)
    except StudyFormatError as exc:
        assert one_line(str(exc), f), str(exc)
        return
    db = folder / "w.db"
    assert main(["import", str(f), "--db", str(db)]) == 0  # a file that passes the check imports whole


@FUZZ
@given(text=hostile_text | st.text(max_size=200))
def test_clean_text_leaves_nothing_for_a_terminal(text):
    from warroom_tui.untrusted import UNSAFE_RE, clean_text

    out = clean_text(text)
    assert not UNSAFE_RE.search(out) and clean_text(out) == out
    out.encode("utf-8")  # always encodable


@FUZZ
@given(before=st.text(max_size=40), after=st.text(max_size=40), form=st.sampled_from(range(7)),
       cut=st.integers(1, 30))
def test_a_planted_key_never_survives_the_scrubber(before, after, form, cut):
    import base64

    from warroom_tui.providers.secrets import Redactor

    key = "sk-fuzz-KEY-0a1b2c3d4e5f60718293"
    shown = [key, key[:27], key.upper(), key.lower(), base64.b64encode(key.encode()).decode(),
             base64.b64encode(f"Bearer {key}".encode()).decode(), key[:16] + " " + key[16:]][form]
    text = before + shown + after
    scrub = Redactor([key])
    stream = scrub.stream()
    streamed = "".join(stream.feed(text[i:i + cut]) for i in range(0, len(text), cut)) + stream.flush()
    for out in (scrub(text), streamed):
        assert not any(key.lower()[i:i + 8] in out.lower() for i in range(len(key) - 7)), out
        b64 = base64.b64encode(key.encode()).decode()[:-1]
        assert not any(b64[i:i + 8] in out for i in range(len(b64) - 7)), out


@FUZZ
@given(body=st.lists(st.lists(st.text(alphabet=string.printable + "\x00\x1b\x7f\x85\x9b\x9d", max_size=12),
                             min_size=0, max_size=10), max_size=5), header=st.booleans())
def test_human_csv_importer(tmp_path_factory, body, header):
    path = tmp_path_factory.mktemp("h") / "human.csv"
    cols = "id,file,round,human_phatic,human_meta,human_lead,human_arch,human_agree,human_comp\n"
    text = (cols if header else "") + "\n".join(",".join(row) for row in body)
    path.write_text(text, encoding="utf-8")
    try:
        read_human_csv(path)
    except HumanCsvError as exc:
        assert one_line(str(exc), path), str(exc)


def db_state(db) -> list:
    con = sqlite3.connect(db)
    out = [con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("runs", "agents", "messages", "labels")]
    con.close()
    return out


def test_cli_failed_imports_exit_2_and_change_nothing(tmp_path, capsys):
    db = tmp_path / "w.db"
    good = tmp_path / "good.json"
    good.write_text(json.dumps(VALID_RUN))
    assert main(["import", str(good), "--db", str(db)]) == 0
    state = db_state(db)
    bad_cases = {
        "bad.json": "{",
        "deep.json": json.dumps(mutate(json.loads(json.dumps(VALID_RUN)), ["conversation", "messages", 1, "round"], -3)),
        "bad.csv": "id,file\n1,2\n",
        "bad.toml": "name = \n",
    }
    for name, text in bad_cases.items():
        p = tmp_path / name
        p.write_text(text)
        args = {"json": ["import", str(p)], "csv": ["import", "--human", str(p)],
                "toml": ["judge", "--codebook", str(p)]}[name.split(".")[1]]
        capsys.readouterr()
        assert main(args + ["--db", str(db)]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(p) in err and "Traceback" not in err, err
        assert db_state(db) == state, name
