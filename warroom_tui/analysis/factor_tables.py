"""The recipe-versus-family report as rich renderables (plain Text cells: names are data, never markup)."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

from warroom_tui.untrusted import one_line


def _f(v: float, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))) else f"{v:.{digits}f}"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    t = Table(title=Text(title))
    for c in columns:
        t.add_column(Text(c))
    for r in rows:
        t.add_row(*[Text(one_line(x)) for x in r])  # names and tags are data
    return t


def factor_group(rep: dict) -> Group:
    name = rep["flag"].upper()
    parts: list = [Text(f"{rep['messages']} coded messages ({rep['with_partner']} with a partner), labels from "
                        f"{rep['coder']}"
                        + (f"; {rep['simulated_left_out']} simulated runs left out" if rep["simulated_left_out"]
                           else ""))]
    if rep.get("partners_unknown"):
        parts.append(Text(f"{rep['partners_unknown']} messages have no partners computed yet: run `warroom judge`"))
    for tag, rows in rep["partner"].items():
        rates, shifts = [], []
        for r in rows:
            for lv in r["levels"]:
                ci = f"{lv['ci_low']:.2f}-{lv['ci_high']:.2f}" if not math.isnan(lv["ci_low"]) else "-"
                rates.append([r["responder"], r[tag], lv["partner"], _f(lv["rate"]), ci, str(lv["n"]), str(lv["runs"])])
            if "shift" in r:
                rel = f"{r['relative_shift']:+.0%}" if not math.isnan(r["relative_shift"]) else "-"
                ci = f"{r['shift_ci'][0]:+.2f} to {r['shift_ci'][1]:+.2f}" if "shift_ci" in r else "-"
                shifts.append([r["responder"], r["high"], r["low"], f"{r['shift']:+.3f}", ci, rel])
        parts.append(_table(f"{name} rate by the partner's {tag}",
                            ["responder", f"its {tag}", f"partner {tag}", "rate", "95% CI", "messages", "runs"], rates))
        parts.append(_table(f"partner-conditioned shift of {name} ({tag})",
                            ["responder", "highest with", "lowest with", "shift", "95% CI", "relative"], shifts))
    if rep["partner"]:
        parts.append(Text(f"rates: {rep['intervals']}. shift: the highest minus the lowest partner level (relative: "
                          "to the lowest), its interval from the same resamples; both levels are picked on the same "
                          "data, so with no partner effect a shift is still about the half-width of its interval."))
    d = rep["decomposition"]
    parts.append(_table(f"between-agent behavioural distance ({', '.join(f.upper() for f in d['flags'])} profiles, "
                        f"{d['units']} agent-runs of {d['agents']} agents)",
                        ["factor", "levels", "share (R²)", "pseudo-F", "p"],
                        [[r["factor"], str(r["groups"]), _f(r["r2"]), _f(r["F"]), r["note"] or f"{r['p']:.3f}"]
                         for r in d["factors"]]))
    parts.append(Text(d["method"]))
    return Group(*parts)
