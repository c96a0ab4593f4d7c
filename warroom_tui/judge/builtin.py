"""The built-in coder: deterministic rules from the codebook, no network, no model.

It knows who is in the run (names, nicknames, model ids, who crashed), so LEAD, AGREE, COMP and
has_xref are judged against the real roster. A message is read once: lower-cased, with every
mention of another agent replaced by one marker character, which `{name}` in a pattern stands for.
Each pattern runs only when the longest literal it needs is in the text, so a long lexicon costs
little on a message that has none of its words.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Callable, Iterator, NamedTuple
from re import _parser as sre  # type: ignore[attr-defined]

from warroom_tui.judge.codebook import MENTION, Codebook, Flag
from warroom_tui.judge.copying import blank
from warroom_tui.judge.patterns import lowered, parse, plain_text
from warroom_tui.judge.types import Coding, Roster

NAME = MENTION  # what {name} stands for: one control character (not a word character; read as a space in a message)
PLAIN = (("\u2010", "-"), ("\u2011", "-"), ("\u2012", "-"), ("\u2013", "-"), ("\u2212", "-"),
         ("\u00a0", " "), ("\u202f", " "), (NAME, " "))
AGENT_SPACED = re.compile(r"\bAgent[ _]([A-Z])\b")
WORD = re.compile(r"\w+")
ASCII_SEPARATORS = bytes(b if chr(b).isascii() and (chr(b).isalnum() or b == 95) else 32 for b in range(256))


def normalize(text: str) -> str:
    if not text.isascii():
        for a, b in PLAIN:
            if a in text:
                text = text.replace(a, b)
    return AGENT_SPACED.sub(r"Agent-\1", text) if "Agent " in text or "Agent_" in text else text


def _literals(pattern: str) -> list[str]:
    """The runs of plain characters every match of `pattern` must contain, in order ('' first if it
    does not start with one)."""
    runs = [""]
    for op, arg in parse(pattern):
        if op is sre.LITERAL:
            runs[-1] += chr(arg)
        elif runs[-1]:
            runs.append("")
    return runs


def _needs(seq) -> tuple[tuple[str, ...], ...]:
    """Sets of strings: every match of a parsed pattern contains one string of each set."""
    options: list[tuple[str, ...]] = []
    run = ""
    for op, arg in seq:
        if op is sre.LITERAL:
            run += chr(arg)
            continue
        if run:
            options.append((run,))
            run = ""
        if op is sre.SUBPATTERN:
            options.extend(_needs(arg[-1]))
        elif op is sre.BRANCH:
            alts = [_needs(branch) for branch in arg[1]]
            if all(alts):  # one string of each branch's best set
                options.append(tuple(a for alt in alts for a in max(alt, key=lambda o: min(map(len, o)))))
    if run:
        options.append((run,))
    return tuple(o for o in options if o)


class Lexicon(NamedTuple):
    """Patterns, each behind cheap tests: the most telling literal it needs (lower-cased, '' when it
    needs none), then the other literals it needs, then (or None) that literal with the word boundaries the
    pattern puts around it, then the regex."""

    entries: tuple[tuple[str, tuple[tuple[str, ...], ...], re.Pattern | None, re.Pattern], ...]

    def search(self, text: str) -> bool:
        return self.hits(text, 1) > 0

    def hits(self, text: str, enough: int) -> int:
        """How many patterns match (counting stops at `enough`)."""
        n = 0
        missing = None  # the entries are sorted by gate: a gate not in the text is looked for once
        for gate, rest, word, rx in self.entries:
            if gate is missing:
                continue
            if gate not in text:
                missing = gate
            elif (not rest or _has(text, rest)) and (word is None or word.search(text) is not None) \
                    and rx.search(text) is not None:
                n += 1
                if n >= enough:
                    break
        return n


def _has(text: str, needs: tuple[tuple[str, ...], ...]) -> bool:
    for one in needs:
        for n in one:
            if n in text:
                break
        else:
            return False
    return True


@lru_cache(maxsize=256)
def lexicon(patterns: tuple[str, ...]) -> Lexicon:
    out = []
    for p in patterns:
        p = p.replace("{name}", NAME)
        parsed = parse(p)
        needs = [tuple({n.lower(): 0 for n in one}) for one in _needs(parsed)]
        singles = [one[0] for one in needs if len(one) == 1]
        gate = max(singles, key=len) if singles else ""
        rest = tuple(sorted((one for one in needs if one != (gate,)), key=lambda one: -min(map(len, one))))
        word = _bounded(list(parsed), gate) if gate else None
        out.append((gate, rest, lowered(word) if word else None, lowered(p)))
    # grouped by gate (which patterns match does not depend on the order they are tried in), each gate one object
    gates = {e[0]: e[0] for e in out}
    return Lexicon(tuple((gates[gate], rest, word, rx) for gate, rest, word, rx in sorted(out, key=lambda e: e[0])))


def _bounded(seq: list, gate: str) -> str | None:
    """`gate` with the word boundaries around it in the pattern's top level, when it has any there and something
    that is not a boundary comes before it (a pattern starting with a literal is searched for it first): a test much faster than the pattern's (which has no literal to search for first) that every
    match passes ('(?:^|[*][*])\\W*fin\\b' needs 'fin\\b', and 'fin' alone is in 'final' and 'define')."""
    run, start = "", 0
    for i, (op, arg) in enumerate([*seq, (None, None)]):
        if op is sre.LITERAL:
            if not run:
                start = i
            run += chr(arg)
            continue
        if run and run.lower() == gate and any(o is not sre.AT for o, _ in seq[:start]):
            before, after = seq[start - 1] == (sre.AT, sre.AT_BOUNDARY), (op, arg) == (sre.AT, sre.AT_BOUNDARY)
            if before or after:
                return (r"\b" if before else "") + re.escape(run) + (r"\b" if after else "")
        run = ""
    return None


class Terms:
    """Named technologies, case-sensitive: looked up by their first word, checked by regex (or, a term of plain
    text, as a string)."""

    __slots__ = ("by_word", "words", "other", "literals", "rxs", "ascii")

    def __init__(self, by_word: dict, words: frozenset, other: tuple[int, ...], literals: tuple[str, ...],
                 rxs: tuple[re.Pattern | str, ...], ascii: bool = False) -> None:
        self.by_word = by_word  # first word (bytes when `ascii`) -> terms
        self.words = words
        self.other = other
        self.literals = literals
        self.rxs = rxs
        self.ascii = ascii
        """Every first word is ASCII: the text's words are found as bytes, any other byte a separator (much
        faster than a regex; a superset of the candidates, each still checked by its pattern)."""

    def count(self, text: str, enough: int) -> int:
        found = set()
        if self.ascii:
            present = self.words.intersection(text.encode("latin-1", "replace").translate(ASCII_SEPARATORS).split())
        else:
            present = self.words.intersection(WORD.findall(text))
        candidates = {i for w in present for i in self.by_word[w]}
        candidates.update(i for i in self.other if self.literals[i] in text)
        for i in sorted(candidates):
            if _term_in(self.rxs[i], text):
                found.add(i)
                if len(found) >= enough:
                    break
        return len(found)


def _term_in(rx: re.Pattern | str, text: str) -> bool:
    """A match not preceded by a word character or a dot (checked by hand: a look-behind first would cost
    the regex its fast search for the term's leading literal), nor followed by a word character."""
    if isinstance(rx, str):  # plain text: what `(?:rx)(?!\w)` finds, found as a string
        at, n = text.find(rx), len(rx)
        while at >= 0:
            end = at + n
            if (end == len(text) or not (text[end].isalnum() or text[end] == "_")) \
                    and (not at or not (text[at - 1].isalnum() or text[at - 1] in "_.")):
                return True
            at = text.find(rx, at + 1)
        return False
    m = rx.search(text)
    while m is not None:
        start = m.start()
        if not start or not (text[start - 1].isalnum() or text[start - 1] in "_."):
            return True
        if start >= len(text):  # an empty match at the end: searching on would find it again
            return False
        m = rx.search(text, start + 1)
    return False


@lru_cache(maxsize=64)
def terms_index(terms: tuple[str, ...]) -> Terms:
    by_word: dict[str, list[int]] = {}
    other, literals = [], []
    rxs: list[re.Pattern | str] = []
    for i, t in enumerate(terms):
        rxs.append(plain_text(t) or re.compile(r"(?:" + t + r")(?!\w)"))
        runs = _literals(t)
        literals.append(max(runs, key=len))
        first = WORD.match(runs[0])
        if first is not None and (first.end() < len(runs[0]) or len(runs) == 1):
            # the term starts with a whole word: the text's set of words decides
            by_word.setdefault(first.group(0), []).append(i)
        else:
            other.append(i)
    ascii = all(w.isascii() for w in by_word)
    index = {(w.encode() if ascii else w): tuple(v) for w, v in by_word.items()}
    return Terms(index, frozenset(index), tuple(other), tuple(literals), tuple(rxs), ascii)


def count_terms(terms: list[str], text: str) -> int:
    return terms_index(tuple(terms)).count(text, len(terms) + 1)


class Names(NamedTuple):
    """Every alias of a run's agents (lower-cased), whose each alias is, and where to look for them."""

    owners: dict[str, frozenset[int]]
    heads: tuple[str, ...]
    """The aliases' first characters (up to HEAD), none the start of another: every mention starts with one."""
    by_head: dict[str, tuple[tuple[int, dict[str, str]], ...]]
    """Head -> the aliases starting with it, by length (longest first): length -> {alias: alias}."""

    @property
    def rx(self) -> re.Pattern:
        """The pattern `finditer` answers as (a mention: an alias, then an optional ']', then no word character or
        '-'), searched over the whole text: the reference its tests compare it with."""
        return _names_pattern(tuple(self.owners))

    def finditer(self, low: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, alias) of what `rx.finditer(low)` finds, each from where the last one ended: the aliases
        tried only where a head is (a few places a message), as strings (no pattern to compile for each run)."""
        end, n = 0, len(low)
        for at, head in self.starts(low):
            if at < end:
                continue
            for length, aliases in self.by_head[head]:  # the longest alias that fits, as the pattern tries them
                alias = aliases.get(low[at:at + length])
                if alias is None:
                    continue
                stop = at + length
                if stop < n and low[stop] == "]" and not _wordy(low, stop + 1, n):
                    stop += 1  # the ']' of '[name]' is part of the mention
                elif _wordy(low, stop, n):
                    continue
                end = stop
                yield at, stop, alias
                break

    def starts(self, low: str) -> list[tuple[int, str]]:
        """Where a head is, in order, with the head."""
        starts = []
        for head in self.heads:
            at = low.find(head)
            while at >= 0:
                starts.append((at, head))
                at = low.find(head, at + 1)
        if len(self.heads) > 1:
            starts.sort()
        return starts


def _wordy(low: str, at: int, n: int) -> bool:
    """A word character (as `\\w` matches) or '-' at `at`: an alias goes on there."""
    return at < n and (low[at].isalnum() or low[at] in "_-")


@lru_cache(maxsize=64)
def _names_pattern(aliases: tuple[str, ...]) -> re.Pattern:
    return re.compile("(" + trie_pattern(list(aliases)) + r")\]?(?![\w-])")


HEAD = 3


def trie_pattern(words: list[str]) -> str:
    """An alternation of `words` as a prefix tree: at each position the regex engine follows one branch
    per letter instead of trying every word; the longest word that fits is tried first, as a plain
    longest-first alternation would."""
    tree: dict = {}
    for w in words:
        node = tree
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict) -> str:
        alts = [re.escape(ch) + walk(child) for ch, child in node.items() if ch]
        end = "" in node
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return ("(?:" + body + ")?") if end else body

    return walk(tree)


@lru_cache(maxsize=1024)
def names_index(aliases: tuple[tuple[str, ...], ...]) -> Names | None:
    owners: dict[str, set[int]] = {}
    for i, group in enumerate(aliases):
        for a in group:
            a = normalize(a).strip().lower()
            if len(a) >= 2:
                owners.setdefault(a, set()).add(i)
    if not owners:
        return None
    heads = sorted({a[:HEAD] for a in owners})
    heads = [h for h in heads if not any(h != o and h.startswith(o) for o in heads)]
    by_head = {}
    for head in heads:  # the word boundary before an alias is checked by hand
        lengths: dict[int, dict[str, str]] = {}
        for a in owners:
            if a.startswith(head):
                lengths.setdefault(len(a), {})[a] = a
        by_head[head] = tuple(sorted(lengths.items(), reverse=True))
    return Names({a: frozenset(v) for a, v in owners.items()}, tuple(heads), by_head)


def echo_pattern(words: int) -> re.Pattern:
    """Matches at a span's start when the span holds at least `words` words (as WORD finds them), without
    making the list of them: possessive, so a span of fewer fails without backtracking."""
    return re.compile(r"\W*+\w++(?:\W++\w++){%d}" % (words - 1))


class Reading(NamedTuple):
    """A message as the rules read it."""

    text: str  # normalized, within the reading window (case kept: technology names)
    low: str  # lower-cased
    marked: str  # lower-cased, mentions of other agents (with any @ or [ ]) replaced by NAME
    mentions: list[tuple[int, frozenset[int]]]  # (line, agents) for every alias mention


def read(text: str, roster: Roster, window: int | None) -> Reading:
    text = normalize(text[:window])
    low = text.lower()
    names = _names(roster.aliases)
    if names is None:
        return Reading(text, low, low, [])
    speaker, owners = roster.speaker, names.owners
    mentions: list[tuple[int, frozenset[int]]] = []
    parts: list[str] = []
    last = line = counted = 0
    lines = "\n" in low
    for start, end, alias in names.finditer(low):
        if start and (low[start - 1].isalnum() or low[start - 1] in "_-"):
            continue
        who = owners[alias]
        if lines:
            line += low.count("\n", counted, start)
            counted = start
        mentions.append((line, who))
        if speaker not in who or len(who) > 1:  # another agent
            if start and low[start - 1] == "[":
                start -= 1
            if start and low[start - 1] == "@":
                start -= 1
            if start < last:
                continue
            parts += (low[last:start], NAME)
            last = end
    if not parts:
        return Reading(text, low, low, mentions)
    parts.append(low[last:])
    return Reading(text, low, "".join(parts), mentions)


_NAMES: dict[int, tuple[tuple[tuple[str, ...], ...], Names | None]] = {}


def _names(aliases: tuple[tuple[str, ...], ...]) -> Names | None:
    """names_index(aliases), found by the tuple's identity first: a batch's rosters share each run's tuple, and
    hashing its strings again for each message cost more than the lookup."""
    known = _NAMES.get(id(aliases))
    if known is not None and known[0] is aliases:
        return known[1]
    if len(_NAMES) >= 1024:
        _NAMES.clear()
    names = names_index(aliases)
    _NAMES[id(aliases)] = (aliases, names)  # the tuple kept: its id is not reused while it is here
    return names


class BuiltinCoder:
    name = "builtin"

    def __init__(self, codebook: Codebook) -> None:
        self.codebook = codebook
        counted = {f.split(":", 1)[1] for cal in codebook.calibration.values() for f in cal.features
                   if f.startswith("hits:")} & {f.id for f in codebook.flags if f.kind == "keywords"}
        self.plan = [(flag, lexicon(tuple(flag.substance if flag.kind == "short" else
                                          flag.patterns if flag.kind == "keywords" else flag.cues)),
                      terms_index(tuple(flag.terms)), tuple(lexicon((p,)) for _, p in flag.levels),
                      None if flag.id in counted else RULES.get(flag.kind, _never))  # None: the patterns counted
                     for flag in codebook.flags]
        self.lexicons = {flag.id: (lex, flag.skip_copied) for flag, lex, *_ in self.plan}
        self.cal_plan = [(flag_id, cal, [name.partition(":")[::2] for name in cal.features])
                         for flag_id, cal in codebook.calibration.items()]
        self.echo_chars = 2 * codebook.echo_words - 1  # the shortest span that can hold that many words
        self.echo_rx = echo_pattern(codebook.echo_words)

    def readings(self, text: str, roster: Roster) -> tuple[Reading, Reading]:
        """The message as read (within the reading window), and as read without its echoes: the roster's
        `copied` spans (words repeated verbatim from what the speaker had seen) of at least the
        codebook's `echo_words` words, which flags marked `skip_copied` do not read."""
        window = self.codebook.reading_window
        plain = read(text, roster, window)
        if not roster.copied:
            return plain, plain
        shortest, match = self.echo_chars, self.echo_rx.match
        end = len(text) if window is None else window
        echoes = tuple([s for s in roster.copied if s[1] - s[0] >= shortest and s[0] < end
                        and match(text, s[0], s[1]) is not None])
        return plain, read(blank(text, echoes), roster, window) if echoes else plain

    def code(self, text: str, roster: Roster) -> Coding:
        plain, own = self.readings(text, roster)
        return self.code_read(text, plain, own, roster)

    def code_read(self, text: str, plain: Reading, own: Reading, roster: Roster) -> Coding:
        flags: dict[str, bool] = {}
        levels: dict[str, str] = {}
        hits: dict[str, int] = {}
        for flag, lex, terms, level_lexicons, rule in self.plan:
            r = own if flag.skip_copied else plain
            if rule is None:  # the calibration counts this flag's patterns: count once
                n = hits[flag.id] = lex.hits(r.marked, 3)
                flags[flag.id] = n > 0
                continue
            value, level = rule(flag, lex, terms, level_lexicons, r, roster, plain, text)
            flags[flag.id] = value
            if level:
                levels[flag.id] = level
        out = Coding(flags, levels)
        if self.cal_plan:
            rules = dict(flags)
            for flag_id, cal, names in self.cal_plan:
                x = self._features(names, text, plain, own, roster, rules, hits)
                z = cal.bias + sum([w * (v - m) / s for w, v, m, s in zip(cal.weights, x, cal.mean, cal.scale)])
                flags[flag_id] = z > 0
                if z <= 0:
                    levels.pop(flag_id, None)
        return out

    def features(self, names: list[str], text: str, plain: Reading, own: Reading, roster: Roster,
                 rules: dict[str, bool], hits: dict[str, int] | None = None) -> list[float]:
        """The readings a calibration model weighs (see codebook.Calibration)."""
        return self._features([name.partition(":")[::2] for name in names], text, plain, own, roster, rules, hits)

    def _features(self, names: list[tuple[str, str]], text: str, plain: Reading, own: Reading, roster: Roster,
                  rules: dict[str, bool], hits: dict[str, int] | None) -> list[float]:
        out = []
        for kind, flag_id in names:
            if kind == "rule":
                out.append(float(rules[flag_id]))
            elif kind == "hits":
                if hits and flag_id in hits:
                    out.append(float(hits[flag_id]))
                else:
                    lex, skip = self.lexicons[flag_id]
                    out.append(float(lex.hits((own if skip else plain).marked, 3)))
            elif kind == "log_chars":
                out.append(math.log1p(len(text)))
            elif text:  # copied_chars
                out.append(sum([b - a for a, b in roster.copied]) / len(text))
            else:
                out.append(0.0)
        return out


# -- rules: one per kind of flag ---------------------------------------------------------------------------------
Rule = Callable[[Flag, Lexicon, "Terms", tuple[Lexicon, ...], Reading, Roster, Reading, str], tuple[bool, str]]


def _short(flag: Flag, lex: Lexicon, terms: Terms, levels: tuple[Lexicon, ...], r: Reading, roster: Roster,
           plain: Reading, text: str) -> tuple[bool, str]:
    return len(r.text.split(None, flag.max_words)) < flag.max_words and not lex.search(r.low), ""


def _keywords(flag: Flag, lex: Lexicon, terms: Terms, levels: tuple[Lexicon, ...], r: Reading, roster: Roster,
              plain: Reading, text: str) -> tuple[bool, str]:
    return lex.search(r.marked), ""


def _terms(flag: Flag, lex: Lexicon, terms: Terms, levels: tuple[Lexicon, ...], r: Reading, roster: Roster,
           plain: Reading, text: str) -> tuple[bool, str]:
    found = terms.count(r.text, flag.min_count) if flag.terms else 0
    if found and found < flag.min_count and flag.whole_count and len(text) > len(r.text):
        return terms.count(normalize(text), flag.whole_count) >= flag.whole_count, ""
    return found >= flag.min_count, ""


def _assign(flag: Flag, lex: Lexicon, terms: Terms, levels: tuple[Lexicon, ...], r: Reading, roster: Roster,
            plain: Reading, text: str) -> tuple[bool, str]:
    """An owner column names agents as it goes: the roster must have others."""
    return len(roster.aliases) > 1 and lex.search(r.marked), ""


def _xref(flag: Flag, lex: Lexicon, terms: Terms, levels: tuple[Lexicon, ...], r: Reading, roster: Roster,
          plain: Reading, text: str) -> tuple[bool, str]:
    return NAME in r.marked, ""


def _agrees(flag: Flag, lex: Lexicon, terms: Terms, levels: tuple[Lexicon, ...], r: Reading, roster: Roster,
            plain: Reading, text: str) -> tuple[bool, str]:
    return NAME in r.marked and _agree(flag, lex, r, roster), ""


def _crashed(flag: Flag, lex: Lexicon, terms: Terms, levels: tuple[Lexicon, ...], r: Reading, roster: Roster,
             plain: Reading, text: str) -> tuple[bool, str]:
    """The speaker's own words name it; the failure may be talked of in words it quotes."""
    if NAME not in r.marked or not names_crashed(flag, r, roster) or (flag.cues and not lex.search(plain.low)):
        return False, ""
    for (level, _), lx in zip(flag.levels, levels):
        if lx.search(r.low):
            return True, level
    return True, ""


def _never(flag: Flag, lex: Lexicon, terms: Terms, levels: tuple[Lexicon, ...], r: Reading, roster: Roster,
           plain: Reading, text: str) -> tuple[bool, str]:
    return False, ""


RULES: dict[str, Rule] = {"short": _short, "keywords": _keywords, "terms": _terms, "assign": _assign,
                          "xref": _xref, "agree": _agrees, "crashed": _crashed}


def _agree(flag: Flag, lex: Lexicon, r: Reading, roster: Roster) -> bool:
    """An agreement cue within `window` characters of a mention of another agent outside a broadcast
    @-list (see _broadcast_lines: such a line addresses the group, not an agent)."""
    text = r.marked
    broadcast = _broadcast_lines(flag, r, roster)
    spots = []
    at = text.find(NAME)
    while at >= 0:
        if not broadcast or text.count("\n", 0, at) not in broadcast:
            spots.append(at)
        at = text.find(NAME, at + 1)
    if not spots:
        return False
    missing = None
    for gate, rest, word, rx in lex.entries:
        if gate is missing:
            continue
        if gate not in text:
            missing = gate
        elif (not rest or _has(text, rest)) and (word is None or word.search(text) is not None):
            for m in rx.finditer(text):
                c = m.start()
                if any(abs(c - s) <= flag.window for s in spots):
                    return True
    return False


def _agents_by_line(r: Reading, leave_out: frozenset[int] = frozenset()) -> dict[int, set[int]]:
    """Line -> the agents it names (one per alias; those in `leave_out` not counted)."""
    by_line: dict[int, set[int]] = {}
    for line, who in r.mentions:
        if who - leave_out:
            by_line.setdefault(line, set()).add(min(who - leave_out))
    return by_line


def _broadcast_lines(flag: Flag, r: Reading, roster: Roster) -> set[int]:
    """Lines naming at least three other agents and `broadcast_share` of them (the speaker not counted)."""
    wide = max(3, flag.broadcast_share * (len(roster.aliases) - 1))
    speaker = frozenset() if roster.speaker is None else frozenset({roster.speaker})
    return {line for line, who in _agents_by_line(r, speaker).items() if len(who) >= wide}


def names_crashed(flag: Flag, r: Reading, roster: Roster) -> bool:
    """Whether a line names a crashed agent other than the speaker outside a broadcast @-list, by a name no agent
    still running has (a model id the crashed agent shares with live ones names none of them in particular)."""
    dead = roster.crashed - {roster.speaker}
    if not dead:
        return False
    by_line = _agents_by_line(r)
    wide = max(2, flag.broadcast_share * len(roster.aliases))
    for line, who in r.mentions:
        if who & dead and who <= roster.crashed and len(by_line[line]) < wide:
            return True
    return False
