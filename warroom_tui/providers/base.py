"""What the engine asks of a provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncGenerator, Protocol


@dataclass(frozen=True)
class ChatContext:
    """Who makes a chat call and under which conditions, as facts (the simulator reads these, never the
    prompt text). Names are the nicknames shown in the run."""

    me: str
    others: tuple[str, ...]
    """Every other agent of the run."""
    spoke: tuple[str, ...]
    """Others with a message in the chat this call is shown (an error peers see counts)."""
    crashed: tuple[str, ...]
    """Others whose latest message in that chat is an error peers see."""
    naming: str  # neutral | real | custom
    scaffolding: str  # full | no-peers | no-identity | empty | isolated
    lang: str  # the brief's language: en | fr
    round: int
    family: str = ""
    """The calling agent's tags (scenario `family`, `recipe`): a simulated agent plays them (`sim/tagged`)."""
    recipe: str = ""
    partner: str | None = None
    """The other agent whose message it saw last (errors left out), and that agent's tags."""
    partner_family: str = ""
    partner_recipe: str = ""
    role: str = ""
    """The agent's assigned role kind: generator, critic, or "" (no role, as in the study)."""
    debate: "DebateFacts | None" = None


@dataclass(frozen=True)
class DebateFacts:
    """A debate call's facts for the simulator: the task's answer, and what was answered in the last round."""

    task: str
    """Identifies the task (seeds the simulator's choices)."""
    answer: str
    distractors: tuple[str, ...]
    """Plausible wrong answers."""
    own: str | None
    """This agent's answer in the last round (None in the first round, or when it gave none)."""
    peers: tuple[tuple[str, str | None, str], ...]
    """(nickname, answer, role kind) of every other agent in the last round's summary."""
    summarise: bool = False
    """This call writes the summary of the last round's answers (then `peers` holds every agent's)."""


@dataclass(frozen=True)
class JudgeContext:
    """A judge call: the codebook's flag ids and the message text the judge reads."""

    flags: tuple[str, ...]
    text: str


@dataclass
class ModelCall:
    model: str
    messages: list[dict] | None = None
    prompt: str | None = None
    """Set for base models: a transcript-style completion prompt."""
    stop: list[str] = field(default_factory=list)
    temperature: float = 0.8
    max_tokens: int = 512
    timeout: float = 60.0
    seed: int | None = None
    api_base: str | None = None
    context: ChatContext | JudgeContext | None = None
    """What the call is about, for the simulator; real models read only the prompt."""


class ProviderError(Exception):
    """A failed call. kind: permanent (the agent leaves), transient, timeout or empty."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


class Provider(Protocol):
    def stream(self, call: ModelCall) -> AsyncGenerator[str, None]:
        """Yield the reply's text pieces as they arrive; raise ProviderError on failure."""
        ...

    def context_window(self, model: str) -> int | None:
        """Tokens a model can read, where we must budget for it (bundled models); else None."""
        ...

    def model_kind(self, model: str) -> str:
        """`chat` or `base`."""
        ...

    async def aclose(self) -> None: ...
