"""The debate strip: the vote of the latest round and the vote's accuracy round by round, live."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from warroom_tui.engine.debate import DebateSnapshot


def debate_line(snap: DebateSnapshot | None) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append("debate ", style="dim")
    if snap is None or not snap.rounds:
        line.append("waiting for the first answers", style="dim")
        return line
    last = snap.rounds[-1]
    line.append(f"vote R{last.round} ", style="dim")
    line.append(last.vote or "-", style="bold green" if last.correct else "bold red")
    line.append(" ✓" if last.correct else " ✗", style="bold green" if last.correct else "bold red")
    if last.tied:
        line.append(" (tie)", style="yellow")
    line.append(f" (answer {snap.answer})", style="dim")
    line.append("  │ vote ", style="dim")
    line.append(" ".join(("✓" if r.correct else "✗") for r in snap.rounds[-12:]), style="bold")
    line.append("  │ accuracy ", style="dim")
    line.append(" ".join(f"{r.accuracy:.2f}".replace("0.", ".") for r in snap.rounds[-8:]), style="bold")
    line.append(f"  │ distinct {last.distinct}", style="dim")
    if last.changed is not None:
        line.append(f"  │ changed {last.changed:.0%}", style="dim")
    return line


class DebateStrip(Static):
    DEFAULT_CSS = """
    DebateStrip { height: 1; padding: 0 1; background: $panel; }
    """

    def show(self, snap: DebateSnapshot | None) -> None:
        self.update(debate_line(snap))
