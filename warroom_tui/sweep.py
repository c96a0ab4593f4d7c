"""Factorial sweeps: a design's factors expand into cells, each cell into replicate runs.

A design (TOML) names a base scenario (brief, rounds, schedule), the agents by key with their tags, and
the factors: `panel` (which agents share the chat), `naming`, `scaffolding`, `temperature`, `order` and
`crash`. Every combination of levels is a cell; each cell runs `runs_per_cell` replicates, labelled with
the cell (stored on the run). The runs are plain run specs (runspec.py) handed to an executor (local or
Ray, see executors/), resumed after a kill like `warroom run`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, ValidationError, field_validator, model_validator

from warroom_tui.runspec import RunSpec
from warroom_tui.scenario import (CRASH_KINDS, MAX_RUNS, MAX_SEED, AgentSpec, PlainName, Scaffolding, Scenario,
                                  ScenarioError, find_scenario, load_scenario, parse_scenario)
from warroom_tui.tomlfile import field_error, read_toml

FACTORS = ("panel", "naming", "scaffolding", "temperature", "order", "crash")
TAGGED_SIM = "sim/tagged"


class DesignError(Exception):
    """A design that cannot be used; one line naming the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DesignAgent(AgentSpec):
    name: str = Field(default="", max_length=80)
    """Display name (default: the agent's key)."""


class Factors(_Strict):
    panel: list[list[str]] = Field(min_length=1)
    """Each level: the agent keys in the chat, in position order."""
    naming: list[Literal["neutral", "real"]] | None = None
    scaffolding: list[Scaffolding] | None = None
    temperature: list[StrictFloat] | None = None
    order: list[Literal["fixed", "shuffled"]] | None = None
    crash: list[str] | None = None
    """`none`, or `KIND` (the panel's last agent crashes from round 0), or `KIND@POSITION` (1-based)."""

    @field_validator("naming", "scaffolding", "temperature", "order", "crash")
    @classmethod
    def _levels(cls, values):
        if values is not None and not values:
            raise ValueError("give at least one level (or leave the factor out)")
        if values is not None and len(set(values)) != len(values):
            raise ValueError("levels must be different")
        return values

    @field_validator("temperature")
    @classmethod
    def _temperatures(cls, values):
        for v in values or []:
            if not 0 <= v <= 2:
                raise ValueError(f"temperature {v} is outside 0..2")
        return values

    @field_validator("crash")
    @classmethod
    def _crashes(cls, values):
        for v in values or []:
            kind, _, pos = v.partition("@")
            if v != "none" and (kind not in CRASH_KINDS or (pos and not pos.isdigit())):
                raise ValueError(f"level {v!r} is not none, KIND or KIND@POSITION (kinds: {', '.join(CRASH_KINDS)})")
        return values


class Design(_Strict):
    name: PlainName = Field(min_length=1, max_length=60)
    series: PlainName = Field(default="", max_length=40)
    description: str = ""
    scenario: str = "sim-demo"
    """The base scenario (a shipped name, or a path relative to the design): brief, rounds, schedule."""
    runs_per_cell: int = Field(default=3, ge=1, le=MAX_RUNS, strict=True)
    seed: int = Field(default=0, ge=-MAX_SEED, le=MAX_SEED, strict=True)
    rounds: int | None = Field(default=None, ge=0, le=200, strict=True)
    agents: dict[str, DesignAgent] = Field(min_length=1)
    factors: Factors

    @model_validator(mode="after")
    def _panels(self) -> "Design":
        for i, panel in enumerate(self.factors.panel):
            if not panel:
                raise ValueError(f"factors.panel.{i}: a panel needs at least one agent")
            for key in panel:
                if key not in self.agents:
                    raise ValueError(f"factors.panel.{i}: no agent {key!r} in [agents]")
            if len(set(panel)) != len(panel):
                raise ValueError(f"factors.panel.{i}: an agent appears twice")
        for v in self.factors.crash or []:
            _, _, pos = v.partition("@")
            if pos and any(int(pos) < 1 or int(pos) > len(p) for p in self.factors.panel):
                raise ValueError(f"factors.crash: position {pos} is not in every panel")
        return self


