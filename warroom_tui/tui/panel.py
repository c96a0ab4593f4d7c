"""One agent's live panel: status, tags, the message streaming in, tokens/s, message count, copy share."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from warroom_tui.engine.transcript import clean_text

STATUS_STYLE = {"waiting": "dim", "typing": "bold yellow", "done": "green", "error": "bold red",
                "crashed": "bold white on red", "loading": "cyan", "timing out (injected)": "bold magenta",
                "stopped": "dim"}


class AgentPanel(Widget, can_focus=True):
    """Attributes down: the screen sets fields and calls `refresh_view` (at most ~15 times a second)."""

    DEFAULT_CSS = """
    AgentPanel { height: 3; border-left: outer $primary 50%; padding: 0 0 0 1; }
    AgentPanel:focus { background: $boost; border-left: outer $accent; }
    AgentPanel.-typing { border-left: outer $warning; }
    AgentPanel.-error { border-left: outer $error; }
    AgentPanel.-crashed { border-left: outer $error; background: $error 15%; }
    AgentPanel.-done { border-left: outer $success; }
    """

    status: reactive[str] = reactive("waiting")

    def __init__(self, index: int, nickname: str, name: str, model: str, family: str = "", recipe: str = "",
                 simulated: bool = False, base: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.nickname = nickname
        self.agent_name = name
        self.model = model
        self.family = family
        self.recipe = recipe
        self.base = base
        self.simulated = simulated
        self.temperature: float | None = None
        self.run_temperature: float | None = None
        """The run's temperature for every agent: a different `temperature` is this agent's own override."""
        self.stream = ""
        self.tokens = 0
        self.started = 0.0
        self.rate = 0.0
        self.count = 0
        self.copies: list[float] = []  # copy share of each message (words repeated from what it had seen)
        self.dirty = True
        self.overlay = ""  # a line the judge overlay may set (issue 4)
        self.role = ""  # an assigned role's name ("" under roles = none)
        self.answer: tuple[str, bool] | None = None  # a debate: the last answer read, and whether it is right

    def watch_status(self, old: str, new: str) -> None:
        self.remove_class(f"-{old.split()[0]}")
        self.add_class(f"-{new.split()[0]}")
        self.dirty = True

    def begin(self, now: float) -> None:
        self.stream, self.tokens, self.started = "", 0, now
        self.dirty = True

    def feed(self, text: str, now: float) -> None:
        self.stream += text
        if len(self.stream) > 4_000:
            self.stream = self.stream[-2_000:]
        self.tokens += 1
        elapsed = now - self.started
        self.rate = self.tokens / elapsed if elapsed > 0 else 0.0
        self.dirty = True

    @property
    def overridden(self) -> bool:
        """This agent runs at its own temperature, not the run's."""
        return (self.temperature is not None and self.run_temperature is not None
                and abs(self.temperature - self.run_temperature) > 1e-9)

    def refresh_view(self) -> None:
        if self.dirty:
            self.dirty = False
            self.refresh()

    def render(self) -> Text:
        """Head line first; then the model/family tags (on up to two lines, before anything else), the judge
        overlay, and the tail of the message. With no room for the tags, the model goes on the head line."""
        width = max(10, self.size.width - 1)
        head = Text()
        head.append(clean_text(self.nickname), style="bold")
        if self.role:
            head.append(f" {clean_text(self.role)}", style="bold magenta")
        head.append(f"  {self.status}", style=STATUS_STYLE.get(self.status, ""))
        if self.status == "typing" and self.rate:
            head.append(f" {self.rate:.0f} tok/s", style="dim")
        head.append(f"  #{self.count}", style="dim")
        if self.answer is not None:
            head.append(f"  = {clean_text(self.answer[0])} {'✓' if self.answer[1] else '✗'}",
                        style="bold green" if self.answer[1] else "bold red")
        if self.overridden:
            head.append(f"  T={self.temperature:.2f} own", style="bold cyan")
        if self.copies:
            head.append(f"  copy {sum(self.copies) / len(self.copies):.0%}", style="dim")
        tags = [t for t in (self.agent_name if self.agent_name != self.nickname else "", self.model,
                            self.family, self.recipe, f"on {self.base}" if self.base else "") if t]
        if self.temperature is not None and not self.overridden:
            tags.append(f"T={self.temperature:.2f}")
        if self.simulated:
            tags.insert(0, "SIM")
        rows = max(0, self.size.height - 1)
        if rows < 2:
            head.append(f"  {clean_text(self.model)}", style="italic dim")
        lines = [head]
        if rows >= 2:
            tag_lines = Text(clean_text(" · ".join(tags)), style="italic dim").wrap(self.app.console, width)
            keep = max(1, min(len(tag_lines), 2, rows - (1 if self.overlay else 0)))
            if keep < len(tag_lines):  # what does not fit ends in an ellipsis, never silently
                tag_lines[keep - 1].append(" " + " ".join(str(t) for t in tag_lines[keep:]))
            lines.extend(tag_lines[:keep])
            rows -= keep
        if self.overlay and (rows >= 2 or (rows == 1 and self.status != "typing")):
            lines.append(Text(self.overlay, style="cyan"))
            rows -= 1
        for line in lines:
            line.truncate(width, overflow="ellipsis")
        if rows > 0:
            tail = " ".join(clean_text(self.stream).split())
            lines.append(Text(tail[-(width * rows):], style="" if self.status != "error" else "red"))
        return Text("\n").join(lines)
