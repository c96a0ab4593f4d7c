"""The debate and roles tables of `warroom report` (plain Text cells: names are data, never markup)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from warroom_tui.analysis.stats import R_LEGEND
from warroom_tui.analysis.tables import _f, comparison_table, cosine_table
from warroom_tui.untrusted import one_line
from warroom_tui.wording import counted


def _split(group: str) -> tuple[Text, Text]:
    series, _, roles = group.partition(" · roles=")
    return Text(one_line(series)), Text(one_line(roles))


def debate_table(dep: dict) -> Table:
    t = Table(title=Text(f"Debate: per round, over {dep['runs']} finished debates (vote: plurality, ties to the "
                         "first answer given)"))
    t.caption = Text("vote: share of runs whose vote is right; agents: share of the agents that answered whose "
                     "answer is right; distinct: different answers; changed: share of agents that changed their "
                     "answer since the round before", style="dim")
    t.caption_justify = "left"
    for col in ("series", "roles", "round", "runs", "vote", "agents", "distinct", "changed"):
        t.add_column(col, justify="left" if col in ("series", "roles") else "right",
                     overflow="fold" if col in ("series", "roles") else "ellipsis")
    for row in dep["rounds"]:
        t.add_row(*_split(row["group"]), str(row["round"]), str(row["runs"]), _f(row["vote_accuracy"], 2),
                  _f(row["accuracy"], 2), _f(row["distinct"], 2), _f(row["changed"], 2))
    return t


def agent_table(dep: dict) -> Table:
    t = Table(title=Text("Debate: each agent's accuracy, round by round"))
    t.add_column("series", overflow="fold")
    t.add_column("roles", overflow="fold")
    t.add_column("agent", overflow="fold")
    t.add_column("accuracy per round (0, 1, ...)")
    per: dict[tuple[str, str], list[str]] = {}
    for row in dep["rounds"]:
        for name, acc in row["agents"].items():
            per.setdefault((row["group"], name), []).append(_f(acc, 2))
    for (group, name), values in sorted(per.items()):
        t.add_row(*_split(group), Text(one_line(name)), " ".join(values))
    return t


def roles_tables(roles: dict, correction: str) -> list:
    if not roles:
        return []
    sub = {"cosine": roles["cosine"], "comparisons": roles["comparisons"], "legend": R_LEGEND,
           "correction": correction}
    cos = cosine_table(sub)
    cos.title = Text("Emergent vs assigned roles: mean pairwise cosine of agent profiles, per run (bootstrap 95% CI)")
    cmp = comparison_table(sub)
    cmp.title = Text("roles = none vs assigned roles, same series: Mann-Whitney U of per-run mean cosine")
    out: list = [cos, cmp]
    if roles.get("mixed"):
        out.append(Text(f"{counted(roles['mixed'], 'run')} whose roles changed mid-run are left out of this comparison",
                        style="dim"))
    return out


def debate_group(dep: dict | None, roles: dict | None, correction: str = "holm") -> Group:
    parts: list = roles_tables(roles or {}, correction)
    if dep and dep["rounds"]:
        parts += [debate_table(dep), agent_table(dep)]
    return Group(*parts)
