"""Judge overlays: flag tallies per agent and similarity sparklines with condition marks."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static
from warroom_tui.analysis.agreement import mean_kappa

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 24) -> str:
    """Values in [0, 1] as block characters, newest last; nan shows as a gap."""
    out = []
    for v in values[-width:]:
        out.append(" " if v is None or math.isnan(v) else BLOCKS[min(7, max(0, int(round(v * 7))))])
    return "".join(out)


def short(flag_name: str) -> str:
    return flag_name[:2].upper()


def tally_text(n: int, counts: dict[str, int], names: dict[str, str], mode: str, spark: str = "") -> str:
    if mode == "rates":
        body = " ".join(f"{short(names[f])}{(c / n if n else 0):.2f}".replace("0.", ".") for f, c in counts.items())
    else:
        body = " ".join(f"{short(names[f])}{c}" for f, c in counts.items())
    return f"{body} /{n}" + (f"  {spark}" if spark else "")


class JudgeStrip(Static):
    """Group similarity over the run (one block a round), marks under rounds where a condition changed."""

    DEFAULT_CSS = """
    JudgeStrip { height: 2; padding: 0 1; background: $panel; }
    """

    def show(self, judge: str, group: list[tuple[int, float]], marks: list[int], kappa: dict[str, float],
             uncoded: int, width: int = 30) -> None:
        values = [v for _, v in group][-width:]
        rounds = [r for r, _ in group][-width:]
        last = next((v for v in reversed(values) if not math.isnan(v)), float("nan"))
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("similarity ", style="dim")
        line.append(sparkline(values, width), style="bold cyan")
        line.append(f" {last:.2f}" if not math.isnan(last) else " -", style="bold")
        line.append(f"  ({judge})", style="dim")
        if kappa:
            mean = mean_kappa(kappa.values())
            line.append("  │ κ ", style="dim")
            line.append(f"{mean:.2f}" if not math.isnan(mean) else "-", style="bold")
        if uncoded:
            line.append(f"  │ uncoded {uncoded}", style="yellow")
        marker = Text(no_wrap=True)
        marker.append(" " * len("similarity "))
        marked = set(marks)
        marker.append("".join("▲" if r in marked else " " for r in rounds), style="yellow")
        if marked:
            marker.append("  ▲ condition changed", style="dim")
        self.update(Text("\n").join([line, marker]))
