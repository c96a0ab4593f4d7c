"""The codebook's quick check (no pydantic) against its schema (pydantic): the same codebook, or it declines."""

import copy
import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from warroom_tui.judge import codebook_schema as schema
from warroom_tui.judge.codebook import (DEFAULT_CODEBOOK, Calibration, Codebook, CodebookError, Flag, _codebook,
                                        checked, load_codebook)
from warroom_tui.tomlfile import read_toml


def shipped_doc(name: str = "v4") -> dict:
    path = DEFAULT_CODEBOOK.with_name(f"codebook_{name}.toml")
    doc = read_toml(path, CodebookError)
    if isinstance(doc.get("calibration"), str):
        doc["calibration"] = json.loads((path.parent / doc["calibration"]).read_text(encoding="utf-8"))
    return doc


@pytest.mark.parametrize("plain, model", [(Codebook, schema.Codebook), (Flag, schema.Flag),
                                          (Calibration, schema.Calibration)])
def test_the_codebook_classes_have_the_schemas_fields_and_defaults(plain, model):
    fields = {f.name: f for f in dataclasses.fields(plain)}
    assert list(fields) == list(model.model_fields)
    for name, info in model.model_fields.items():
        if not info.is_required():
            f = fields[name]
            assert (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default) == info.default


@pytest.mark.parametrize("name", ["v4", "interaction"])
def test_the_shipped_codebooks_pass_the_quick_check_as_the_schema_reads_them(name):
    doc = shipped_doc(name)
    quick = checked(copy.deepcopy(doc))
    assert quick is not None and quick == _codebook(schema.validate(doc)) == load_codebook(name)
    assert quick.model_dump() == schema.validate(doc)


def test_a_value_pydantic_would_coerce_is_left_to_it():
    doc = shipped_doc()
    doc["flags"][0]["max_words"] = "12"  # lax pydantic reads 12
    assert checked(copy.deepcopy(doc)) is None
    assert _codebook(schema.validate(doc)).flags[0].max_words == 12


values = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.floats(allow_nan=True), st.text(max_size=6),
                   st.sampled_from(["a", "x_1", "Bad", "(", "L1", "rule:meta", "hits:zz", "log_chars", "keywords"]),
                   st.lists(st.sampled_from(["a", "(x", "L1", 1, 0.5]), max_size=3),
                   st.lists(st.lists(st.sampled_from(["L1", "x", 2]), max_size=3), max_size=2), st.just({}))
field_names = st.sampled_from(["name", "reading_window", "echo_words", "flags", "calibration", "id", "label",
                               "description", "trait", "kind", "patterns", "cues", "terms", "substance", "levels",
                               "max_words", "min_count", "whole_count", "window", "broadcast_share", "skip_copied", "features",
                               "mean", "scale", "weights", "bias", "note", "other"])


def mutate(doc: dict, where: int, key: str, value) -> dict:
    """The shipped codebook with one value set (or removed, for None) in it, its flags or its calibration."""
    doc = copy.deepcopy(doc)
    targets = [doc, *doc["flags"], *doc["calibration"].values()]
    target = targets[where % len(targets)]
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value
    return doc


@settings(max_examples=300, deadline=None)
@given(where=st.integers(0, 20), key=field_names, value=values)
def test_the_quick_check_never_accepts_what_the_schema_would_read_otherwise(where, key, value):
    doc = mutate(shipped_doc(), where, key, value)
    quick = checked(copy.deepcopy(doc))
    try:
        slow = _codebook(schema.validate(doc))
    except ValidationError:
        assert quick is None
        return
    assert quick is None or repr(quick) == repr(slow)  # repr: 1 and 1.0 differ, nan is itself
