"""The conditions bar and the simulated banner."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ConditionsBar(Static):
    DEFAULT_CSS = """
    ConditionsBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, *, naming, scaffolding: str, temperature: float, crashes: list[str], round_: int,
             rounds: int, state: str) -> None:
        naming_text = "custom" if isinstance(naming, list) else str(naming)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {state} ", style="bold reverse")
        for label, value, style in (
            ("round", f"{round_}/{rounds}", "bold"), ("naming", naming_text, "bold"),
            ("scaffold", scaffolding, "bold"), ("temp", f"{temperature:.2f}", "bold"),
            ("crash", ", ".join(crashes) or "-", "bold red" if crashes else "dim"),
        ):
            t.append(" │ ", style="dim")
            t.append(f"{label} ", style="dim")
            t.append(value, style=style)
        self.update(t)


class SimBanner(Static):
    DEFAULT_CSS = """
    SimBanner { height: 1; background: $warning; color: $background; text-style: bold; content-align: center middle; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(Text("SIMULATED AGENTS: scripted personas, not real models", justify="center"), **kwargs)
