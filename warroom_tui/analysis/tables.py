"""The study's tables as rich renderables (plain Text cells: names are data, never markup)."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

from warroom_tui.untrusted import clean_text, one_line


SMALL_N = 100
"""Messages coded by both below which a kappa against the human is flagged as rough."""


def _text(text: str, **kwargs) -> Text:
    """Names and series are data: plain text on one line, cleaned of escapes and controls (untrusted.one_line)."""
    return Text(one_line(text), **kwargs)


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
        t = Table(title=_text(f"agent profiles: series {s}"), show_lines=False)
        t.add_column("agent")
        for f in rep["flags"]:
            t.add_column(f.upper(), justify="right")
        t.add_column("n", justify="right")
        for name, prof in sorted(agents.items()):
            t.add_row(_text(name), *[heat(prof[f]) for f in rep["flags"]], str(int(prof["n"])))
        out.append(t)
    return out


def _n(n: dict[str, int]) -> str:
    """Runs per group: `7 x 12` when every group has 12, else each group's."""
    counts = sorted(set(n.values()))
    if len(counts) == 1:
        return f"{len(n)} x {counts[0]}"
    return ", ".join(f"{name} {k}" for name, k in n.items())


def _tested(cells: list, note: str, p_column: int) -> list:
    """The statistic cells, or "not enough data" in place of the p-value and dashes for the rest."""
    if not note:
        return cells
    shown: list = ["-"] * len(cells)
    shown[p_column] = Text("not enough data" + (" (all tied)" if "tied" in note else ""), style="yellow")
    return shown


def rq1_table(rep: dict) -> Table:
    t = Table(title=_text(f"RQ1: do agents differ? Kruskal-Wallis per flag (series {rep['rq1']['series']})"))
    for col in ("flag", "runs per agent", "H", "p", f"p ({rep['correction']})"):
        t.add_column(col, justify="right" if col != "flag" else "left")
    for row in rep["rq1"]["tests"]:
        t.add_row(_text(row["flag"].upper()), _text(_n(row["n"])),
                  *_tested([_f(row["H"], 2), _p(row["p"]), _p(row["p_adjusted"])], row["note"], 1))
    return t


def rq2_table(rep: dict) -> Table:
    flag = rep.get("rq2_flag")
    caption = _text(f"events: messages coded {flag['id'].upper()} ({flag['description'].rstrip('.')}); L1-L3: the "
                    "events at each level (one without a level is counted in events only)") if flag else None
    t = Table(title=Text("RQ2: compensation for the crashed agent"), caption=caption, caption_justify="left")
    for col in ("series", "runs", "events", "per run", "runs with events", "L1", "L2", "L3"):
        t.add_column(col, justify="right" if col != "series" else "left")
    for row in rep["rq2"]:
        t.add_row(_text(row["series"]), str(row["runs"]), str(row["events"]), _f(row["per_run"], 2),
                  str(row["runs_with_events"]), str(row["L1"]), str(row["L2"]), str(row["L3"]))
    return t


def _short(rep: dict) -> dict[str, dict]:
    """The cosine rows of the series not all of whose runs have a cosine, by series."""
    return {row["series"]: row for row in rep.get("cosine", []) if row.get("of", row["runs"]) > row["runs"]}


def cosine_table(rep: dict) -> Table:
    short = _short(rep)
    caption = None
    if short:  # the runs counted are not all of the series': say why
        caption = _text("runs left out (" + ", ".join(f"{s}: {row['of'] - row['runs']} of {row['of']}"
                                                      for s, row in short.items()) + "): fewer than two agents with"
                        " any flag; a cosine needs two profiles that are not all zero")
    t = Table(title=Text("Mean pairwise cosine of agent profiles, per run (bootstrap 95% CI)"), caption=caption,
              caption_justify="left")
    for col in ("series", "runs", "mean", "95% CI", "paper"):
        t.add_column(col, justify="right" if col != "series" else "left")
    for row in rep["cosine"]:
        t.add_row(_text(row["series"]), str(row["runs"]), _f(row["mean"]),
                  f"[{_f(row['ci_low'])}, {_f(row['ci_high'])}]" if row["ci_low"] == row["ci_low"] else "-", _f(row["paper"], 2) if row["paper"] else "")
    return t


