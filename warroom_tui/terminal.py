"""The CLI's terminal: every character it prints from data or models is cleaned of escapes and controls."""

from __future__ import annotations

from typing import Iterable

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from warroom_tui.untrusted import UNSAFE_RE, clean_text


class CleanConsole(Console):
    """A rich Console for text from data and models: every string it is given (table cells, progress
    descriptions, prints) is cleaned before it is laid out, and as a last guard every segment it renders
    loses any control character left (a Text built elsewhere), so no ESC, OSC 52, C1 or bare CR reaches the
    terminal. Rich's own styling travels apart from the text and is kept."""

    def render_str(self, text: str, **kwargs) -> Text:
        return super().render_str(clean_text(text), **kwargs)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for seg in super().render(renderable, options):
            if not seg.control and UNSAFE_RE.search(seg.text):
                seg = Segment(UNSAFE_RE.sub("", seg.text), seg.style, seg.control)  # characters, not sequences:
            yield seg  # a segment may hold part of one
