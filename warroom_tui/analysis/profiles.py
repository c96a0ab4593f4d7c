"""Agent flag profiles and their similarity (the study's differentiation measure)."""

from __future__ import annotations

from itertools import combinations

import numpy as np


def profile(labels: list[dict[str, bool]], flags: list[str]) -> np.ndarray:
    """Rate of each flag over an agent's coded messages."""
    if not labels:
        return np.zeros(len(flags))
    return np.array([[bool(l.get(f, False)) for f in flags] for l in labels], dtype=float).mean(axis=0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    return float(np.dot(a, b) / (na * nb))


def mean_pairwise_cosine(profiles: dict, min_agents: int = 2) -> float:
    """Mean cosine over all pairs of agents; all-zero profiles are left out, as in the study."""
    vecs = [v for v in profiles.values() if np.any(v)]
    if len(vecs) < min_agents:
        return float("nan")
    return float(np.mean([cosine(a, b) for a, b in combinations(vecs, 2)]))


def agent_vs_rest(profiles: dict) -> dict:
    """Each agent's mean cosine with every other (non-zero) agent."""
    out = {}
    for key, v in profiles.items():
        others = [w for k, w in profiles.items() if k != key and np.any(w)]
        out[key] = float(np.mean([cosine(v, w) for w in others])) if np.any(v) and others else float("nan")
    return out
