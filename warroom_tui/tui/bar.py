"""The conditions bar and the simulated banner."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ConditionsBar(Static):
    """Run state, round, naming, scaffolding, temperature, injected crashes: labelled when there is room,
    compact (`R1/10 · neutral · full · T0.80`) when the terminal is narrow, so nothing is cut at 80 columns."""

    DEFAULT_CSS = """
    ConditionsBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.values: dict = {}

    def show(self, *, naming, scaffolding: str, temperature: float, crashes: list[str], round_: int,
             rounds: int, state: str, roles: str = "none") -> None:
        self.values = dict(naming="custom" if isinstance(naming, list) else str(naming), scaffolding=scaffolding,
                           temperature=temperature, crashes=crashes, round_=round_, rounds=rounds, state=state,
                           roles=roles)
        self.update(self.line(self.content_size.width or 200))

    def on_resize(self) -> None:
        if self.values:
            self.update(self.line(self.content_size.width))

    def line(self, width: int) -> Text:
        for compact in (0, 1, 2, 3):
            line = self._line(compact)
            if line.cell_len <= width:
                break
        return line

    def _line(self, compact: int) -> Text:
        """compact 0: labelled; 1: short labels; 2: and crash kinds abbreviated; 3: and the roles too."""
        v = self.values
        crashes = [c.rsplit(":", 1)[0] + ":" + c.rsplit(":", 1)[1][:4] for c in v["crashes"]] if compact >= 2 \
            else v["crashes"]
        roles = "-".join(part[:4] for part in v.get("roles", "none").split("-")) if compact == 3 \
            else v.get("roles", "none")
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {v['state']} ", style="bold reverse")
        cells = (("round", f"{v['round_']}/{v['rounds']}", "R"), ("naming", v["naming"], ""),
                 ("scaffold", v["scaffolding"], ""),
                 *((("roles", roles, ""),) if roles != "none" else ()),  # shown when assigned
                 ("temp", f"{v['temperature']:.2f}", "T"), ("crash", ", ".join(crashes) or "-", "crash "))
        for label, value, short in cells:
            t.append(" · " if compact else " │ ", style="dim")
            t.append(short if compact else f"{label} ", style="dim")
            t.append(value, style="bold red" if label == "crash" and crashes else
                     ("dim" if label == "crash" else "bold"))
        return t


class SimBanner(Static):
    DEFAULT_CSS = """
    SimBanner { height: 1; background: $warning; color: $background; text-style: bold; content-align: center middle; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(Text("SIMULATED AGENTS: scripted personas, not real models", justify="center"), **kwargs)
