"""The study's statistics from stored runs and one coder's labels.

RQ1  Kruskal-Wallis per trait flag across agents (per-run rates).
RQ2  Compensation events per run and by level (runs with a crashed agent).
RQ3-5  Two-sided Mann-Whitney U of per-run mean cosine between series; r = Z / sqrt(N);
     bootstrap 95% CI of each series' mean (10,000 resamples, seed 42).

Guard rails: every test carries its n per group; a group with fewer than MIN_RUNS runs, or all values
tied, gives "not enough data" instead of a p-value; each family (RQ1's flags, RQ3-5's comparisons) is
corrected for multiple comparisons (Holm by default).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from warroom_tui.analysis.profiles import mean_pairwise_cosine, profile

STUDY_COMPARISONS: list[tuple[str, str, str]] = [
    ("RQ3 heterogeneous vs homogeneous", "A", "B"),
    ("RQ4 neutral vs real names", "A", "C"),
    ("RQ5 full vs no peer list", "A", "K1"),
    ("RQ5 full vs no identity", "A", "K2"),
    ("RQ5 full vs empty prompt", "A", "K3"),
]
PAPER_COSINE = {"A": 0.56, "B": 0.85, "C": 0.77, "K3": 0.89}
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 42
MIN_RUNS = 3
"""Fewer runs than this in any group: no test."""
NOT_ENOUGH = "not enough data"
CORRECTIONS = ("holm", "bonferroni", "none")
R_LEGEND = ("r = Z / sqrt(n_x + n_y), from the two-sided Mann-Whitney U: negative when x's runs tend to be "
            "lower than y's, positive when higher; |r| about 0.1 small, 0.3 medium, 0.5 large.")


@dataclass
class RunData:
    run_id: int
    series: str
    crashed: bool
    agents: dict[int, str]
    """agent index -> display name."""
    labels: dict[int, list[dict[str, bool]]] = field(default_factory=dict)
    """agent index -> one dict of flags per coded message."""
    levels: list[str] = field(default_factory=list)
    """comp levels of this run's compensation events."""


def run_profiles(run: RunData, traits: list[str]) -> dict[int, np.ndarray]:
    return {a: profile(ls, traits) for a, ls in run.labels.items() if ls}


def run_cosines(runs: list[RunData], traits: list[str]) -> dict[str, list[float]]:
    """Per series, the per-run mean pairwise cosine (runs with fewer than two non-zero profiles left out)."""
    out: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        value = mean_pairwise_cosine(run_profiles(run, traits))
        if not math.isnan(value):
            out[run.series].append(value)
    return dict(out)


