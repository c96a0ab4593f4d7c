"""Untrusted text (from data files, the store or models) on its way to a terminal: the one cleaning function.

No Textual, no store, no engine: every layer may import it (analysis tables, the CLI's console, the lab).
"""

from __future__ import annotations

import re
import unicodedata

from warroom_tui.wording import SIM_MARK

ANSI_RE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI, 7- and 8-bit
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]")  # any other escape sequence
CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""What never reaches a terminal: C0 but newline and tab, bare CR (a CR LF becomes LF), DEL, C1."""
SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
UNSAFE_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
"""Any character clean_text would change (ESC and C1 start every escape sequence)."""


def clean_text(text: str) -> str:
    """Text from data or models is untrusted: drop escape sequences and control characters (C0 but newline
    and tab, bare CR, DEL, C1); a lone surrogate (not UTF-8) becomes U+FFFD. Idempotent."""
    text = ANSI_RE.sub("", text).replace("\r\n", "\n")
    return SURROGATE_RE.sub("\ufffd", CTRL_RE.sub("", text))


def name_problem(value: str) -> str | None:
    """Why a name from data cannot become part of a file path (series, scenario name), or None."""
    if value.strip() in (".", ".."):
        return "must not be . or .."
    if any(c in value for c in "/\\|"):
        return "must not contain / \\ or |"
    return label_problem(value)


def label_problem(value: str) -> str | None:
    """Why a name from data cannot be shown as one in a table (an agent's, a model's), or None."""
    if UNSAFE_RE.search(value):
        return "must not contain control characters or lone surrogates"
    for c in value:
        if _hidden(c):
            return (f"must not contain U+{ord(c):04X} (no tab, line break, invisible, unassigned or direction-changing"
                    " character)")
    if value != value.strip():
        return "must not start or end with white space"
    if name_key(value).endswith(SIM_MARK):  # a simulated run's series and agents are marked so
        return "must not end with ' (sim)' (the mark of simulated runs, which are never pooled with real ones)"
    return None


def nickname_problem(value: str) -> str | None:
    """As label_problem, for a name an agent is called by (a nickname, a real name shown as one)."""
    if "|" in value:
        return "must not contain | (it separates the parts of a message's id in a coded CSV)"
    return label_problem(value)


HIDDEN = ("Cc", "Cf", "Zl", "Zp", "Co", "Cn")
"""What a name shown in a table must not hold: a tab or newline (a row in two), a format character (a bidi override
reorders what follows; a zero-width one makes two names look the same), a private or unassigned one."""
BLANK_RE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
                      "\U000e0100-\U000e01ef]")
"""Characters drawn as nothing that are not format characters (Unicode's default-ignorable ones, the blank braille
pattern): a name with one looks like a name without it."""


def _hidden(c: str) -> bool:
    """A character a name is refused for beyond control characters: see HIDDEN and BLANK_RE."""
    return unicodedata.category(c) in HIDDEN or BLANK_RE.match(c) is not None


def one_line(text: str) -> str:
    """Text from data for one table cell: cleaned (clean_text), and any character a name is refused for (a line
    break, a tab, an invisible or direction-changing one: a database from before those checks may hold them) shown
    as U+FFFD, so a cell is never two rows, never reorders what follows, never looks like another name."""
    text = clean_text(text)
    if text.isascii() and text.isprintable():
        return text
    return "".join("\ufffd" if c in "\n\t" or _hidden(c) else c for c in text)


DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58"})


def name_key(value: str) -> str:
    """What two names that look the same share: compatibility-normalized and case-folded ('Aléx' composed and
    decomposed, 'ABC' and fullwidth 'ＡＢＣ', a no-break space and a space), every dash a hyphen-minus ('Agent‑A'
    with U+2011 and 'Agent-A') and every run of white space one space ('Agent  A' and 'Agent A')."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().translate(DASHES).split())


PATH_SAFE_RE = re.compile(r"[^A-Za-z0-9._@+~ ()\[\]-]")


def path_part(value: str) -> str:
    """A name from data as one file-name component that stays where it is put: every character outside a
    safe set is escaped as %XX (so two names never collide), and a leading dot too (no `.`, `..` or hidden
    files); never empty."""
    out = PATH_SAFE_RE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8", "surrogatepass")),
                           value)
    if out.startswith("."):
        out = "%2E" + out[1:]
    return out or "%00"


MAX_DEPTH = 64
"""Nesting deeper than this is no scenario, settings file or transcript (and would exhaust the stack of
whatever reads it next)."""


def check_tree(data: object, path: str, error: type[Exception]) -> None:
    """Every string (and key) encodable as UTF-8, nothing nested deeper than MAX_DEPTH; else `error` with one
    line naming the file and the field. Iterative: a deep document cannot overflow the stack here."""
    stack: list[tuple[object, str, int]] = [(data, "", 0)]
    while stack:
        node, where, depth = stack.pop()
        field = " ".join(clean_text(where).split()) or "(top level)"
        if depth > MAX_DEPTH:
            raise error(f"{path}: {field}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, str):
            if SURROGATE_RE.search(node):
                raise error(f"{path}: {field}: a lone surrogate (not valid Unicode text)")
        elif isinstance(node, dict):
            for k, v in node.items():
                key = str(k)
                if SURROGATE_RE.search(key):
                    raise error(f"{path}: {field}: a key with a lone surrogate")
                stack.append((v, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node))
