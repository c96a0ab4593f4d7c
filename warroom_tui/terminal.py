"""The CLI's terminal: every character it prints from data or models is cleaned of escapes and controls."""

from __future__ import annotations

from typing import Iterable

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

from warroom_tui.untrusted import UNSAFE_RE, clean_text


class CleanConsole(Console):
    """A rich Console that cleans the text of every segment it renders (tables, progress bars, plain prints),
    so a name or a reply can never carry ESC, OSC 52, C1 or a bare CR to the terminal. Rich's own styling
    travels apart from the text and is kept."""

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for seg in super().render(renderable, options):
            if not seg.control and UNSAFE_RE.search(seg.text):
                seg = Segment(clean_text(seg.text), seg.style, seg.control)
            yield seg

