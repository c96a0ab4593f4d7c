"""Codebooks as TOML data: flags, descriptions for LLM judges, parameters for the built-in coder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from warroom_tui.tomlfile import field_error, read_toml

DEFAULT_CODEBOOK = Path(__file__).with_name("codebook_v4.toml")
SHIPPED = ("v4", "interaction")
"""Codebooks shipped beside this module (`codebook_<name>.toml`): `--codebook interaction` names one."""


class CodebookError(Exception):
    """One line naming the file and the field."""


FEATURE = re.compile(r"^(?:(?:rule|hits):[a-z][a-z0-9_]{0,30}|log_chars|copied_chars)$")


class Calibration(BaseModel):
    """A small L2-regularised logistic model over the built-in coder's own readings of a message, deciding
    one flag (fitted on the human-coded development half by bench/coder_eval.py --fit). Features:
    `rule:<flag>` (that flag's rule, 0/1), `hits:<flag>` (how many of its patterns match, up to 3),
    `log_chars` (log of 1 + the message's length), `copied_chars` (share of its characters copied)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[str] = Field(min_length=1)
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    note: str = ""

    @field_validator("features")
    @classmethod
    def _known(cls, features: list[str]) -> list[str]:
        for f in features:
            if not FEATURE.match(f):
                raise ValueError(f"unknown feature {f!r}")
        return features

    @model_validator(mode="after")
    def _sizes(self) -> "Calibration":
        if not len(self.mean) == len(self.scale) == len(self.weights) == len(self.features):
            raise ValueError("features, mean, scale and weights must have one value each")
        if any(s <= 0 for s in self.scale):
            raise ValueError("scale values must be positive")
        return self


class Flag(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")
    label: str = ""
    description: str = Field(min_length=1)
    trait: bool = True
    """Part of an agent's profile (reactive flags such as COMP are reported apart)."""
    kind: Literal["short", "keywords", "terms", "assign", "agree", "crashed", "xref", "none"] = "keywords"
    patterns: list[str] = []
    cues: list[str] = []
    terms: list[str] = []
    substance: list[str] = []
    levels: list[tuple[str, str]] = []
    max_words: int = Field(default=15, ge=1)
    min_count: int = Field(default=2, ge=1)
    whole_count: int | None = Field(default=None, ge=2)
    """A terms flag: a reading that names fewer than `min_count` terms but at least one still sets the flag
    when the whole message, past the reading window, names this many."""
    window: int = Field(default=80, ge=1)
    broadcast_share: float = Field(default=0.75, gt=0, le=1)
    """COMP and AGREE: a line naming this share of the roster is a broadcast @-list, not a reference."""
    skip_copied: bool = False
    """Do not read words the agent repeated verbatim from what it had seen (echoed errors, peers)."""

    @field_validator("patterns", "cues", "terms", "substance")
    @classmethod
    def _compiles(cls, values: list[str]) -> list[str]:
        for v in values:
            try:
                re.compile(v.replace("{name}", "x"))
            except re.error as exc:
                raise ValueError(f"bad regular expression {v!r}: {exc}") from None
        return values

    @property
    def name(self) -> str:
        return self.label or self.id.upper()


class Codebook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    reading_window: int | None = Field(default=None, ge=1)
    echo_words: int = Field(default=20, ge=1)
    """A run of this many words copied verbatim from what the agent had seen is an echo, not its own
    words: flags with `skip_copied` do not read it."""
    flags: list[Flag] = Field(min_length=1)
    calibration: dict[str, Calibration] = {}
    """Flags the built-in coder decides with a fitted model over its readings, instead of its rule alone.
    In the TOML: a JSON file name, next to the codebook (else one shipped with warroom)."""

    @field_validator("flags")
    @classmethod
    def _unique(cls, flags: list[Flag]) -> list[Flag]:
        ids = [f.id for f in flags]
        if len(set(ids)) != len(ids):
            raise ValueError("flag ids must be unique")
        return flags

    @model_validator(mode="after")
    def _calibrated_flags(self) -> "Codebook":
        ids = set(self.ids)
        for flag, cal in self.calibration.items():
            if flag not in ids:
                raise ValueError(f"calibration for an unknown flag {flag!r}")
            for f in cal.features:
                if ":" in f and f.split(":", 1)[1] not in ids:
                    raise ValueError(f"calibration of {flag}: feature {f!r} names an unknown flag")
        return self

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


def shipped_codebook(name: str) -> Path:
    return Path(__file__).with_name(f"codebook_{name}.toml")


def load_codebook(path: str | Path | None = None) -> Codebook:
    path = Path(path) if path else DEFAULT_CODEBOOK
    if not path.exists() and str(path) in SHIPPED:
        path = shipped_codebook(str(path))
    data = read_toml(path, CodebookError)
    where = path
    if isinstance(data.get("calibration"), str):
        where = path.parent / data["calibration"]
        if not where.is_file() and (DEFAULT_CODEBOOK.parent / data["calibration"]).is_file():
            where = DEFAULT_CODEBOOK.parent / data["calibration"]  # a copy of a shipped codebook
        try:
            data["calibration"] = json.loads(where.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CodebookError(f"{path}: calibration: cannot read {where.name}: {exc}") from None
    try:
        return Codebook.model_validate(data)
    except ValidationError as exc:
        bad = where if exc.errors()[0]["loc"][:1] == ("calibration",) else path
        raise CodebookError(f"{bad}: {field_error(exc)}") from None
