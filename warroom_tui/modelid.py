"""Model ids: the one test for a simulated agent."""

from __future__ import annotations

SIM_PREFIX = "sim/"


def is_simulated(model: str) -> bool:
    """A scripted persona (`sim/<persona>`), not a real model."""
    return model.startswith(SIM_PREFIX)
