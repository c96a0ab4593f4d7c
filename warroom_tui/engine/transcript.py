"""Messages of a run's shared chat."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from warroom_tui.untrusted import clean_text as clean_text  # noqa: F401 (the engine's callers import it here)

THINK_RE = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)


@dataclass
class Message:
    seq: int
    sender: str
    """`user`, `system` (round markers) or the agent's key."""
    text: str
    round: int | None = None
    agent: int | None = None
    nickname: str = ""
    name: str = ""
    model: str = ""
    is_error: bool = False
    error_kind: str = ""
    visible: bool = True
    """Whether peers see this message (an injected crash may hide its error)."""
    started_at: float = 0.0
    finished_at: float = 0.0
    seen_upto: int = -1
    """The last transcript seq this agent had seen when its call started."""
    dropped: int = 0
    """Turns left out of the prompt to fit the model's context window."""
    tokens: int = 0
    temperature: float | None = None
    language: str = ""
    """The language the source transcript detected (imported runs), else empty."""
    time: str = ""
    """The wall-clock time the source transcript shows for the message (imported runs), else empty."""
    study: dict = field(default_factory=dict)
    """Imported runs: the transcript's other message fields, read only by the study exporter."""
    copy_share: float | None = None
    """The share of its words repeated verbatim from what its agent had seen (None: not measured)."""
    copied: tuple[tuple[int, int], ...] = ()
    """Where: character spans of the copied words."""
    stream_key: str = ""
    """The key its token deltas were streamed under (`r3-agent2`); never stored."""
    partners: tuple[int, ...] | None = None
    """Agents this message replies to (see judge/partners.py; None: not computed)."""
    partner_how: str = ""
    """How they were found: named | seen ('' for none)."""

    @property
    def is_agent(self) -> bool:
        return self.agent is not None


STUDY_MARKER_RE = re.compile(r"^\s*—\s*Round\s+(\d+)\s*—\s*$")


def marker_round(m: Message) -> int | None:
    """The round a round marker opens, in our numbering (round 0 answers the brief). Imported study
    markers carry no round and say `Round k+1` for round k, as the study's tool wrote them."""
    if m.round is not None:
        return m.round
    match = STUDY_MARKER_RE.match(m.text)
    return int(match.group(1)) - 1 if match else None


def marker_label(m: Message) -> str:
    """What a person reads for a system message: `Round N` for a round marker, else its text."""
    r = marker_round(m)
    return f"Round {r}" if r is not None else m.text.strip("— ")


def study_marker(r: int) -> str:
    """The study tool's marker before round r: it counted the brief's answers as round 1."""
    return f"— Round {r + 1} —"


def strip_think(text: str) -> str:
    """Remove reasoning blocks (`<think>...</think>`, or an unclosed one) from model output."""
    return THINK_RE.sub("", text).strip()


def strip_speaker(text: str, names: list[str]) -> str:
    """Drop a leading `[Name]:` that a model copied from the transcript format."""
    for name in names:
        for tag in (f"[{name}]:", f"{name}:"):
            if text.startswith(tag):
                return text[len(tag):].lstrip()
    return text


def word_count(text: str) -> int:
    return len(text.split())
