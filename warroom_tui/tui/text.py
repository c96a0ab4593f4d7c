"""Untrusted text to Rich Text: never parsed as markup, escapes and control characters removed."""

from __future__ import annotations

from rich.text import Text

from warroom_tui.engine.transcript import clean_text

MAX_SHOWN = 20_000  # characters of one message shown in the chat


def clipped(text: str, limit: int = MAX_SHOWN) -> Text:
    text = clean_text(text)
    if len(text) <= limit:
        return Text(text)
    out = Text(text[:limit])
    out.append(f"\n… ({len(text) - limit:,} more characters)", style="dim italic")
    return out
