"""The shared chat: a bounded log of plain-text messages that follows only while at the bottom.

Messages are kept and rendered again when the width changes (a message that arrived while the
terminal was narrow is not left wrapped at that width) and when the Markdown view is toggled.
"""

from __future__ import annotations

from bisect import bisect_right

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message as Notice
from textual.widgets import RichLog

from warroom_tui.engine.transcript import Message, clean_text, marker_label
from warroom_tui.untrusted import one_line
from warroom_tui.tui.text import MAX_SHOWN, clipped

Entry = tuple[Message, str] | str
"""A message with its clock, or a marker line."""


class ChatLog(RichLog):
    """Every message in order; keeps the newest `max_lines` rendered lines.

    Keys (when focused): arrows, PageUp/PageDown, Home/End and ctrl+Home/ctrl+End scroll; enter shows the
    details of the last message in view (a click: of the message clicked).
    """

    DEFAULT_CSS = """
    ChatLog { border: round $primary 40%; padding: 0 1; scrollbar-size-vertical: 1; }
    ChatLog:focus { border: round $accent; }
    """
    BINDINGS = [
        Binding("ctrl+end", "scroll_end", "Bottom", show=False),
        Binding("ctrl+home", "scroll_home", "Top", show=False),
        Binding("enter", "details", "Details", show=False),
    ]
    MAX_ENTRIES = 2_500

    class Selected(Notice):
        """A message was chosen (enter or a click) to see its details."""

        def __init__(self, chat: "ChatLog", message: Message) -> None:
            super().__init__()
            self.chat = chat
            self.message = message

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=5_000, wrap=True, markup=False, highlight=False, min_width=20,
                         auto_scroll=True, **kwargs)
        self.border_title = "shared chat"
        self.messages: list[Message] = []
        self.entries: list[Entry] = []
        self.starts: list[int] = []
        """The absolute line where each rendered entry starts (parallel to `entries`)."""
        self.following = True
        """New messages scroll into view: true while the reader is at the bottom."""
        self.markdown = False
        """Finished agent messages rendered as Markdown (raw text is the default, for fidelity)."""
        self._rendered_width = 0
        self._rendering = False

    @property
    def at_bottom(self) -> bool:
        return self.scroll_y >= self.max_scroll_y - 1

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._rendering:
            self.following = self.at_bottom

    def action_scroll_end(self) -> None:
        """Jump to the bottom and follow again (no animation: a message landing mid-way would stop it short)."""
        self.following = True
        self.scroll_end(animate=False, immediate=True)

    # -- writing -------------------------------------------------------------
    def add_message(self, m: Message, clock: str = "") -> None:
        self.messages.append(m)
        if len(self.messages) > 2_000:
            del self.messages[:500]
        self._add((m, clock))

    def add_marker(self, text: str) -> None:
        self._add(text)

    def reset(self) -> None:
        self.messages.clear()
        self.entries.clear()
        self.starts.clear()
        self.following = True
        self.clear()

    def toggle_markdown(self) -> bool:
        self.markdown = not self.markdown
        self.rerender()
        return self.markdown

    def _add(self, entry: Entry) -> None:
        self.entries.append(entry)
        if len(self.entries) > self.MAX_ENTRIES:
            cut = len(self.entries) - self.MAX_ENTRIES + 500
            del self.entries[:cut]
            del self.starts[:cut]
        if self._size_known:
            self._write(entry)

    def _write(self, entry: Entry) -> None:
        self.starts.append(self._start_line + len(self.lines))
        self.write(self._renderable(entry), scroll_end=self.following)

    def _renderable(self, entry: Entry) -> RenderableType:
        if isinstance(entry, str):
            return Text(f"◆ {clean_text(entry)}", style="bold yellow")
        m, clock = entry
        if self.markdown and m.is_agent and not m.is_error:
            return render_markdown(m, clock)
        return render_message(m, clock)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width:
            self._size_known = True  # RichLog's own handler then has nothing deferred to flush
        if self._size_known and self.scrollable_content_region.width != self._rendered_width:
            self.rerender()

    def rerender(self) -> None:
        """Render every kept entry again at the current width (and view)."""
        if not self._size_known:
            return
        following, y = self.following, self.scroll_y
        self._rendering = True
        try:
            self._rendered_width = self.scrollable_content_region.width
            self.clear()
            self.starts.clear()
            for entry in self.entries:
                self._write(entry)
        finally:
            self._rendering = False
        if not following:
            self.scroll_to(y=y, animate=False, immediate=True)
        self.following = following

    # -- choosing a message ----------------------------------------------------
    def message_at(self, line: int) -> Message | None:
        """The message shown on this line of the content (0 = the first kept line)."""
        k = bisect_right(self.starts, self._start_line + line) - 1
        while 0 <= k < len(self.entries):
            entry = self.entries[k]
            if not isinstance(entry, str) and entry[0].sender != "system":
                return entry[0]
            k -= 1
        return None

    def action_details(self) -> None:
        """The message on the last line in view."""
        m = self.message_at(int(self.scroll_y) + max(0, self.scrollable_content_region.height - 1))
        if m is not None:
            self.post_message(self.Selected(self, m))

    def on_click(self, event: events.Click) -> None:
        region = self.scrollable_content_region
        line = int(self.scroll_y) + event.y - (region.y - self.region.y)
        m = self.message_at(line)
        if m is not None:
            self.post_message(self.Selected(self, m))


def header(m: Message, clock: str = "") -> Text:
    out = Text()
    if m.sender == "user":
        out.append("User", style="bold magenta")
        if m.seq == 0:
            out.append(" · brief", style="dim")
    else:
        out.append(one_line(m.nickname), style="bold red" if m.is_error else "bold green")
        if m.name and m.name != m.nickname:
            out.append(f" ({one_line(m.name)})", style="dim")
        out.append(f" · R{m.round}", style="dim")
    if clock:
        out.append(f" · {clock}", style="dim")
    return out


def render_message(m: Message, clock: str = "") -> Text:
    if m.sender == "system":
        return Text(f"──── {clean_text(marker_label(m))} ────", style="bold cyan", justify="center")
    out = header(m, clock)
    out.append("\n")
    body = clipped(m.text)
    if m.is_error:
        body.stylize("red")
        if not m.visible:
            body.append(" (hidden from peers)", style="dim italic")
    out.append_text(body)
    out.append("\n")
    return out


def render_markdown(m: Message, clock: str = "") -> Group:
    """Model text as Markdown: escapes and control characters removed first, links not made clickable,
    Rich markup never parsed (Markdown has none)."""
    text = clean_text(m.text)
    clipped_note = Text(f"… ({len(text) - MAX_SHOWN:,} more characters)", style="dim italic") \
        if len(text) > MAX_SHOWN else Text("")
    return Group(header(m, clock), Markdown(text[:MAX_SHOWN], hyperlinks=False), clipped_note)


__all__ = ["ChatLog", "render_message", "render_markdown"]
