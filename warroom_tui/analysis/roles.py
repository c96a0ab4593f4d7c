"""Emergent vs assigned roles: differentiation (mean pairwise cosine of flag profiles) with roles = none and
with assigned roles over the same panel (the same series), with the study's tests (Mann-Whitney U, Holm)."""

from __future__ import annotations

import dataclasses

from warroom_tui.analysis.stats import RunData, comparisons, run_cosines, series_cosine_table

NONE = "none"


def group(series: str, roles: str) -> str:
    return f"{series} · roles={roles}"


def roles_comparison(runs: list[RunData], roles: dict[int, str], traits: list[str],
                     correction: str = "holm") -> dict:
    """`roles`: run id -> its roles label (`none`, `generator-critic`, a custom list joined with +, or `mixed`
    when the roles changed during the run: left out). Empty when no series has runs under both."""
    labels: dict[str, set[str]] = {}
    for r in runs:
        label = roles.get(r.run_id, NONE)
        if label != "mixed":
            labels.setdefault(r.series, set()).add(label)
    both = {s for s, ls in labels.items() if NONE in ls and len(ls) > 1}
    if not both:
        return {}
    regrouped = [dataclasses.replace(r, series=group(r.series, roles.get(r.run_id, NONE))) for r in runs
                 if r.series in both and roles.get(r.run_id, NONE) != "mixed"]
    cosines = run_cosines(regrouped, traits)
    pairs = [(f"{s}: roles none vs {label}", group(s, NONE), group(s, label))
             for s in sorted(both) for label in sorted(labels[s] - {NONE})]
    return {"cosine": series_cosine_table(cosines, regrouped), "comparisons": comparisons(cosines, pairs, correction),
            "mixed": sum(roles.get(r.run_id) == "mixed" for r in runs)}