@dataclass(frozen=True)
class Cell:
    levels: dict[str, str]
    """factor -> level, as stored on the run."""
    scenario: Scenario

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.levels.items())


def designs_dir() -> Path:
    return Path(__file__).resolve().parent / "designs"


def find_design(ref: str) -> Path:
    """A path, or the name of a shipped design (`recipe-sim`)."""
    path = Path(ref)
    if path.exists():
        return path
    for candidate in (designs_dir() / ref, designs_dir() / f"{ref}.toml"):
        if candidate.exists():
            return candidate
    shipped = ", ".join(sorted(p.stem for p in designs_dir().glob("*.toml")))
    raise DesignError(f"{ref}: no such design file (shipped: {shipped})")


def load_design(path: str | Path) -> Design:
    path = Path(path)
    data = read_toml(path, DesignError)
    data.setdefault("name", path.stem)
    try:
        return Design.model_validate(data)
    except ValidationError as exc:
        raise DesignError(f"{path}: {field_error(exc)}") from None


def cells(design: Design, source: Path | None = None, backend: str | None = None) -> list[Cell]:
    """Every combination of the factors' levels, as a validated scenario each."""
    ref = design.scenario
    if source is not None and not Path(ref).is_absolute() and (source.parent / ref).exists():
        ref = str(source.parent / ref)
    where = str(source or design.name)
    try:
        base = load_scenario(find_scenario(ref))
    except ScenarioError as exc:
        raise DesignError(f"{where}: scenario: {exc}") from None
    f = design.factors
    axes: list[tuple[str, list]] = [("panel", f.panel)]
    axes += [(name, values) for name, values in (("naming", f.naming), ("scaffolding", f.scaffolding),
             ("temperature", f.temperature), ("order", f.order), ("crash", f.crash)) if values is not None]
    out = []
    for combo in itertools.product(*(values for _, values in axes)):
        chosen = dict(zip((name for name, _ in axes), combo))
        levels = {k: ("+".join(v) if k == "panel" else str(v)) for k, v in chosen.items()}
        out.append(Cell(levels, _cell_scenario(design, base, chosen, levels, where, backend)))
    return out


def _cell_scenario(design: Design, base: Scenario, chosen: dict, levels: dict[str, str], where: str,
                   backend: str | None) -> Scenario:
    agents = []
    for key in chosen["panel"]:
        a = design.agents[key]
        spec = a.model_dump(exclude_none=True) | {"name": a.name or key}
        if backend == "sim":  # simulated agents play their tags (see the simulator's `tagged` persona)
            spec = spec | {"model": TAGGED_SIM}
            spec.pop("kind", None)
        agents.append(spec)
    data = base.model_dump(mode="json", exclude={"clones"})
    cond = dict(data["conditions"])
    for k in ("naming", "scaffolding", "temperature", "order"):
        if k in chosen:
            cond[k] = chosen[k]
    if isinstance(cond.get("naming"), list):
        cond["naming"] = "neutral"  # a base scenario's custom names fit its own roster only
    cond["crashes"] = []
    crash = chosen.get("crash", "none")
    if crash != "none":
        kind, _, pos = crash.partition("@")
        cond["crashes"] = [{"agent": pos or str(len(agents)), "kind": kind}]
    data.update(name=f"{design.name}[{','.join(f'{k}={v}' for k, v in levels.items())}]",
                series=design.series or design.name[:40], description=design.description or base.description,
                agents=agents, conditions=cond, cell=levels, seed=design.seed, replicates=design.runs_per_cell)
    if design.rounds is not None:
        data["rounds"] = design.rounds
    try:
        return parse_scenario(data, source=f"{where} (cell {','.join(f'{k}={v}' for k, v in levels.items())})")
    except ScenarioError as exc:
        raise DesignError(str(exc)) from None


def run_specs(design: Design, cell_list: list[Cell], runs_per_cell: int | None = None) -> list[RunSpec]:
    """Replicate r of every cell uses seed design.seed + r (cells paired by seed)."""
    n = runs_per_cell or design.runs_per_cell
    return [RunSpec(c.scenario, r, design.seed + r, cell=c.label) for c in cell_list for r in range(n)]
