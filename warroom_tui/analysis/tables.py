"""The study's tables as rich renderables (plain Text cells: names are data, never markup)."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text


def _f(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def _p(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.2e}" if v < 0.001 else f"{v:.3f}"


def heat(v: float) -> Text:
    """A cell coloured by its rate (0 to 1)."""
    if math.isnan(v):
        return Text("-")
    shade = int(40 + 200 * max(0.0, min(1.0, v)))
    return Text(f"{v:.2f}", style=f"black on rgb({shade},{shade},255)" if v > 0 else "dim")


def profile_tables(rep: dict, series: list[str] | None = None) -> list[Table]:
    out = []
    for s, agents in sorted(rep["profiles"].items()):
        if series and s not in series:
            continue
        t = Table(title=Text(f"agent profiles: series {s}"), show_lines=False)
        t.add_column("agent")
        for f in rep["flags"]:
            t.add_column(f.upper(), justify="right")
        t.add_column("n", justify="right")
        for name, prof in sorted(agents.items()):
            t.add_row(Text(name), *[heat(prof[f]) for f in rep["flags"]], str(int(prof["n"])))
        out.append(t)
    return out


def rq1_table(rep: dict) -> Table:
    t = Table(title=Text(f"RQ1: do agents differ? Kruskal-Wallis per flag (series {rep['rq1']['series']})"))
    for col in ("flag", "groups", "H", "p", "p (Bonferroni)"):
        t.add_column(col, justify="right" if col != "flag" else "left")
    for row in rep["rq1"]["tests"]:
        t.add_row(row["flag"].upper(), str(row["groups"]), _f(row["H"], 2), _p(row["p"]), _p(row["p_bonferroni"]))
    return t


def rq2_table(rep: dict) -> Table:
    t = Table(title=Text("RQ2: compensation for the crashed agent"))
    for col in ("series", "runs", "events", "per run", "runs with events", "L1", "L2", "L3"):
        t.add_column(col, justify="right" if col != "series" else "left")
    for row in rep["rq2"]:
        t.add_row(Text(row["series"]), str(row["runs"]), str(row["events"]), _f(row["per_run"], 2),
                  str(row["runs_with_events"]), str(row["L1"]), str(row["L2"]), str(row["L3"]))
    return t


def cosine_table(rep: dict) -> Table:
    t = Table(title=Text("Mean pairwise cosine of agent profiles, per run (bootstrap 95% CI)"))
    for col in ("series", "runs", "mean", "95% CI", "paper"):
        t.add_column(col, justify="right" if col != "series" else "left")
    for row in rep["cosine"]:
        t.add_row(Text(row["series"]), str(row["runs"]), _f(row["mean"]),
                  f"[{_f(row['ci_low'])}, {_f(row['ci_high'])}]", _f(row["paper"], 2) if row["paper"] else "")
    return t


def comparison_table(rep: dict) -> Table:
    t = Table(title=Text("RQ3-RQ5: Mann-Whitney U of per-run mean cosine (two-sided)"))
    for col in ("question", "x", "y", "mean x", "mean y", "U", "p", "r"):
        t.add_column(col, justify="left" if col in ("question", "x", "y") else "right")
    for row in rep["comparisons"]:
        t.add_row(Text(row["question"]), Text(row["x"]), Text(row["y"]), _f(row["mean_x"]), _f(row["mean_y"]),
                  _f(row["U"], 1), _p(row["p"]), _f(row["r"]))
    return t


def report_group(rep: dict, profile_series: list[str] | None = None) -> Group:
    return Group(*profile_tables(rep, profile_series), rq1_table(rep), rq2_table(rep), cosine_table(rep),
                 comparison_table(rep))
