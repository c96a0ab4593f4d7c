"""Recipe versus family: partner-conditioned flag rates and the share of behavioural distance each tag explains.

- Per responder (an agent, by display name), the rate of one flag over its messages, conditioned on its
  partner's tag (the agent it replied to: see judge/partners.py), with 95% percentile bootstrap intervals
  over runs (runs resampled whole, 2,000 resamples, seed 42); the partner-conditioned shift is the highest
  minus the lowest partner level's rate (the follow-up study's "about 18%" is such a shift).
- The decomposition: PERMANOVA (Anderson 2001, "A new method for non-parametric multivariate analysis of
  variance", Austral Ecology 26:32-46) on Euclidean distances between agent-run flag profiles, one factor
  at a time: R^2 (the share of the total sum of squared distances between the levels) and a permutation
  p-value (999 permutations of the tags among the agents of each run, so a run's own character stays put).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

BOOTSTRAP = 2_000
PERMUTATIONS = 999
SEED = 42
MIN_RUNS = 3
"""Fewer runs than this behind a rate: no interval."""
TAGS = ("family", "base", "recipe")
METHOD = ("PERMANOVA (Anderson 2001, Austral Ecology 26:32-46): Euclidean distances between agent-run flag "
          "profiles, each factor alone; R^2 = its share of the total sum of squares; p from 999 permutations "
          "of the tags among the agents of each run")
INTERVALS = "95% percentile bootstrap over runs (2,000 resamples of whole runs, seed 42)"


@dataclass(frozen=True)
class Observation:
    """One coded agent message."""

    run_id: int
    responder: str
    tags: dict[str, str]
    partners: tuple[dict[str, str], ...]
    """The tags of each agent it replied to (none: left out of the partner tables)."""
    flags: dict[str, bool]


@dataclass
class Unit:
    """One agent in one run: its tags and flag counts."""

    run_id: int
    responder: str
    tags: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)
    n: int = 0


def _rates(k: np.ndarray, n: np.ndarray, draws: np.ndarray | None) -> tuple[float, np.ndarray | None]:
    rate = float(k.sum() / n.sum()) if n.sum() else float("nan")
    if draws is None:
        return rate, None
    kk, nn = k[draws].sum(axis=1), n[draws].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return rate, kk / nn


def partner_table(obs: list[Observation], flag: str, tag: str, resamples: int = BOOTSTRAP,
                  seed: int = SEED) -> list[dict]:
    """Per responder: the flag's rate by the partner's `tag`, with intervals, and the shift between levels."""
    runs = sorted({o.run_id for o in obs})
    where = {r: i for i, r in enumerate(runs)}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(runs), size=(resamples, len(runs))) if runs else None
    by: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    tags_of: dict[str, dict[str, str]] = {}
    for o in obs:
        tags_of.setdefault(o.responder, o.tags)
        for level in {p.get(tag, "") or "?" for p in o.partners}:
            k, n = by[o.responder].setdefault(level, (np.zeros(len(runs)), np.zeros(len(runs))))
            n[where[o.run_id]] += 1
            k[where[o.run_id]] += bool(o.flags.get(flag))
    out = []
    for responder in sorted(by):
        levels: list[dict] = []
        boots: dict[str, np.ndarray | None] = {}
        for level, (k, n) in sorted(by[responder].items()):
            enough = int((n > 0).sum()) >= MIN_RUNS
            rate, boot = _rates(k, n, draws if enough else None)
            boots[level] = boot
            low, high = (float(np.nanpercentile(boot, 2.5)), float(np.nanpercentile(boot, 97.5))) \
                if boot is not None else (float("nan"), float("nan"))
            levels.append({"partner": level, "rate": rate, "ci_low": low, "ci_high": high, "n": int(n.sum()),
                           "runs": int((n > 0).sum())})
        row: dict = {"responder": responder, **{t: tags_of[responder].get(t, "") for t in TAGS}, "levels": levels}
        rated = [lv for lv in levels if lv["n"]]
        if len(rated) >= 2:
            hi = max(rated, key=lambda lv: lv["rate"])
            lo = min(rated, key=lambda lv: lv["rate"])
            row["shift"] = hi["rate"] - lo["rate"]
            row["relative_shift"] = hi["rate"] / lo["rate"] - 1 if lo["rate"] > 0 else float("nan")
            row["high"], row["low"] = hi["partner"], lo["partner"]
            b_hi, b_lo = boots[hi["partner"]], boots[lo["partner"]]
            if b_hi is not None and b_lo is not None:
                diff = b_hi - b_lo
                row["shift_ci"] = (float(np.nanpercentile(diff, 2.5)), float(np.nanpercentile(diff, 97.5)))
        out.append(row)
    return out


def units(obs: list[Observation]) -> list[Unit]:
    found: dict[tuple[int, str], Unit] = {}
    for o in obs:
        u = found.setdefault((o.run_id, o.responder), Unit(o.run_id, o.responder, o.tags))
        u.n += 1
        for f, v in o.flags.items():
            u.counts[f] = u.counts.get(f, 0) + bool(v)
    return list(found.values())


def profiles(us: list[Unit], flags: list[str]) -> np.ndarray:
    return np.array([[u.counts.get(f, 0) / u.n for f in flags] for u in us]) if us else np.zeros((0, len(flags)))


def _ssw(d2: np.ndarray, codes: np.ndarray, groups: int) -> np.ndarray:
    """Within-group sums of squares for one or many labellings (`codes`: N or P x N)."""
    codes = np.atleast_2d(codes)
    onehot = (codes[:, :, None] == np.arange(groups)[None, None, :]).astype(float)  # P x N x a
    sizes = onehot.sum(axis=1)  # P x a
    within = (np.matmul(d2[None], onehot) * onehot).sum(axis=1) / 2  # sum over pairs in each group
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(np.where(sizes > 0, within / sizes, 0.0), axis=1)


def permanova(x: np.ndarray, labels: list[str], strata: list[int] | None = None,
              permutations: int = PERMUTATIONS, seed: int = SEED) -> dict:
    """One-factor PERMANOVA on Euclidean distances between the rows of `x` (Anderson 2001)."""
    n = len(labels)
    levels = sorted(set(labels))
    a = len(levels)
    if a < 2 or n - a < 1:
        return {"r2": float("nan"), "F": float("nan"), "p": float("nan"), "groups": a, "n": n,
                "note": "not enough data: fewer than 2 levels" if a < 2 else "not enough data"}
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    sst = d2[np.triu_indices(n, 1)].sum() / n
    if sst <= 0:
        return {"r2": float("nan"), "F": float("nan"), "p": float("nan"), "groups": a, "n": n,
                "note": "not enough data: all profiles equal"}
    codes = np.array([levels.index(v) for v in labels])
    ssw = float(_ssw(d2, codes, a)[0])
    f_obs = ((sst - ssw) / (a - 1)) / (ssw / (n - a)) if ssw > 0 else float("inf")
    rng = np.random.default_rng(seed)
    blocks = [np.flatnonzero(np.asarray(strata) == s) for s in sorted(set(strata))] if strata else [np.arange(n)]
    perms = np.empty((permutations, n), dtype=int)
    for p in range(permutations):
        perm = codes.copy()
        for b in blocks:
            perm[b] = codes[rng.permutation(b)]
        perms[p] = perm
    hits = 0
    for chunk in range(0, permutations, 100):
        w = _ssw(d2, perms[chunk:chunk + 100], a)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = ((sst - w) / (a - 1)) / (w / (n - a))
        hits += int((f >= f_obs - 1e-12).sum())
    return {"r2": (sst - ssw) / sst, "F": f_obs, "p": (hits + 1) / (permutations + 1), "groups": a, "n": n,
            "note": ""}


def decomposition(obs: list[Observation], flags: list[str], tags: list[str],
                  permutations: int = PERMUTATIONS, seed: int = SEED) -> dict:
    us = units(obs)
    x = profiles(us, flags)
    strata = [u.run_id for u in us]
    rows = []
    for tag in tags:
        res = permanova(x, [u.tags.get(tag, "") or "?" for u in us], strata, permutations, seed)
        rows.append({"factor": tag, **res})
    return {"flags": flags, "units": len(us), "agents": len({u.responder for u in us}), "factors": rows,
            "method": METHOD}


def factor_report(obs: list[Observation], flag: str, flags: list[str], factors: list[str],
                  resamples: int = BOOTSTRAP, permutations: int = PERMUTATIONS) -> dict:
    """What `warroom report --factors` prints: partner tables for each tag factor (when `partner` is one of
    the factors) and the decomposition over the tag factors."""
    tags = [f for f in factors if f in TAGS]
    partnered = [o for o in obs if o.partners]
    out: dict = {"flag": flag, "factors": factors, "messages": len(obs), "with_partner": len(partnered),
                 "intervals": INTERVALS, "partner": {}}
    if "partner" in factors:
        for tag in tags:
            out["partner"][tag] = partner_table(partnered, flag, tag, resamples)
    out["decomposition"] = decomposition(obs, flags, tags, permutations)
    return out
