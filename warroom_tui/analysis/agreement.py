"""Agreement between coders."""

from __future__ import annotations

from typing import Hashable, Iterable, Mapping, TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)


def cohen_kappa(a, b) -> float:
    """Cohen's kappa for two binary codings of the same items (scipy has none; this is the textbook formula).

    Returns nan for no items; 1.0 when both coders are constant and identical.
    """
    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError("codings differ in length")
    if x.size == 0:
        return float("nan")
    po = float(np.mean(x == y))
    pa, pb = float(x.mean()), float(y.mean())
    pe = pa * pb + (1 - pa) * (1 - pb)
    if pe >= 1.0:
        return 1.0 if po == 1.0 else 0.0
    return (po - pe) / (1 - pe)


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
