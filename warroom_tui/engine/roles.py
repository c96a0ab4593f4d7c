"""Assigned roles as a condition: which role each agent plays, and the prompt line it adds.

`roles = "none"` is the study (no role); `"generator-critic"` makes the first k agents generators and the rest
critics; a list names one role per agent. Role prompts are data (warroom_tui/roles/*.toml, or the scenario's
[role_prompts]); a change mid-run is a condition event like naming or scaffolding.
"""

from __future__ import annotations

from warroom_tui.protocol import GENERATOR_CRITIC, NO_ROLE, RoleSpec


def assign(roles: str | list[str], n: int, generators: int | None = None) -> list[str]:
    """One role name per agent ("none": no role)."""
    if isinstance(roles, list):
        return list(roles)
    if roles == GENERATOR_CRITIC:
        k = (n + 1) // 2 if generators is None else min(generators, n)
        return ["generator"] * k + ["critic"] * (n - k)
    if roles == NO_ROLE:
        return [NO_ROLE] * n
    raise ValueError(f"unknown roles {roles!r}")


def role_spec(name: str, table: dict[str, RoleSpec]) -> RoleSpec | None:
    return None if name == NO_ROLE else table.get(name)


def role_kind(name: str, table: dict[str, RoleSpec]) -> str:
    """generator, critic, or "" (no role)."""
    spec = role_spec(name, table)
    return spec.kind if spec is not None else ""


def label(roles: str | list[str]) -> str:
    """How the bar and the report name a roles condition."""
    return "custom" if isinstance(roles, list) else roles
