"""Codebooks as TOML data: flags, descriptions for LLM judges, parameters for the built-in coder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

from warroom_tui.judge.patterns import lowered, parse, plain_text
from warroom_tui.tomlfile import field_error, read_toml

DEFAULT_CODEBOOK = Path(__file__).with_name("codebook_v4.toml")
SHIPPED = ("v4", "interaction")
"""Codebooks shipped beside this module (`codebook_<name>.toml`): `--codebook interaction` names one."""


class CodebookError(Exception):
    """One line naming the file and the field."""


FEATURE = re.compile(r"^(?:(?:rule|hits):[a-z][a-z0-9_]{0,30}|log_chars|copied_chars)\Z")
FLAG_ID = re.compile(r"[a-z][a-z0-9_]{0,30}")
KINDS = ("short", "keywords", "terms", "assign", "agree", "crashed", "xref", "none")
Kind = Literal["short", "keywords", "terms", "assign", "agree", "crashed", "xref", "none"]


class _Model:
    """What callers use of a pydantic model (the schema, with its checks, is codebook_schema.py)."""

    def model_copy(self, update: dict[str, Any] | None = None) -> Self:
        return dataclasses.replace(self, **(update or {}))  # type: ignore[type-var]

    def model_dump(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Calibration(_Model):
    """A small L2-regularised logistic model over the built-in coder's own readings of a message, deciding
    one flag (fitted on the human-coded development half by bench/coder_eval.py --fit). Features:
    `rule:<flag>` (that flag's rule, 0/1), `hits:<flag>` (how many of its patterns match, up to 3),
    `log_chars` (log of 1 + the message's length), `copied_chars` (share of its characters copied)."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    note: str = ""


@dataclass(frozen=True)
class Flag(_Model):
    id: str
    label: str = ""
    description: str = ""
    trait: bool = True
    """Part of an agent's profile (reactive flags such as COMP are reported apart)."""
    kind: Kind = "keywords"
    patterns: list[str] = field(default_factory=list)
    cues: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    substance: list[str] = field(default_factory=list)
    levels: list[tuple[str, str]] = field(default_factory=list)
    max_words: int = 15
    min_count: int = 2
    whole_count: int | None = None
    """A terms flag: a reading that names fewer than `min_count` terms but at least one still sets the flag
    when the whole message, past the reading window, names this many."""
    window: int = 80
    broadcast_share: float = 0.75
    """COMP and AGREE: a line naming this share of the roster is a broadcast @-list, not a reference."""
    skip_copied: bool = False
    """Do not read words the agent repeated verbatim from what it had seen (echoed errors, peers)."""

    @property
    def name(self) -> str:
        return self.label or self.id.upper()


@dataclass(frozen=True)
class Codebook(_Model):
    name: str
    reading_window: int | None = None
    echo_words: int = 20
    """A run of this many words copied verbatim from what the agent had seen is an echo, not its own
    words: flags with `skip_copied` do not read it."""
    flags: list[Flag] = field(default_factory=list)
    calibration: dict[str, Calibration] = field(default_factory=dict)

    def digest(self, kind: str = "builtin") -> str:
        """What the codebook tells a judge of this kind, hashed (its name too): a coder's labels are stored with
        it, so labels by two versions of a codebook that kept its name are never mixed under one coder. What
        no label depends on is left out: calibration notes; a flag's label as written (its display name
        counts); for the built-in coder the descriptions (LLM judges read them), for LLM judges the
        calibration (the built-in coder's)."""
        done = self.__dict__.setdefault("_digests", {})  # computed once a kind (the fields never change)
        if kind not in done:
            done[kind] = self._digest(kind)
        return done[kind]

    def _digest(self, kind: str) -> str:
        doc = self.model_dump()
        for f, flag in zip(doc["flags"], self.flags):
            f["label"] = flag.name
            if kind == "builtin":
                del f["description"]
        if kind == "llm":
            del doc["calibration"]
        else:
            for cal in doc["calibration"].values():
                cal.pop("note", None)
        text = json.dumps(doc, sort_keys=True, ensure_ascii=True, allow_nan=False)
        return hashlib.sha256(f"{kind}:{text}".encode()).hexdigest()[:16]
    """Flags the built-in coder decides with a fitted model over its readings, instead of its rule alone.
    In the TOML: a JSON file name, next to the codebook (else one shipped with warroom)."""

    @property
    def ids(self) -> list[str]:
        return [f.id for f in self.flags]

    @property
    def coded_ids(self) -> list[str]:
        """Flags a coder decides (a structural cross-reference flag is computed, never hand-coded)."""
        return [f.id for f in self.flags if f.kind != "xref"]

    @property
    def levelled_ids(self) -> list[str]:
        """Flags coded with a level (compensation: L1, L2, L3)."""
        return [f.id for f in self.flags if f.kind == "crashed" or f.levels]

    @property
    def trait_ids(self) -> list[str]:
        return [f.id for f in self.flags if f.trait]

    def flag(self, flag_id: str) -> Flag:
        return next(f for f in self.flags if f.id == flag_id)


MENTION = "\x9f"
"""What `{name}` stands for in a pattern: the one character every mention of another agent is read as (a C1
control: not a word character nor a space, and any in a message is read as a space). Within Latin-1, so a
message of Latin-1 text stays one byte a character once its mentions are marked (faster to search)."""


def compile_error(pattern: str, term: bool = False) -> str:
    """Why a pattern of a flag does not compile as the built-in coder compiles it ('' when it does): a
    technology term inside a group with a word's end after it, any other with `{name}` read as a mention."""
    try:
        if term:
            parse(pattern)  # the coder reads the term's literals from its own parse: it must parse alone too
            if plain_text(pattern) is None:  # plain text needs no check (nor compiling: the coder looks for it)
                re.compile(r"(?:" + pattern + r")(?!\w)")
        else:
            lowered(pattern.replace("{name}", MENTION))
    except (re.error, OverflowError, RecursionError) as exc:
        return f"bad regular expression {pattern!r}: {exc}"
    return ""


def shipped_codebook(name: str) -> Path:
    return Path(__file__).with_name(f"codebook_{name}.toml")


def codebook_file(path: str | Path | None = None) -> Path:
    """The file a codebook reference names: a path, a shipped codebook's name, or (None) the study's v4."""
    path = Path(path) if path else DEFAULT_CODEBOOK
    return shipped_codebook(str(path)) if not path.exists() and str(path) in SHIPPED else path


def calibration_file(path: Path, name: str) -> Path:
    """The file a codebook's `calibration` names: beside it, else (a copy of a shipped codebook) the shipped one."""
    where = path.parent / name
    if not where.is_file() and (DEFAULT_CODEBOOK.parent / name).is_file():
        return DEFAULT_CODEBOOK.parent / name
    return where


def shipped_calibration_note(path: str | Path | None) -> str | None:
    """What to tell of a codebook whose calibration file is not beside it and is taken from the shipped ones (a
    shipped codebook copied elsewhere without it): its weights were fitted to the shipped patterns."""
    file = codebook_file(path)
    if file.parent == DEFAULT_CODEBOOK.parent:
        return None
    try:
        name = read_toml(file, CodebookError).get("calibration")
    except CodebookError:
        return None
    if not isinstance(name, str) or not name.strip() or calibration_file(file, name) == file.parent / name:
        return None  # the file named is taken (an absolute path to the shipped one too)
    return (f"{file}: calibration: {name} is not beside it; the shipped {name} is used (its weights were fitted"
            " to the shipped patterns; a file of that name beside the codebook is used instead)")


def load_codebook(path: str | Path | None = None) -> Codebook:
    path = codebook_file(path)
    data = read_toml(path, CodebookError)
    where = path
    if isinstance(data.get("calibration"), str):
        try:
            where = calibration_file(path, data["calibration"])
            folder = where.is_dir()
        except (OSError, ValueError) as exc:  # too long a name, a NUL in it
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CodebookError(f"{path}: calibration: not a usable file name: {why.lower()}") from None
        if not data["calibration"].strip() or folder:
            raise CodebookError(f"{path}: calibration: must name a JSON file (or be a table)")
        try:
            raw = where.read_bytes()
        except OSError as exc:  # the TOML's field names a file that is not there
            raise CodebookError(f"{path}: calibration: cannot read {where.name}: {exc.strerror or exc}") from None
        except ValueError as exc:  # a NUL in the name
            raise CodebookError(f"{path}: calibration: not a usable file name: {exc}") from None
        try:
            data["calibration"] = json.loads(raw.decode("utf-8-sig"))  # a byte-order mark, as some editors write
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise CodebookError(f"{where}: not a calibration (UTF-8 JSON): {exc}") from None
    quick = checked(data)
    if quick is not None:
        return quick
    from pydantic import ValidationError

    from warroom_tui.judge.codebook_schema import validate

    try:
        values = validate(data)
    except ValidationError as exc:
        what = field_error(exc, data)
        if where != path and what.startswith("calibration"):  # the calibration file's own field
            raise CodebookError(f"{where}: {what.removeprefix('calibration').lstrip('.: ') or what}") from None
        raise CodebookError(f"{path}: {what}") from None
    return _codebook(values)


# -- the quick check: a document as the schema would take it, or None (the schema then decides) -------------
def checked(data: dict) -> Codebook | None:
    """The codebook when `data` is valid as it is (every value of the type it must have: nothing for pydantic
    to coerce), else None. Stricter than the schema, never looser: what it refuses, the schema decides."""
    if not data.keys() <= {"name", "reading_window", "echo_words", "flags", "calibration"}:
        return None
    name, window, echo = data.get("name"), data.get("reading_window"), data.get("echo_words", 20)
    flags, cals = data.get("flags"), data.get("calibration", {})
    if not (type(name) is str and name and (window is None or _count(window)) and _count(echo) and echo <= ECHO_MAX
            and type(flags) is list and flags and type(cals) is dict):
        return None
    made = [_flag(f) for f in flags]
    ids = [f.id for f in made if f is not None]
    if len(ids) != len(flags) or len(set(ids)) != len(ids):
        return None
    calibration: dict[str, Calibration] = {}
    for flag_id, cal in cals.items():
        c = _calibration(cal)
        if c is None or flag_id not in ids or any(":" in f and f.split(":", 1)[1] not in ids for f in c.features):
            return None
        calibration[flag_id] = c
    return Codebook(name, window, echo, [f for f in made if f is not None], calibration)


FLAG_DEFAULTS = {f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                 for f in dataclasses.fields(Flag) if f.name != "id"}


def _flag(data: Any) -> Flag | None:
    if type(data) is not dict or not data.keys() <= FLAG_DEFAULTS.keys() | {"id"}:
        return None
    v = {**FLAG_DEFAULTS, **data}
    fid, share = v.pop("id", None), v["broadcast_share"]
    if not (type(fid) is str and FLAG_ID.fullmatch(fid) and type(v["label"]) is str
            and type(v["description"]) is str and v["description"] and type(v["trait"]) is bool
            and type(v["skip_copied"]) is bool and type(v["kind"]) is str and v["kind"] in KINDS
            and all(_count(v[k]) for k in ("max_words", "min_count", "window"))
            and (v["whole_count"] is None or (_count(v["whole_count"]) and v["whole_count"] >= 2))
            and type(share) in (int, float) and 0 < share <= 1):
        return None
    for k in ("patterns", "cues", "terms", "substance"):
        if not (type(v[k]) is list and all(type(p) is str and not compile_error(p, k == "terms") for p in v[k])):
            return None
        v[k] = list(v[k])
    levels = v["levels"]
    if not (type(levels) is list and all(type(lv) in (list, tuple) and len(lv) == 2
                                         and all(type(x) is str for x in lv) and not compile_error(lv[1])
                                         for lv in levels)):
        return None
    v["levels"] = [tuple(lv) for lv in levels]
    v["broadcast_share"] = float(share)
    return Flag(fid, **v)


def _calibration(data: Any) -> Calibration | None:
    keys = {"features", "mean", "scale", "weights", "bias"}
    if type(data) is not dict or not keys <= data.keys() <= keys | {"note"}:
        return None
    features, note = data["features"], data.get("note", "")
    mean, scale, weights = (_floats(data[k]) for k in ("mean", "scale", "weights"))
    bias = _floats([data["bias"]])
    if not (type(features) is list and features and all(type(f) is str and FEATURE.match(f) for f in features)
            and type(note) is str and mean is not None and scale is not None and weights is not None and bias):
        return None
    if not len(mean) == len(scale) == len(weights) == len(features) or any(s <= 0 for s in scale):
        return None
    return Calibration(list(features), mean, scale, weights, bias[0], note)


ECHO_MAX = 10_000
"""The most words `echo_words` may ask for (a pattern repeats a word that many times)."""


def _count(v: Any) -> bool:
    return type(v) is int and v >= 1


def _floats(values: Any) -> list[float] | None:
    """Numbers as floats, as pydantic reads them; None when any is not a number."""
    if type(values) is not list or not all(type(x) in (int, float) for x in values):
        return None
    try:
        out = [float(x) for x in values]
    except OverflowError:
        return None
    return out if all(map(math.isfinite, out)) else None


def _codebook(values: dict) -> Codebook:
    """The codebook from the schema's validated values."""
    return Codebook(values["name"], values["reading_window"], values["echo_words"],
                    [Flag(**f) for f in values["flags"]],
                    {k: Calibration(**c) for k, c in values["calibration"].items()})
