"""The built-in coder: deterministic rules from the codebook, no network, no model.

It knows who is in the run (names, nicknames, model ids, who crashed), so LEAD,
AGREE, COMP and has_xref are judged against the real roster.
"""

from __future__ import annotations

import re
from functools import lru_cache

from warroom_tui.judge.codebook import Codebook, Flag
from warroom_tui.judge.types import Coding, Roster

HYPHENS = re.compile("[\u2010\u2011\u2012\u2013\u2212]")


AGENT_SPACED = re.compile(r"\bAgent[ _]([A-Z])\b")


def normalize(text: str) -> str:
    text = HYPHENS.sub("-", text.replace("\u00a0", " ").replace("\u202f", " "))
    return AGENT_SPACED.sub(r"Agent-\1", text)


@lru_cache(maxsize=4096)
def _alias_re(aliases: tuple[str, ...]) -> re.Pattern | None:
    alts = sorted({normalize(a).strip() for a in aliases if a and len(a.strip()) >= 2}, key=len, reverse=True)
    if not alts:
        return None
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(a) for a in alts) + r")(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _compile(pattern: str, names: str, flags: int = re.IGNORECASE | re.MULTILINE) -> re.Pattern:
    return re.compile(pattern.replace("{name}", names), flags)


@lru_cache(maxsize=1024)
def _any(patterns: tuple[str, ...], names: str = "") -> re.Pattern | None:
    """One pass for a list of patterns."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p.replace('{name}', names)})" for p in patterns), re.IGNORECASE | re.MULTILINE)


@lru_cache(maxsize=64)
def _terms(terms: tuple[str, ...]) -> list[tuple[str, re.Pattern]]:
    """Each term with its literal prefix: a cheap substring test before the regex runs."""
    out = []
    for t in terms:
        prefix = re.sub(r"[^\w .-].*", "", t.replace("\\.", "."), flags=re.DOTALL)
        prefix = re.split(r"[?*+{(\[|]", prefix)[0].rstrip("\\")
        out.append((prefix if len(prefix) >= 2 else "", re.compile(r"(?<![\w.])(?:" + t + r")(?!\w)")))
    return out


def count_terms(terms: list[str], text: str) -> int:
    return sum(1 for prefix, rx in _terms(tuple(terms)) if (not prefix or prefix in text) and rx.search(text))


def _search(patterns: list[str], text: str, names: str = "") -> bool:
    rx = _any(tuple(patterns), names)
    return rx is not None and rx.search(text) is not None


class BuiltinCoder:
    name = "builtin"

    def __init__(self, codebook: Codebook) -> None:
        self.codebook = codebook

    def code(self, text: str, roster: Roster) -> Coding:
        text = normalize(text)
        if self.codebook.reading_window:
            text = text[: self.codebook.reading_window]
        out = Coding(flags={})
        for flag in self.codebook.flags:
            value, level = self._rule(flag, text, roster)
            out.flags[flag.id] = value
            if level:
                out.levels[flag.id] = level
        return out

    # -- rules -----------------------------------------------------------------
    def _rule(self, flag: Flag, text: str, roster: Roster) -> tuple[bool, str]:
        kind = flag.kind
        if kind == "short":
            words = len(text.split())
            return words < flag.max_words and not _search(flag.substance, text), ""
        if kind == "keywords":
            return _search(flag.patterns, text), ""
        if kind == "terms":
            if not flag.terms:
                return False, ""
            return count_terms(flag.terms, text) >= flag.min_count, ""
        others = [a for i, a in enumerate(roster.aliases) if i != roster.speaker]
        names = _names_alt(tuple(others))
        if kind == "xref":
            return names is not None and _compile(names, "").search(text) is not None, ""
        if names is None:
            return False, ""
        if kind == "assign":
            return _search(flag.cues, text, names), ""
        if kind == "agree":
            return self._agree(flag, text, names), ""
        if kind == "crashed":
            return self._crashed(flag, text, roster)
        return False, ""

    def _agree(self, flag: Flag, text: str, names: str) -> bool:
        spots = [m.start() for m in _compile(names, "").finditer(text)]
        if not spots:
            return False
        cues = _any(tuple(flag.cues))
        if cues is None:
            return False
        return any(abs(m.start() - s) <= flag.window for m in cues.finditer(text) for s in spots)

    def _crashed(self, flag: Flag, text: str, roster: Roster) -> tuple[bool, str]:
        dead = [roster.aliases[i] for i in sorted(roster.crashed) if i != roster.speaker]
        if not dead:
            return False, ""
        dead_re = _alias_re(tuple(a for aliases in dead for a in aliases))
        everyone = _alias_re(tuple(a for aliases in roster.aliases for a in aliases))
        if dead_re is None or everyone is None:
            return False, ""
        hit = False
        for line in text.splitlines():
            if not dead_re.search(line):
                continue
            named = {self._who(m.group(0), roster) for m in everyone.finditer(line)}
            if len(named) >= max(2, flag.broadcast_share * len(roster.aliases)):
                continue  # an @-list of (nearly) everyone: a broadcast, not a reference
            hit = True
            break
        if not hit or (flag.cues and not _search(flag.cues, text)):
            return False, ""
        for level, pattern in flag.levels:
            if _compile(pattern, "").search(text):
                return True, level
        return True, ""

    @staticmethod
    def _who(alias: str, roster: Roster) -> int:
        key = normalize(alias).casefold()
        for i, aliases in enumerate(roster.aliases):
            if any(normalize(a).casefold() == key for a in aliases):
                return i
        return -1


@lru_cache(maxsize=4096)
def _names_alt(others: tuple[tuple[str, ...], ...]) -> str | None:
    alts = sorted({normalize(a).strip() for aliases in others for a in aliases if a and len(a.strip()) >= 2},
                  key=len, reverse=True)
    if not alts:
        return None
    return r"(?<![\w-])@?\[?(?:" + "|".join(re.escape(a) for a in alts) + r")\]?(?![\w-])"
