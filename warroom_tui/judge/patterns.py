"""The built-in coder's patterns, compiled for lower-cased text: what IGNORECASE would match, without it.
Cached: the codebook's check compiles each pattern as the coder does, and the coder takes that one."""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import re
from functools import lru_cache
from re import _compiler, _parser as sre  # type: ignore[attr-defined]


class _Unsure(Exception):
    """A pattern `lowered` leaves to the engine's own IGNORECASE (inline case flags, back-references, a wide range)."""


@lru_cache(maxsize=4096)
def lowered(pattern: str) -> re.Pattern:
    """`pattern` (IGNORECASE, MULTILINE) for lower-cased text, compiled without IGNORECASE: each cased literal as
    its lower case and any other character the engine's IGNORECASE equates with it, character sets likewise.
    On text `str.lower()` made (its every character its own lower case, which IGNORECASE compares) the
    matches are the same; the search is about three times faster (the engine looks for a literal prefix only
    when case counts, and compares characters as they are)."""
    tree = parse(pattern)
    try:
        if tree.state.flags & CASE:
            raise _Unsure
        parsed = sre.SubPattern(tree.state, _lower_seq(tree))
    except _Unsure:
        return re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    return _compiler.compile(parsed, LINES)


@lru_cache(maxsize=4096)
def parse(pattern: str):
    """The pattern's parse tree (the coder reads its literals; `lowered` builds a new tree from it, never changing
    it). A parse does not depend on the flags given, only the compiling does."""
    return sre.parse(pattern)


def plain_text(pattern: str) -> str | None:
    """The characters `pattern` matches when it is nothing but them (no operator, no inline flag), else None: such
    a pattern is looked for as a string, never compiled."""
    if "(" in pattern:  # a group, a comment, an inline flag ((?u) passes the parse, then fails inside a group)
        return None
    try:
        tree = parse(pattern)
    except re.error:
        return None
    if tree.state.flags != UNICODE or not tree.data or any(op is not sre.LITERAL for op, _ in tree.data):
        return None
    return "".join(chr(c) for _, c in tree.data)


REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
CASE = int(re.IGNORECASE)
UNICODE = int(re.UNICODE)  # what a str pattern's parse has without inline flags
LINES = int(re.MULTILINE)  # a plain int: the compiler's tests of a RegexFlag are slow


def _lower_seq(seq) -> list:
    out = []
    for op, av in seq:
        if op is sre.LITERAL or op is sre.NOT_LITERAL:
            out.append(_lower_literal(op, av))
        elif op is sre.IN:
            out.append((op, _lower_set(av)))
        elif op is sre.SUBPATTERN:
            group, add, remove, sub = av
            if (add | remove) & CASE:
                raise _Unsure
            out.append((op, (group, add, remove, _lower_sub(sub))))
        elif op is sre.BRANCH:
            out.append((op, (av[0], [_lower_sub(b) for b in av[1]])))
        elif op in REPEATS:
            out.append((op, (av[0], av[1], _lower_sub(av[2]))))
        elif op is sre.ASSERT or op is sre.ASSERT_NOT:
            out.append((op, (av[0], _lower_sub(av[1]))))
        elif op is sre.ATOMIC_GROUP:
            out.append((op, _lower_sub(av)))
        elif op is sre.GROUPREF or op is sre.GROUPREF_EXISTS:
            raise _Unsure  # compared ignoring case: left to the engine
        else:  # AT, ANY, ...: case plays no part
            out.append((op, av))
    return out


def _lower_sub(sub):
    return sre.SubPattern(sub.state, _lower_seq(sub))


def _cases(c: int) -> list[int]:
    """The characters of lower-cased text that IGNORECASE matches `c` with."""
    lo = _sre.unicode_tolower(c)
    return [lo, *_compiler._EXTRA_CASES.get(lo, ())]


def _lower_literal(op, c: int):
    same = _cases(c)
    if len(same) == 1:
        return op, same[0]
    return sre.IN, ([(sre.NEGATE, None)] if op is sre.NOT_LITERAL else []) + [(sre.LITERAL, k) for k in same]


def _lower_set(items) -> list:
    out = []
    for op, av in items:
        if op is sre.LITERAL:
            out += [(sre.LITERAL, k) for k in _cases(av)]
        elif op is sre.RANGE:
            if av[1] - av[0] > 4096:
                raise _Unsure
            out += [(sre.LITERAL, k) for i in range(av[0], av[1] + 1) for k in _cases(i)]
        else:  # NEGATE first, categories (tested on the character as it is: its own lower case)
            out.append((op, av))
    return out
