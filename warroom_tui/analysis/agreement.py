"""Agreement between coders."""

from __future__ import annotations

import numpy as np


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


def kappa_table(codings: dict[str, dict[int, dict[str, bool]]], flags: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """Per-flag kappa for every pair of coders, over the messages both coded."""
    names = list(codings)
    out: dict[tuple[str, str], dict[str, float]] = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = sorted(set(codings[a]) & set(codings[b]))
            out[(a, b)] = {f: cohen_kappa([codings[a][m].get(f, False) for m in common],
                                          [codings[b][m].get(f, False) for m in common]) for f in flags}
            out[(a, b)]["n"] = float(len(common))
    return out
