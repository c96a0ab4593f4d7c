"""What one run is, for any executor: a scenario, its replicate and seed (and a sweep's cell label).

A run's identity is the hash of its spec: the scenario's content (its batch size `replicates` and base
`seed` left out: they say which runs to make, not what a run is), the run's seed and its replicate. The
store keeps it per run (`runs.spec`), so the same command on the local executor or on Ray finds the runs
it already made: finished ones are kept, an interrupted one goes on from its stored messages.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass

from warroom_tui.scenario import Scenario


def spec_key(scenario: Scenario, seed: int, replicate: int) -> str:
    content = scenario.model_dump(mode="json", exclude={"replicates", "seed"})
    doc = json.dumps({"scenario": content, "seed": seed, "replicate": replicate}, sort_keys=True,
                     ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()[:32]


@dataclass(frozen=True, eq=False)
class RunSpec:
    scenario: Scenario
    replicate: int
    seed: int
    cell: str | None = None
    """A sweep's cell label, carried through to the results (not part of the identity)."""

    @property
    def key(self) -> str:
        return spec_key(self.scenario, self.seed, self.replicate)


def batch_specs(scenario: Scenario, runs: int | None = None, seed: int | None = None) -> list[RunSpec]:
    """`runs` replicates of one scenario (default: its `replicates`); replicate i uses seed + i."""
    base = scenario.seed if seed is None else seed
    return [RunSpec(scenario, i, base + i) for i in range(runs or scenario.replicates)]


def models_needed(specs: list[RunSpec]) -> list[str]:
    """Every model the runs call, each as often as the largest roster uses it (a bundled model's server gets
    a slot per agent)."""
    need: Counter[str] = Counter()
    for spec in specs:
        need |= Counter(a.model for a in spec.scenario.roster())
    return sorted(need.elements())