def comparison_table(rep: dict) -> Table:
    """One text column (the comparison, which names x and y) that may wrap; numbers never cut."""
    short = _short(rep)
    named = [s for s in dict.fromkeys(v for row in rep["comparisons"] for v in (row["x"], row["y"])) if s in short]
    caption = rep["legend"] + ("" if not named else " Of " + ", ".join(
        f"{s}, {short[s]['runs']} of its {short[s]['of']} runs" for s in named) + " have a cosine and are compared"
        " (the others have fewer than two agents with any flag: see the cosine table).")
    t = Table(title=Text("RQ3-RQ5: Mann-Whitney U of per-run mean cosine (two-sided)"),
              caption=_text(caption), caption_justify="left")
    t.add_column("comparison", ratio=1, min_width=12)
    for col in ("n x/y", "mean x", "mean y", "U", "p", f"p ({rep['correction']})", "r"):
        t.add_column(col, justify="right", no_wrap=True)
    for row in rep["comparisons"]:
        pair = f"{row['x']} vs {row['y']}"
        label = row["question"] if row["question"] == pair else f"{row['question']}: {pair}"
        t.add_row(_text(label), f"{row['n1']}/{row['n2']}", _f(row["mean_x"]), _f(row["mean_y"]),
                  *_tested([_f(row["U"], 1), _p(row["p"]), _p(row["p_adjusted"]), _f(row["r"])], row["note"], 1))
    if not rep["comparisons"]:
        t.add_row(Text("no pair of series with runs to compare", style="yellow"), *[""] * 7)
    return t


def guard_note(rep: dict) -> Text:
    n, method = rep["min_runs"], rep["correction"]
    how = "not corrected for multiple tests (--correction none): the same as p" if method == "none" else \
        "corrected within each family of tests (RQ1's flags; RQ3-RQ5's comparisons)"
    return Text(f"A test needs at least {n} runs in every group and values that are not all tied, else it shows "
                f"'not enough data' (and no 95% CI below {n} runs). p ({method}): {how}.", style="dim")


def trust(rep: dict) -> list:
    """Who coded the flags and how well that coder agrees with each human coder in the store."""
    src = rep.get("labels_from")
    if not src:
        return []
    head = Text("labels from ", style="dim")
    head.append(clean_text(src["coder"]), style="bold")
    panel = f": panel of {', '.join(src['judges'])}" if src["judges"] else ""
    head.append(clean_text(f" ({src['kind']}{panel})"), style="dim")
    out: list = [head]
    if not src["humans"]:
        out.append(Text("no human labels in the store: how far these flags match a person is unknown "
                        "(warroom import --human, or h in the lab)", style="yellow"))
    for h in src["humans"]:
        by = f"resampling whole runs, {h['groups']} of them" if h.get("resampled") == "groups" else "resampling messages"
        t = Table(title=_text(f"{src['coder']} against human coder {h['human']}: Cohen's kappa over {h['n']} "
                              f"messages (95% bootstrap CI, {by})"), title_justify="left")
        t.add_column("flag")
        t.add_column("kappa", justify="right")
        t.add_column("95% CI", justify="right")
        for f, k in h["flags"].items():
            ci = "-" if math.isnan(k["ci_low"]) else f"[{_f(k['ci_low'], 2)}, {_f(k['ci_high'], 2)}]"
            kappa = "undefined" if math.isnan(k["kappa"]) else _f(k["kappa"], 2)
            t.add_row(_text(f.upper()), kappa, ci)
        out.append(t)
        if any(math.isnan(k["kappa"]) for k in h["flags"].values()):
            out.append(Text("undefined: neither coder ever varied on that flag in these messages, so agreement "
                            "beyond chance cannot be measured", style="dim"))
        if h["n"] < SMALL_N:
            out.append(Text(f"only {h['n']} messages coded by both: these kappas are rough (an interval needs 10; "
                            f"{SMALL_N}+ give a usable one)", style="yellow"))
    return out


def report_group(rep: dict, profile_series: list[str] | None = None) -> Group:
    return Group(*trust(rep), *profile_tables(rep, profile_series), rq1_table(rep), rq2_table(rep),
                 cosine_table(rep), comparison_table(rep), guard_note(rep))
