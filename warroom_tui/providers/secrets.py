"""Keeping configured API keys out of everything a provider sends back (error texts and model replies).

A key is any environment value under a name like litellm's provider key variables (`*_API_KEY`, `*_TOKEN`,
`*_SECRET`, `*_PASSWORD`, and the ones providers/keys.py names). Scrubbed: any run of 8+ characters that is
part of a key, in any letter case, and any run of 8+ characters of the key's base64 (at each of the three
alignments, so base64 of a text that holds the key is caught too).
"""

from __future__ import annotations

import base64
import os
import re

from warroom_tui.providers.keys import KEY_VARS

MASK = "[redacted]"
MIN_RUN = 8
"""The shortest part of a key that is scrubbed."""
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
KEY_SHAPE = re.compile(r"\b(sk|gsk|xai|key)-[A-Za-z0-9_\-]{12,}")
"""Key-shaped words that are scrubbed even when no such key is configured here."""


def configured_keys(environ=None) -> list[str]:
    """The values of the environment's key variables that look like secrets (no spaces, not a path)."""
    env = os.environ if environ is None else environ
    names = {n for n in env if SECRET_NAME.search(n)} | {v for v in KEY_VARS.values() if v in env}
    out = []
    for name in sorted(names):
        value = env.get(name, "").strip()
        if len(value) >= MIN_RUN and not any(c.isspace() for c in value) and value[0] not in "/~." \
                and value.lower() not in ("true", "false"):
            out.append(value)
    return out


def _b64_forms(key: str) -> list[str]:
    """The key's base64 as it appears inside the base64 of a longer text, at each alignment."""
    raw = key.encode("utf-8", "surrogatepass")
    forms = []
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw).decode("ascii").rstrip("=")
        skip = (shift * 4 + 2) // 3  # characters that also encode the padding bytes
        end = len(enc) - (1 if (shift + len(raw)) % 3 else 0)  # the last one may mix in what follows
        forms.append(enc[skip:end])
    forms += [f.replace("+", "-").replace("/", "_") for f in forms]  # urlsafe
    return [f for f in forms if len(f) >= MIN_RUN]


class Redactor:
    """Scrubs the configured keys (and key-shaped words) from text; `stream()` does it for a streamed reply."""

    def __init__(self, keys: list[str] | None = None) -> None:
        keys = configured_keys() if keys is None else keys
        self.folded = sorted({k.lower() for k in keys}, key=len, reverse=True)  # letter case does not count
        self.exact = sorted({f for k in keys for f in _b64_forms(k)}, key=len, reverse=True)
        self.grams_folded = {f[i:i + MIN_RUN] for f in self.folded for i in range(len(f) - MIN_RUN + 1)}
        self.grams_exact = {f[i:i + MIN_RUN] for f in self.exact for i in range(len(f) - MIN_RUN + 1)}
        self.longest = max((len(f) for f in self.folded + self.exact), default=0)

    def __bool__(self) -> bool:
        return bool(self.longest)

    def _match(self, text: str, i: int) -> int:
        """The length of the longest run from i that is part of a key (0 when under MIN_RUN)."""
        window = text[i:i + MIN_RUN]
        best = 0
        if window.lower() in self.grams_folded:
            j = i + MIN_RUN
            while j < len(text) and any(text[i:j + 1].lower() in f for f in self.folded):
                j += 1
            best = j - i
        if window in self.grams_exact:
            j = i + MIN_RUN
            while j < len(text) and any(text[i:j + 1] in f for f in self.exact):
                j += 1
            best = max(best, j - i)
        return best

    def _scan(self, text: str, final: bool) -> tuple[str, int]:
        """(scrubbed text, characters consumed): without `final`, stops where a run could go on past the end."""
        out: list[str] = []
        i = start = 0
        while i < len(text):
            if not final and i + self.longest > len(text):
                break
            n = self._match(text, i)
            if n:
                out.append(text[start:i])
                out.append(MASK)
                i = start = i + n
            else:
                i += 1
        out.append(text[start:i])
        return "".join(out), i

    def __call__(self, text: str) -> str:
        if self:
            text = self._scan(text, final=True)[0]
        return KEY_SHAPE.sub(MASK, text)

    def stream(self) -> "StreamRedactor":
        return StreamRedactor(self)


class StreamRedactor:
    """Feeds a streamed reply through: holds back at most one key's length, so a key split across pieces is
    scrubbed before any of it is passed on."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.pending = ""

    def feed(self, piece: str) -> str:
        if not self.redactor:
            return piece
        self.pending += piece
        out, used = self.redactor._scan(self.pending, final=False)
        self.pending = self.pending[used:]
        return out

    def flush(self) -> str:
        out, self.pending = self.redactor._scan(self.pending, final=True)[0], ""
        return out

