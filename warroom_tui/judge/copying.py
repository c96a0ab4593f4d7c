"""Copying: which words of a message repeat, verbatim, what its agent had already seen.

A word is copied when it lies in a run of N consecutive words (case-folded) that occurs in a
message the agent had seen (transcript seq <= its `seen_upto`: peers, errors, the brief). The copy
share is the fraction of a message's words that are copied.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from warroom_tui.engine.transcript import Message

N = 5
WORD = re.compile(r"\w+")

Spans = tuple[tuple[int, int], ...]


def _grams(words: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(words[i:i + n]) for i in range(len(words) - n + 1))


class Seen:
    """The n-grams of a transcript as it grows, each with the first seq it appeared at."""

    def __init__(self, n: int = N) -> None:
        self.n = n
        self.first: dict[tuple[str, ...], int] = {}

    def add(self, seq: int, text: str) -> None:
        for g in _grams(WORD.findall(text.casefold()), self.n):
            self.first.setdefault(g, seq)

    def spans(self, text: str, upto: int) -> Spans:
        """Character spans of the copied words of `text`, for an agent that had seen seq <= upto."""
        words = list(WORD.finditer(text))
        keys = [w.group(0).casefold() for w in words]
        copied = [False] * len(words)
        for i, g in enumerate(_grams(keys, self.n)):
            if self.first.get(g, upto + 1) <= upto:
                copied[i:i + self.n] = [True] * self.n
        out: list[tuple[int, int]] = []
        prev_end = -1
        for w, c in zip(words, copied):
            if c:
                if out and out[-1][1] == prev_end and "\n" not in text[prev_end:w.start()]:
                    out[-1] = (out[-1][0], w.end())
                else:
                    out.append((w.start(), w.end()))
            prev_end = w.end()
        return tuple(out)


def seen_limit(seq: int, seen_upto: int) -> int:
    """The last seq an agent had seen; imported transcripts do not record it: everything before."""
    return seen_upto if seen_upto >= 0 else seq - 1


def copy_mask(text: str, seen: Iterable[str], n: int = N) -> Spans:
    """Copied spans of `text` given the texts its agent had seen."""
    index = Seen(n)
    for t in seen:
        index.add(0, t)
    return index.spans(text, 0)


def copy_share(text: str, spans: Spans) -> float:
    """The fraction of the words of `text` inside copied spans."""
    words = WORD.findall(text)
    if not words:
        return 0.0
    inside = sum(len(WORD.findall(text[a:b])) for a, b in spans)
    return inside / len(words)


def blank(text: str, spans: Spans) -> str:
    """`text` with its copied spans blanked out (same length, so positions still hold)."""
    if not spans:
        return text
    parts, last = [], 0
    for a, b in spans:
        parts.append(text[last:a])
        parts.append(" " * (b - a))
        last = b
    parts.append(text[last:])
    return "".join(parts)


def dump_spans(spans: Spans) -> str:
    return ",".join(f"{a}-{b}" for a, b in spans)


def load_spans(text: str | None) -> Spans:
    if not text:
        return ()
    bounds = map(int, text.replace("-", ",").split(","))
    return tuple(zip(bounds, bounds))  # the same iterator twice: (start, end) pairs


def measure(seen: Seen, seq: int, seen_upto: int, text: str) -> tuple[float, Spans]:
    """Copy share and copied spans of a message, then the message joins what later ones may copy."""
    spans = seen.spans(text, seen_limit(seq, seen_upto))
    seen.add(seq, text)
    return copy_share(text, spans), spans


def measure_copying(messages: list[Message]) -> None:
    """Set copy share and spans on the agent messages of a whole transcript (in seq order)."""
    seen = Seen()
    for m in messages:
        if m.agent is not None and not m.is_error:
            m.copy_share, m.copied = measure(seen, m.seq, m.seen_upto, m.text)
        else:
            seen.add(m.seq, m.text)

