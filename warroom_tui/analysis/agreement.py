"""Agreement between coders."""

from __future__ import annotations

from typing import Hashable, Iterable, Mapping, TypeVar

import math

import numpy as np

K = TypeVar("K", bound=Hashable)


def cohen_kappa(a, b) -> float:
    """Cohen's kappa for two binary codings of the same items (scipy has none; this is the textbook formula).

    Returns nan when it is undefined: no items, or neither coder varies (chance agreement is 1, so
    agreement beyond chance is 0/0; a flag nobody ever set is not "perfect agreement").
    """
    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError("codings differ in length")
    if x.size == 0:
        return float("nan")
    return float(_kappas(x[None, :], y[None, :])[0])


def _kappas(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Kappa of each row pair of two boolean matrices (the one formula; nan where it is undefined)."""
    po = (xs == ys).mean(axis=1)
    pa, pb = xs.mean(axis=1), ys.mean(axis=1)
    pe = pa * pb + (1 - pa) * (1 - pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pe >= 1.0, np.nan, (po - pe) / (1 - pe))


def mean_kappa(kappas: Iterable[float]) -> float:
    """The mean over the flags where kappa is defined (nan when it is defined for none)."""
    defined = [k for k in kappas if not math.isnan(k)]
    return sum(defined) / len(defined) if defined else float("nan")


def flag_kappas(a: Mapping[K, Mapping[str, bool]], b: Mapping[K, Mapping[str, bool]],
                flags: Iterable[str]) -> dict[str, float]:
    """Per-flag kappa between two coders over the items both coded (a flag left out counts as false); plus `n`."""
    common = [m for m in a if m in b]
    out = {f: cohen_kappa([a[m].get(f, False) for m in common], [b[m].get(f, False) for m in common]) for f in flags}
    out["n"] = float(len(common))
    return out


def kappa_table(codings: dict[str, dict[int, dict[str, bool]]], flags: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """Per-flag kappa for every pair of coders, over the messages both coded."""
    names = list(codings)
    return {(a, b): flag_kappas(codings[a], codings[b], flags) for i, a in enumerate(names) for b in names[i + 1:]}


def kappa_with_ci(a: Mapping[K, Mapping[str, bool]], b: Mapping[K, Mapping[str, bool]], flags: Iterable[str],
                  resamples: int = 2_000, seed: int = 42, groups: Mapping[K, Hashable] | None = None) -> dict:
    """Per-flag kappa over the items both coded, with a 95% percentile bootstrap interval (seeded); `n` items. With
    `groups` (item -> its run), whole groups are resampled: the items of one run are not independent, and
    resampling them one by one gives too narrow an interval. An interval needs at least 10 items (else NaN);
    resamples in which kappa is undefined (neither coder varies) are left out of it."""
    common = [m for m in a if m in b]
    n = len(common)
    rng = np.random.default_rng(seed)
    draws: np.ndarray | list[np.ndarray] | None = None
    if n >= 10 and groups is None:
        draws = rng.integers(0, n, size=(resamples, n))
    elif n >= 10 and groups is not None:
        members: dict = {}
        for i, m in enumerate(common):
            members.setdefault(groups.get(m), []).append(i)
        parts = [np.array(v) for v in members.values()]
        draws = [np.concatenate([parts[g] for g in rng.integers(0, len(parts), size=len(parts))])
                 for _ in range(resamples)]
    out: dict = {"n": n, "flags": {}, "resampled": "items" if groups is None else "groups"}
    if groups is not None:
        out["groups"] = len({groups.get(m) for m in common})
    for f in flags:
        x = np.array([bool(a[m].get(f, False)) for m in common], dtype=bool)
        y = np.array([bool(b[m].get(f, False)) for m in common], dtype=bool)
        low = high = float("nan")
        if draws is not None:
            k = _kappas(x[draws], y[draws]) if isinstance(draws, np.ndarray) else \
                np.array([_kappas(x[d][None, :], y[d][None, :])[0] for d in draws])
            if not np.isnan(k).all():
                low, high = (float(v) for v in np.nanpercentile(k, [2.5, 97.5]))
        out["flags"][f] = {"kappa": cohen_kappa(x, y), "ci_low": low, "ci_high": high}
    return out
