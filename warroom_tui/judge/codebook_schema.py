"""The codebook's schema as pydantic models: the checks, coercions and error messages of `load_codebook` for
any document its quick check (codebook.py) does not accept as it is. Imported only then: pydantic is 0.2 s
of `warroom judge`'s start."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from warroom_tui.judge.codebook import ECHO_MAX, FEATURE, compile_error


class Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # a NaN weight decides nothing

    features: list[str] = Field(min_length=1)
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    note: str = ""

    @field_validator("mean", "scale", "weights", "bias", mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> Any:
        if isinstance(v, bool) or (isinstance(v, list) and any(isinstance(x, bool) for x in v)):
            raise ValueError("must be numbers, not true or false")
        return v

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
    kind: Literal["short", "keywords", "terms", "assign", "agree", "crashed", "xref", "none"] = "keywords"
    patterns: list[str] = []
    cues: list[str] = []
    terms: list[str] = []
    substance: list[str] = []
    levels: list[tuple[str, str]] = []
    max_words: int = Field(default=15, ge=1)
    min_count: int = Field(default=2, ge=1)
    whole_count: int | None = Field(default=None, ge=2)
    window: int = Field(default=80, ge=1)
    broadcast_share: float = Field(default=0.75, gt=0, le=1)
    skip_copied: bool = False

    @field_validator("patterns", "cues", "terms", "substance")
    @classmethod
    def _compiles(cls, values: list[str], info: ValidationInfo) -> list[str]:
        for v in values:
            problem = compile_error(v, info.field_name == "terms")
            if problem:
                raise ValueError(problem)
        return values

    @field_validator("levels")
    @classmethod
    def _levels_compile(cls, values: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for _, pattern in values:
            problem = compile_error(pattern)
            if problem:
                raise ValueError(problem)
        return values


class Codebook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    reading_window: int | None = Field(default=None, ge=1)
    echo_words: int = Field(default=20, ge=1, le=ECHO_MAX)
    flags: list[Flag] = Field(min_length=1)
    calibration: dict[str, Calibration] = {}

    @field_validator("flags")
    @classmethod
    def _unique(cls, flags: list[Flag]) -> list[Flag]:
        ids = [f.id for f in flags]
        if len(set(ids)) != len(ids):
            raise ValueError("flag ids must be unique")
        return flags

    @model_validator(mode="after")
    def _calibrated_flags(self) -> "Codebook":
        ids = {f.id for f in self.flags}
        for flag, cal in self.calibration.items():
            if flag not in ids:
                raise ValueError(f"calibration.{flag}: no flag of the codebook has this id")
            for i, f in enumerate(cal.features):
                if ":" in f and f.split(":", 1)[1] not in ids:
                    raise ValueError(f"calibration.{flag}.features.{i}: {f!r} names no flag of the codebook")
        return self


def validate(data: dict) -> dict:
    """The document as pydantic validates it (raises pydantic.ValidationError), as plain values."""
    return Codebook.model_validate(data).model_dump()