def bootstrap_ci(values: list[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    if len(values) < MIN_RUNS:
        return (float("nan"), float("nan"))
    res = stats.bootstrap((np.asarray(values),), np.mean, n_resamples=resamples, confidence_level=0.95,
                          method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def too_little(samples: list[list[float]]) -> str:
    """Why these groups cannot be tested ("" when they can)."""
    if len(samples) < 2:
        return f"{NOT_ENOUGH}: fewer than 2 groups"
    if min(len(g) for g in samples) < MIN_RUNS:
        return f"{NOT_ENOUGH}: fewer than {MIN_RUNS} runs in a group"
    if len({v for g in samples for v in g}) < 2:
        return f"{NOT_ENOUGH}: all values tied"
    return ""


def adjust(pvalues: list[float], method: str = "holm") -> list[float]:
    """Family-wise corrected p-values (Holm's step-down, or Bonferroni); NaNs stay NaN and do not count."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction: expected one of {', '.join(CORRECTIONS)}, got {method!r}")
    tested = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    out = [float("nan")] * len(pvalues)
    m = len(tested)
    if method == "none":
        for i in tested:
            out[i] = pvalues[i]
    elif method == "bonferroni":
        for i in tested:
            out[i] = min(1.0, pvalues[i] * m)
    else:
        running = 0.0
        for rank, i in enumerate(sorted(tested, key=lambda i: pvalues[i])):
            running = max(running, min(1.0, (m - rank) * pvalues[i]))
            out[i] = running
    return out


def mann_whitney(x: list[float], y: list[float]) -> dict:
    """Two-sided Mann-Whitney U with r = Z / sqrt(N), Z from the tie-corrected normal approximation."""
    n1, n2 = len(x), len(y)
    note = too_little([list(x), list(y)])
    if note:
        return {"U": float("nan"), "p": float("nan"), "z": float("nan"), "r": float("nan"), "n1": n1, "n2": n2,
                "note": note}
    res = stats.mannwhitneyu(x, y, alternative="two-sided")
    ranks = stats.rankdata(np.concatenate([x, y]))
    _, counts = np.unique(ranks, return_counts=True)
    n = n1 + n2
    tie = float(np.sum(counts ** 3 - counts)) / (n * (n - 1)) if n > 1 else 0.0
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie))
    z = (res.statistic - n1 * n2 / 2.0) / sigma if sigma > 0 else 0.0
    return {"U": float(res.statistic), "p": float(res.pvalue), "z": z, "r": z / math.sqrt(n), "n1": n1, "n2": n2,
            "note": ""}


def kruskal_per_flag(runs: list[RunData], traits: list[str], correction: str = "holm") -> list[dict]:
    """RQ1: do agents differ on each flag? Groups are agents (by display name), samples their per-run rates."""
    out: list[dict] = []
    for k, flag in enumerate(traits):
        groups: dict[str, list[float]] = defaultdict(list)
        for run in runs:
            for a, vec in run_profiles(run, traits).items():
                groups[run.agents[a]].append(float(vec[k]))
        samples = {name: g for name, g in sorted(groups.items()) if g}
        note = too_little(list(samples.values()))
        h, p = (float("nan"), float("nan")) if note else map(float, stats.kruskal(*samples.values()))
        out.append({"flag": flag, "H": h, "p": p, "groups": len(samples),
                    "n": {name: len(g) for name, g in samples.items()}, "note": note})
    for row, p_adj in zip(out, adjust([float(row["p"]) for row in out], correction)):
        row["p_adjusted"] = p_adj
    return out


def agent_profiles(runs: list[RunData], traits: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per series, per agent name: mean flag rates over its messages in that series."""
    acc: dict[str, dict[str, list[dict[str, bool]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for a, ls in run.labels.items():
            acc[run.series][run.agents[a]].extend(ls)
    return {s: {name: {f: float(np.mean([l.get(f, False) for l in ls])) for f in traits} | {"n": float(len(ls))}
                for name, ls in agents.items()} for s, agents in acc.items()}


def compensation(runs: list[RunData], comp_flag: str = "comp") -> list[dict]:
    """RQ2: compensation events per run and by level, for series whose runs had a crashed agent."""
    by_series: dict[str, list[RunData]] = defaultdict(list)
    for run in runs:
        if run.crashed:
            by_series[run.series].append(run)
    out = []
    for series, rs in sorted(by_series.items()):
        per_run = [sum(l.get(comp_flag, False) for ls in r.labels.values() for l in ls) for r in rs]
        levels: dict[str, int] = defaultdict(int)
        for r in rs:
            for lvl in r.levels:
                levels[lvl or "?"] += 1
        out.append({"series": series, "runs": len(rs), "events": int(sum(per_run)),
                    "per_run": float(np.mean(per_run)) if per_run else 0.0,
                    "runs_with_events": sum(1 for n in per_run if n),
                    "L1": levels.get("L1", 0), "L2": levels.get("L2", 0), "L3": levels.get("L3", 0)})
    return out


def series_cosine_table(cosines: dict[str, list[float]], runs: list[RunData] | None = None) -> list[dict]:
    """One row a series; `of`: how many of its `runs` there are in all (those without two agents with any flag
    have no cosine and are left out)."""
    total: dict[str, int] = defaultdict(int)
    for run in runs or []:
        total[run.series] += 1
    rows = []
    for series in sorted(set(cosines) | set(total)):  # a series none of whose runs has a cosine: a row of none
        values = cosines.get(series, [])
        low, high = bootstrap_ci(values)
        rows.append({"series": series, "runs": len(values), "of": total.get(series, len(values)),
                     "mean": float(np.mean(values)) if values else float("nan"), "ci_low": low, "ci_high": high,
                     "paper": PAPER_COSINE.get(series)})
    return rows


def comparisons(cosines: dict[str, list[float]], pairs: list[tuple[str, str, str]],
                correction: str = "holm") -> list[dict]:
    """One family: the p-values are corrected together."""
    rows = []
    for label, x, y in pairs:
        if x not in cosines or y not in cosines:
            continue
        mw = mann_whitney(cosines[x], cosines[y])
        rows.append({"question": label, "x": x, "y": y, "mean_x": float(np.mean(cosines[x])),
                     "mean_y": float(np.mean(cosines[y])), **mw})
    for row, p_adj in zip(rows, adjust([row["p"] for row in rows], correction)):
        row["p_adjusted"] = p_adj
    return rows


def report(runs: list[RunData], traits: list[str], pairs: list[tuple[str, str, str]] | None = None,
           rq1_series: str | None = None, correction: str = "holm") -> dict:
    cosines = run_cosines(runs, traits)
    rq1_runs = [r for r in runs if rq1_series is None or r.series == rq1_series]
    if pairs is None:
        pairs = [p for p in STUDY_COMPARISONS if p[1] in cosines and p[2] in cosines]
        if not pairs:  # a user's own series: compare every pair
            names = sorted(cosines)
            pairs = [(f"{x} vs {y}", x, y) for i, x in enumerate(names) for y in names[i + 1:]][:30]
    return {
        "flags": traits,
        "profiles": agent_profiles(runs, traits),
        "rq1": {"series": rq1_series or "all", "tests": kruskal_per_flag(rq1_runs, traits, correction)},
        "rq2": compensation(runs),
        "cosine": series_cosine_table(cosines, runs),
        "comparisons": comparisons(cosines, pairs, correction),
        "correction": correction,
        "min_runs": MIN_RUNS,
        "legend": R_LEGEND,
    }
