"""The shared chat: a bounded log of plain-text messages that follows only while at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from warroom_tui.engine.transcript import Message, marker_label
from warroom_tui.tui.text import clipped


class ChatLog(RichLog):
    """Every message in order; keeps the newest `max_lines` rendered lines."""

    DEFAULT_CSS = """
    ChatLog { border: round $primary 40%; padding: 0 1; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=5_000, wrap=True, markup=False, highlight=False, min_width=20,
                         auto_scroll=True, **kwargs)
        self.border_title = "shared chat"
        self.messages: list[Message] = []

    @property
    def at_bottom(self) -> bool:
        return self.scroll_y >= self.max_scroll_y - 1

    def add_message(self, m: Message, clock: str = "") -> None:
        self.messages.append(m)
        if len(self.messages) > 2_000:
            del self.messages[:500]
        self.write(render_message(m, clock), scroll_end=self.at_bottom)

    def add_marker(self, text: str) -> None:
        self.write(Text(f"◆ {text}", style="bold yellow"), scroll_end=self.at_bottom)

    def reset(self) -> None:
        self.messages.clear()
        self.clear()


def render_message(m: Message, clock: str = "") -> Text:
    if m.sender == "system":
        return Text(f"──── {marker_label(m)} ────", style="bold cyan", justify="center")
    out = Text()
    if m.sender == "user":
        out.append("User", style="bold magenta")
        if m.seq == 0:
            out.append(" · brief", style="dim")
    else:
        out.append(m.nickname, style="bold red" if m.is_error else "bold green")
        if m.name and m.name != m.nickname:
            out.append(f" ({m.name})", style="dim")
        out.append(f" · R{m.round}", style="dim")
    if clock:
        out.append(f" · {clock}", style="dim")
    out.append("\n")
    body = clipped(m.text)
    if m.is_error:
        body.stylize("red")
        if not m.visible:
            body.append(" (hidden from peers)", style="dim italic")
    out.append_text(body)
    out.append("\n")
    return out


__all__ = ["ChatLog", "render_message"]
