"""The conditions of a live run, changeable between any two turns."""

from __future__ import annotations

from dataclasses import dataclass, field

from warroom_tui.engine.roles import assign
from warroom_tui.scenario import CrashSpec, Scenario, nicknames_for, resolve_agent

PERMANENT_ERROR = (
    "The model `{model}` has been decommissioned and is no longer supported. "
    "Please refer to the provider's deprecations page for a recommendation on which model to use instead."
)
TRANSIENT_ERROR = "{model} is currently over capacity. Please try again and back off exponentially."
TIMEOUT_ERROR = "Request to {model} timed out after {timeout:g} s."
EMPTY_ERROR = "{model} returned an empty reply."


@dataclass
class Crash:
    kind: str
    from_round: int = 0
    visible: bool = True
    message: str | None = None

    def error_text(self, model: str, timeout: float) -> str:
        if self.message:
            return self.message
        template = {
            "permanent": PERMANENT_ERROR,
            "transient": TRANSIENT_ERROR,
            "timeout": TIMEOUT_ERROR,
            "empty": EMPTY_ERROR,
        }[self.kind]
        return template.format(model=model, timeout=timeout)


@dataclass
class LiveConditions:
    naming: str | list[str]
    scaffolding: str
    temperature: float
    order: str
    clones: bool = False
    roles: str | list[str] = "none"
    generators: int | None = None
    agent_temperature: dict[int, float] = field(default_factory=dict)
    crashes: dict[int, Crash] = field(default_factory=dict)

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "LiveConditions":
        roster = scenario.roster()
        nicks = scenario.nicknames()
        live = cls(
            naming=scenario.conditions.naming,
            scaffolding=scenario.conditions.scaffolding,
            temperature=scenario.conditions.temperature,
            order=scenario.conditions.order,
            clones=scenario.clones is not None,
            roles=scenario.conditions.roles,
            generators=scenario.conditions.generators,
        )
        for i, agent in enumerate(roster):
            if agent.temperature is not None:
                live.agent_temperature[i] = agent.temperature
        for spec in scenario.conditions.crashes:
            who = resolve_agent(spec.agent, roster, nicks)
            assert who is not None  # checked when the scenario loaded
            live.crashes[who] = crash_from_spec(spec)
        return live

    def nicknames(self, roster) -> list[str]:
        return nicknames_for(roster, self.naming, clones=self.clones)

    def roles_for(self, n: int) -> list[str]:
        """One role name per agent ("none": no role)."""
        return assign(self.roles, n, self.generators)

    def temperature_for(self, agent: int) -> float:
        return self.agent_temperature.get(agent, self.temperature)

    def apply(self, field: str, value, agent: int | None = None):
        """Change one condition (`crash` takes a Crash); returns the old value as a change event stores it."""
        old: object
        if field == "naming":
            old, self.naming = self.naming, value
        elif field == "scaffolding":
            old, self.scaffolding = self.scaffolding, value
        elif field == "roles":
            old, self.roles = self.roles, value
        elif field == "temperature" and agent is None:
            old, self.temperature = self.temperature, float(value)
            self.agent_temperature.clear()
        elif field == "temperature" and agent is not None:
            old = self.temperature_for(agent)
            self.agent_temperature[agent] = float(value)
        elif field in ("crash", "revive") and agent is not None:
            before = self.crashes.pop(agent, None)
            old = before.kind if before else None
            if field == "crash":
                self.crashes[agent] = value
        else:
            raise ValueError(f"unknown condition {field!r}")
        return old

    def crash_for(self, agent: int, round_: int) -> Crash | None:
        crash = self.crashes.get(agent)
        if crash is not None and round_ >= crash.from_round:
            return crash
        return None


def crash_from_spec(spec: CrashSpec) -> Crash:
    return Crash(kind=spec.kind, from_round=spec.from_round, visible=spec.visible, message=spec.message)
